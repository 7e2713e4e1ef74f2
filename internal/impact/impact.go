// Package impact says what an access change gives and takes: each
// subject's permissions, evaluated with the local RBAC evaluator on the
// roles and bindings as they are and as they would be, over every
// namespace, resource and verb the cluster has, collapsed into lines a
// reviewer reads ("User erin gains create secrets in staging"), with the
// escalation-grade permissions of the privilege catalogue it newly gives.
package impact

import (
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubeaccess/kubeaccess/internal/privilege"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// Resource is one resource (or subresource) of the API and its verbs.
type Resource struct {
	Group       string
	Resource    string
	Subresource string
	Namespaced  bool
	Verbs       []string
}

// Name is how a line names it, as kubectl does: "pods",
// "deployments.apps", "pods/exec", "deployments.apps/scale".
func (r Resource) Name() string {
	res := r.Resource
	if r.Subresource != "" {
		res += "/" + r.Subresource
	}
	return rbac.GroupResource{Group: r.Group, Resource: res}.String()
}

// Universe is every resource with its verbs. The namespaces evaluated are
// those where a binding names the subject: elsewhere only its
// cluster-wide rules apply, which are evaluated once for all namespaces.
type Universe struct {
	Resources []Resource
}

// UniverseOf is the universe of discovery's resource lists.
func UniverseOf(lists []*metav1.APIResourceList) Universe {
	var u Universe
	seen := map[string]bool{}
	for _, l := range lists {
		if l == nil {
			continue
		}
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		group := gv.Group
		for _, r := range l.APIResources {
			res, sub, _ := strings.Cut(r.Name, "/")
			key := group + "/" + r.Name
			if seen[key] || len(r.Verbs) == 0 {
				continue
			}
			seen[key] = true
			u.Resources = append(u.Resources, Resource{Group: group, Resource: res, Subresource: sub, Namespaced: r.Namespaced, Verbs: slices.Sorted(slices.Values(r.Verbs))})
		}
	}
	slices.SortFunc(u.Resources, func(a, b Resource) int { return strings.Compare(a.Name(), b.Name()) })
	return u
}

// Subject is one who may gain or lose: a user with the groups their
// credential carries, a group's members as such, or a service account.
type Subject struct {
	// Name is how lines name it: "User erin", "Group dev",
	// "ServiceAccount ci/deployer".
	Name string
	User rbac.User
}

// UserSubject is a user with their credential's groups.
func UserSubject(name string, groups []string) Subject {
	return Subject{Name: "User " + name, User: rbac.User{Name: name, Groups: withAuthenticated(groups)}}
}

// SubjectOf is a binding's subject as it is evaluated: a user alone, a
// group's members through that group alone, a service account.
func SubjectOf(s rbacv1.Subject, bindingNamespace string) Subject {
	switch s.Kind {
	case rbacv1.GroupKind:
		return Subject{Name: "Group " + s.Name, User: rbac.User{Groups: withAuthenticated([]string{s.Name})}}
	case rbacv1.ServiceAccountKind:
		ns := s.Namespace
		if ns == "" {
			ns = bindingNamespace
		}
		return Subject{Name: "ServiceAccount " + ns + "/" + s.Name, User: rbac.ServiceAccountUser(ns, s.Name)}
	}
	return UserSubject(s.Name, nil)
}

func withAuthenticated(groups []string) []string {
	out := slices.Clone(groups)
	if !slices.Contains(out, "system:authenticated") {
		out = append(out, "system:authenticated")
	}
	return out
}

// AllNamespaces stands, in a line's namespaces, for every namespace: the
// permission is held cluster-wide.
const AllNamespaces = "*"

// Line is one collapsed change: a subject gains or loses verbs on
// resources in namespaces (none for cluster-scoped resources;
// AllNamespaces for every namespace).
type Line struct {
	Subject    string   `json:"subject"`
	Change     string   `json:"change"` // gains or loses
	Verbs      []string `json:"verbs"`
	Resources  []string `json:"resources"`
	Namespaces []string `json:"namespaces,omitempty"`
}

// String reads "User erin gains create, delete secrets in staging".
func (l Line) String() string {
	where := l.Where()
	if len(l.Namespaces) > 0 {
		where = "in " + where
	}
	return fmt.Sprintf("%s %s %s %s %s", l.Subject, l.Change, strings.Join(l.Verbs, ", "), strings.Join(l.Resources, ", "), where)
}

// Where reads "cluster-wide", "all namespaces" or "staging, dev".
func (l Line) Where() string {
	switch {
	case slices.Equal(l.Namespaces, []string{AllNamespaces}):
		return "all namespaces"
	case len(l.Namespaces) > 0:
		return strings.Join(l.Namespaces, ", ")
	}
	return "cluster-wide"
}

// Escalation is an escalation-grade entry of the privilege catalogue
// that a subject would newly hold.
type Escalation struct {
	Subject string `json:"subject"`
	Entry   string `json:"entry"`
	Reason  string `json:"reason"`
	// Through names the permission that completes it and the binding and
	// rule that would give it.
	Through string `json:"through"`
}

// Impact is what a change gives and takes.
type Impact struct {
	Lines       []Line       `json:"lines"`
	Escalations []Escalation `json:"escalations"`
	// Gained and Lost count the permissions (subject, verb, resource,
	// namespace) before they are collapsed into lines.
	Gained int `json:"gained"`
	Lost   int `json:"lost"`
}

// Empty reports whether nothing is gained or lost.
func (im Impact) Empty() bool { return len(im.Lines) == 0 && len(im.Escalations) == 0 }

// Compare evaluates each subject on before and after over the universe.
func Compare(before, after *rbac.Index, u Universe, subjects []Subject) Impact {
	im := Impact{Lines: []Line{}, Escalations: []Escalation{}}
	slices.SortFunc(subjects, func(a, b Subject) int { return strings.Compare(a.Name, b.Name) })
	subjects = slices.CompactFunc(subjects, func(a, b Subject) bool { return a.Name == b.Name })
	for _, s := range subjects {
		was, will := cellsOf(before, u, s.User), cellsOf(after, u, s.User)
		gained, lost := difference(will, was), difference(was, will)
		im.Gained, im.Lost = im.Gained+len(gained), im.Lost+len(lost)
		im.Lines = append(im.Lines, collapse(s.Name, "gains", gained, u)...)
		im.Lines = append(im.Lines, collapse(s.Name, "loses", lost, u)...)
		im.Escalations = append(im.Escalations, escalations(before, after, s)...)
	}
	return im
}

// escalations are the catalogue entries s holds after and not before.
func escalations(before, after *rbac.Index, s Subject) []Escalation {
	held := map[string]bool{}
	for _, f := range privilege.LocalFindings(before, s.User) {
		held[f.Entry.ID] = true
	}
	var out []Escalation
	for _, f := range privilege.LocalFindings(after, s.User) {
		if held[f.Entry.ID] {
			continue
		}
		through := ""
		if len(f.Held) > 0 {
			through = privilege.Describe(f.Held[len(f.Held)-1])
			if len(f.GrantedBy) > 0 && f.GrantedBy[len(f.GrantedBy)-1] != "" {
				through += " (" + f.GrantedBy[len(f.GrantedBy)-1] + ")"
			}
		}
		out = append(out, Escalation{Subject: s.Name, Entry: f.Entry.ID, Reason: f.Entry.Reason, Through: through})
	}
	return out
}
