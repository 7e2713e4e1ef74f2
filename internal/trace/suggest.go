package trace

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

// Suggestion is the least RBAC that allows what a credential did: a Role
// per namespace it worked in, and a ClusterRole for cluster-scoped
// resources, requests across all namespaces and non-resource URLs, each
// bound to subject.
type Suggestion struct {
	Subject rbacv1.Subject
	// Namespaced maps a namespace to the rules of its Role.
	Namespaced map[string][]rbacv1.PolicyRule
	Cluster    []rbacv1.PolicyRule
	// Skipped counts requests left out: denied ones, which it did not
	// get to do, and those made as someone else (impersonated), which
	// were authorized as them.
	Denied, Impersonated int
}

// permission is one thing a request needed: a verb on a resource of an
// API group, or on a non-resource path.
type permission struct {
	namespace, group, resource, verb, path string
}

// Suggest is the least Role that would have allowed exactly the requests
// of events, granted to subject: the verbs on the resources (and
// subresources) each namespace saw, without resource names (list, watch
// and create cannot be narrowed by name).
func Suggest(subject rbacv1.Subject, events []*Event) Suggestion {
	s := Suggestion{Subject: subject, Namespaced: map[string][]rbacv1.PolicyRule{}}
	seen := map[permission]bool{}
	for _, e := range events {
		switch {
		case e.ImpersonatedUser != nil:
			s.Impersonated++
			continue
		case !e.Allowed():
			s.Denied++
			continue
		}
		seen[permissionOf(e)] = true
	}
	perms := make([]permission, 0, len(seen))
	for p := range seen {
		perms = append(perms, p)
	}
	for ns, ps := range groupBy(perms, func(p permission) string { return p.namespace }) {
		rules := rulesOf(ps)
		if ns == "" {
			s.Cluster = rules
		} else {
			s.Namespaced[ns] = rules
		}
	}
	return s
}

func permissionOf(e *Event) permission {
	r := e.ObjectRef
	if r == nil || r.Resource == "" {
		path := e.RequestURI
		if u, err := url.ParseRequestURI(path); err == nil {
			path = u.Path
		}
		return permission{verb: e.Verb, path: path}
	}
	res := r.Resource
	if r.Subresource != "" {
		res += "/" + r.Subresource
	}
	return permission{namespace: r.Namespace, group: r.APIGroup, resource: res, verb: e.Verb}
}

// rulesOf collapses permissions into rules: one per API group and set of
// verbs, naming every resource that set was used on; non-resource paths
// likewise per set of verbs.
func rulesOf(perms []permission) []rbacv1.PolicyRule {
	type target struct{ group, resource, path string }
	verbs := map[target][]string{}
	for _, p := range perms {
		t := target{p.group, p.resource, p.path}
		verbs[t] = append(verbs[t], p.verb)
	}
	type key struct {
		group, verbs string
		nonResource  bool
	}
	merged := map[key][]string{}
	for t, vs := range verbs {
		slices.Sort(vs)
		k := key{group: t.group, verbs: strings.Join(slices.Compact(vs), ","), nonResource: t.path != ""}
		merged[k] = append(merged[k], t.resource+t.path)
	}
	var rules []rbacv1.PolicyRule
	for k, names := range merged {
		slices.Sort(names)
		r := rbacv1.PolicyRule{Verbs: strings.Split(k.verbs, ",")}
		if k.nonResource {
			r.NonResourceURLs = names
		} else {
			r.APIGroups, r.Resources = []string{k.group}, names
		}
		rules = append(rules, r)
	}
	slices.SortFunc(rules, func(a, b rbacv1.PolicyRule) int {
		return strings.Compare(fmt.Sprint(a.NonResourceURLs, a.APIGroups, a.Resources, a.Verbs), fmt.Sprint(b.NonResourceURLs, b.APIGroups, b.Resources, b.Verbs))
	})
	return rules
}

func groupBy[T any](items []T, key func(T) string) map[string][]T {
	out := map[string][]T{}
	for _, it := range items {
		out[key(it)] = append(out[key(it)], it)
	}
	return out
}

// Empty reports whether nothing was allowed.
func (s Suggestion) Empty() bool { return len(s.Cluster) == 0 && len(s.Namespaced) == 0 }

// Objects are the suggestion as RBAC objects named name: Roles and
// RoleBindings, a ClusterRole and ClusterRoleBinding. They carry no
// kubeaccess label: they are the admin's to apply, and kubeaccess neither
// adopts nor deletes them.
func (s Suggestion) Objects(name string) []runtime.Object {
	var objs []runtime.Object
	if len(s.Cluster) > 0 {
		cr, crb := rbac.BuildClusterRole(name, s.Cluster), rbac.BuildClusterRoleBinding(name, name, s.Subject)
		cr.Labels, crb.Labels = nil, nil
		objs = append(objs, cr, crb)
	}
	namespaces := make([]string, 0, len(s.Namespaced))
	for ns := range s.Namespaced {
		namespaces = append(namespaces, ns)
	}
	slices.Sort(namespaces)
	for _, ns := range namespaces {
		role, rb := rbac.BuildRole(name, ns, s.Namespaced[ns]), rbac.BuildRoleBinding(name, ns, "Role", name, s.Subject)
		role.Labels, rb.Labels = nil, nil
		objs = append(objs, role, rb)
	}
	return objs
}

// SubjectOf is who a suggestion for r's credential is bound to: its
// per-credential group, which only that credential (and its renewals)
// carries; else its service account or user.
func SubjectOf(r records.Record) rbacv1.Subject {
	switch {
	case r.CredentialGroup != "":
		return rbac.Subject(rbacv1.GroupKind, r.CredentialGroup)
	case r.ServiceAccount != "":
		ns, name, _ := strings.Cut(r.ServiceAccount, "/")
		return rbac.ServiceAccountSubject(ns, name)
	}
	return rbac.Subject(rbacv1.UserKind, r.User)
}
