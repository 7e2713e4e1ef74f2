package rbac

import (
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func TestApplyNeverAdoptsAnothersObject(t *testing.T) {
	rules := []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}}
	unlabelled := BuildRole(UserObjectName("dave"), "development", rules)
	unlabelled.Labels = nil
	unprefixed := BuildRole("team-role", "development", rules)
	for name, tc := range map[string]struct {
		existing runtime.Object
		apply    runtime.Object
		wantErr  string
	}{
		"unlabelled, kubeaccess's name": {existing: unlabelled, apply: BuildRole(UserObjectName("dave"), "development", rules),
			wantErr: `Role development/kubeaccess:user:dave exists and was not made by kubeaccess`},
		"labelled, another name": {existing: unprefixed, apply: BuildRole("team-role", "development", rules),
			wantErr: `Role development/team-role exists and was not made by kubeaccess`},
	} {
		t.Run(name, func(t *testing.T) {
			client := fake.NewClientset(tc.existing)
			changes, err := Apply(t.Context(), client, []runtime.Object{tc.apply})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
			if len(changes) != 0 {
				t.Errorf("changes %v: nothing should have been written", changes)
			}
			got, err := client.RbacV1().Roles("development").Get(t.Context(), tc.apply.(*rbacv1.Role).Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Labels) != len(tc.existing.(*rbacv1.Role).Labels) {
				t.Errorf("the existing object's labels changed to %v", got.Labels)
			}
		})
	}
}

func TestNamesCannotCollide(t *testing.T) {
	names := map[string]string{}
	for what, name := range map[string]string{
		"user group:ops":                  UserObjectName("group:ops"),
		"group ops":                       GroupObjectName("ops"),
		"user credential:ab":              UserObjectName("credential:ab"),
		"credential ab":                   "kubeaccess:credential:ab",
		"user serviceaccount:ci:bot":      UserObjectName("serviceaccount:ci:bot"),
		"service account ci/bot":          ServiceAccountObjectName("ci", "bot"),
		"user dave:role:x":                UserObjectName("dave:role:x"),
		"user dave binding role x":        BoundRoleName(UserObjectName("dave"), "Role", "x"),
		"user dave binding clusterrole x": BoundRoleName(UserObjectName("dave"), "ClusterRole", "x"),
		"group dave":                      GroupObjectName("dave"),
	} {
		if other, ok := names[name]; ok {
			t.Errorf("%s and %s are both named %q", what, other, name)
		}
		names[name] = what
	}
}

func TestParseRef(t *testing.T) {
	for in, want := range map[string]Ref{
		"RoleBinding dev/kubeaccess:user:dave":                     {Kind: "RoleBinding", Namespace: "dev", Name: "kubeaccess:user:dave"},
		"ClusterRoleBinding kubeaccess:group:ops+clusterrole:view": {Kind: "ClusterRoleBinding", Name: "kubeaccess:group:ops+clusterrole:view"},
	} {
		got, err := ParseRef(in)
		if err != nil || got != want || got.String() != in {
			t.Errorf("ParseRef(%q) = %+v, %v; want %+v and the same string back", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "Secret kube-system/x", "RoleBinding nonamespace", "ClusterRoleBinding a/b", "RoleBinding /x"} {
		if _, err := ParseRef(bad); err == nil {
			t.Errorf("ParseRef(%q) accepted", bad)
		}
	}
}
