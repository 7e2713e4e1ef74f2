package privilege

import (
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// TestLocalFindingsMatchTheCatalogue: each entry, held through a role of
// an innocent name bound to a group, is found by evaluating RBAC locally,
// with the binding named; nothing is found for a harmless role.
func TestLocalFindingsMatchTheCatalogue(t *testing.T) {
	for _, e := range Catalogue {
		var rules []rbacv1.PolicyRule
		namespace := ""
		for _, any := range e.Requires {
			rules = append(rules, verify.PermissionOf(any[0]).Rule())
			namespace = any[0].Namespace
		}
		ix := &rbac.Index{Roles: map[rbac.Ref][]rbacv1.PolicyRule{{Kind: "ClusterRole", Name: "helper"}: rules}}
		kind := "ClusterRoleBinding"
		if namespace != "" {
			kind = "RoleBinding"
		}
		ix.Bindings = []rbac.Binding{{Ref: rbac.Ref{Kind: kind, Namespace: namespace, Name: "innocent"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "helper"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.GroupKind, Name: "ops"}}}}
		found := LocalFindings(ix, rbac.User{Groups: []string{"ops"}})
		i := -1
		for j, f := range found {
			if f.Entry.ID == e.ID {
				i = j
			}
		}
		if i < 0 {
			t.Errorf("%s: not found locally (found %d entries)", e.ID, len(found))
			continue
		}
		if !strings.Contains(found[i].GrantedBy[0], "innocent") {
			t.Errorf("%s: the binding is not named: %q", e.ID, found[i].GrantedBy[0])
		}
	}
	harmless := &rbac.Index{Roles: map[rbac.Ref][]rbacv1.PolicyRule{{Kind: "ClusterRole", Name: "view"}: {{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}}}},
		Bindings: []rbac.Binding{{Ref: rbac.Ref{Kind: "ClusterRoleBinding", Name: "viewers"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"}, Subjects: []rbacv1.Subject{{Kind: rbacv1.GroupKind, Name: "ops"}}}}}
	if found := LocalFindings(harmless, rbac.User{Groups: []string{"ops"}}); len(found) != 0 {
		t.Errorf("a harmless role holds %d entries", len(found))
	}
}
