package impact

import (
	"slices"
	"strings"

	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// cell is one permission: a verb on a resource of the universe (by
// index) in a namespace; "" for a cluster-scoped resource, AllNamespaces
// for a namespaced one held cluster-wide.
type cell struct {
	verb      string
	resource  int
	namespace string
}

type cells map[cell]bool

// cellsOf is every permission user holds in ix, as rbac.Index.Decide
// (the evaluator proven equal to the API server's RBAC authorizer)
// answers: each verb on each resource cluster-wide, and where that is
// not held, in each namespace where a RoleBinding names the user;
// elsewhere only the cluster-wide rules apply. Decide is asked of the
// bindings naming the user alone, which is the same answer at a fraction
// of the work.
func cellsOf(ix *rbac.Index, u Universe, user rbac.User) cells {
	own := &rbac.Index{Bindings: ix.BindingsNaming(user), Roles: ix.Roles}
	var namespaces []string
	for _, b := range own.Bindings {
		if b.Ref.Namespace != "" && !slices.Contains(namespaces, b.Ref.Namespace) {
			namespaces = append(namespaces, b.Ref.Namespace)
		}
	}
	out := cells{}
	for i, r := range u.Resources {
		for _, v := range r.Verbs {
			req := rbac.Request{Verb: v, Group: r.Group, Resource: r.Resource, Subresource: r.Subresource}
			if own.Decide(user, req).Allowed {
				ns := ""
				if r.Namespaced {
					ns = AllNamespaces
				}
				out[cell{v, i, ns}] = true
				continue
			}
			if !r.Namespaced {
				continue
			}
			for _, ns := range namespaces {
				req.Namespace = ns
				if own.Decide(user, req).Allowed {
					out[cell{v, i, ns}] = true
				}
			}
		}
	}
	return out
}

// difference is what a holds and b does not; a permission in one
// namespace is held by b when b holds it in all.
func difference(a, b cells) []cell {
	var out []cell
	for c := range a {
		if b[c] || c.namespace != "" && c.namespace != AllNamespaces && b[cell{c.verb, c.resource, AllNamespaces}] {
			continue
		}
		out = append(out, c)
	}
	return out
}

// collapse turns permissions into lines: the namespaces of each verb on a
// resource, then the verbs of each resource held in the same namespaces,
// then the resources with the same verbs in the same namespaces.
func collapse(subject, change string, cs []cell, u Universe) []Line {
	type verbOn struct {
		verb     string
		resource int
	}
	namespaces := map[verbOn][]string{}
	for _, c := range cs {
		k := verbOn{c.verb, c.resource}
		if c.namespace != "" {
			namespaces[k] = append(namespaces[k], c.namespace)
		} else if _, ok := namespaces[k]; !ok {
			namespaces[k] = nil
		}
	}
	type where struct {
		namespaces string
		resource   int
	}
	verbs := map[where][]string{}
	for k, nss := range namespaces {
		slices.Sort(nss)
		w := where{strings.Join(nss, ","), k.resource}
		verbs[w] = append(verbs[w], k.verb)
	}
	type line struct{ namespaces, verbs string }
	resources := map[line][]string{}
	for w, vs := range verbs {
		slices.Sort(vs)
		l := line{w.namespaces, strings.Join(vs, ",")}
		resources[l] = append(resources[l], u.Resources[w.resource].Name())
	}
	out := make([]Line, 0, len(resources))
	for l, rs := range resources {
		slices.Sort(rs)
		line := Line{Subject: subject, Change: change, Verbs: strings.Split(l.verbs, ","), Resources: rs}
		if l.namespaces != "" {
			line.Namespaces = strings.Split(l.namespaces, ",")
		}
		out = append(out, line)
	}
	slices.SortFunc(out, func(a, b Line) int {
		return strings.Compare(strings.Join(a.Resources, ",")+" "+strings.Join(a.Namespaces, ","), strings.Join(b.Resources, ",")+" "+strings.Join(b.Namespaces, ","))
	})
	return out
}
