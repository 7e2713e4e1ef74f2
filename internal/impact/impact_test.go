package impact

import (
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

var resources = []*metav1.APIResourceList{
	{GroupVersion: "v1", APIResources: []metav1.APIResource{
		{Name: "pods", Namespaced: true, Verbs: metav1.Verbs{"get", "list", "create", "delete"}},
		{Name: "pods/exec", Namespaced: true, Verbs: metav1.Verbs{"create", "get"}},
		{Name: "secrets", Namespaced: true, Verbs: metav1.Verbs{"get", "list", "create"}},
		{Name: "nodes", Verbs: metav1.Verbs{"get", "list", "patch"}},
	}},
	{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
		{Name: "deployments", Namespaced: true, Verbs: metav1.Verbs{"get", "create"}},
	}},
}

func rule(verbs []string, group string, res ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: []string{group}, Resources: res}
}

var (
	erin  = rbac.Subject(rbacv1.UserKind, "erin")
	devs  = rbac.Subject(rbacv1.GroupKind, "devs")
	read  = []rbacv1.PolicyRule{rule([]string{"get", "list"}, "", "pods")}
	write = []rbacv1.PolicyRule{rule([]string{"get", "list", "create"}, "", "pods", "secrets"), rule([]string{"create"}, "apps", "deployments")}
)

// existing: erin reads pods in dev; devs read pods everywhere.
func existing() *rbac.Index {
	ix := rbac.IndexOf(nil, nil, nil, nil)
	for _, obj := range []runtime.Object{
		rbac.BuildRole("read", "dev", read), rbac.BuildRoleBinding("erin-read", "dev", "Role", "read", erin),
		rbac.BuildClusterRole("read", read), rbac.BuildClusterRoleBinding("devs-read", "read", devs),
		rbac.BuildClusterRole("write", write),
	} {
		if err := ix.Put(obj); err != nil {
			panic(err)
		}
	}
	return ix
}

func TestCompare(t *testing.T) {
	cases := map[string]struct {
		put         []runtime.Object
		remove      []rbac.Ref
		subjects    []Subject
		want        []string
		escalations []string
	}{
		"a role binding in one namespace": {
			put:      []runtime.Object{rbac.BuildRoleBinding("erin-write", "staging", "ClusterRole", "write", erin)},
			subjects: []Subject{UserSubject("erin", nil)},
			want: []string{
				"User erin gains create deployments.apps in staging",
				"User erin gains create, get, list pods, secrets in staging",
			},
		},
		"what a subject holds already is no gain": {
			put:      []runtime.Object{rbac.BuildRoleBinding("erin-read2", "dev", "ClusterRole", "read", erin)},
			subjects: []Subject{UserSubject("erin", nil)},
		},
		"held through a group already, everywhere": {
			put:      []runtime.Object{rbac.BuildRoleBinding("erin-read2", "staging", "ClusterRole", "read", erin)},
			subjects: []Subject{UserSubject("erin", []string{"devs"})},
		},
		"cluster-wide, namespaced and cluster-scoped": {
			put: []runtime.Object{rbac.BuildClusterRole("nodes", []rbacv1.PolicyRule{rule([]string{"get", "list"}, "", "nodes", "secrets")}),
				rbac.BuildClusterRoleBinding("erin-nodes", "nodes", erin)},
			subjects: []Subject{UserSubject("erin", nil)},
			want: []string{
				"User erin gains get, list nodes cluster-wide",
				"User erin gains get, list secrets in all namespaces",
			},
			escalations: []string{"kube-system-secrets-get", "kube-system-secrets-list"},
		},
		"a namespace's access replaced by all namespaces' is not lost": {
			put:      []runtime.Object{rbac.BuildClusterRoleBinding("erin-read-all", "read", erin)},
			subjects: []Subject{UserSubject("erin", nil)},
			want:     []string{"User erin gains get, list pods in all namespaces"},
		},
		"a removed binding": {
			remove:   []rbac.Ref{{Kind: "ClusterRoleBinding", Name: "devs-read"}},
			subjects: []Subject{SubjectOf(devs, ""), UserSubject("erin", nil)},
			want:     []string{"Group devs loses get, list pods in all namespaces"},
		},
		"a role's rules changed under its binding": {
			put:      []runtime.Object{rbac.BuildRole("read", "dev", []rbacv1.PolicyRule{rule([]string{"get"}, "", "pods"), rule([]string{"create"}, "", "pods/exec")})},
			subjects: []Subject{UserSubject("erin", nil)},
			want:     []string{"User erin gains create pods/exec in dev", "User erin loses list pods in dev"},
		},
		"escalation-grade in kube-system": {
			put:         []runtime.Object{rbac.BuildRoleBinding("erin-sys", "kube-system", "ClusterRole", "write", erin)},
			subjects:    []Subject{UserSubject("erin", nil)},
			want:        []string{"User erin gains create deployments.apps in kube-system", "User erin gains create, get, list pods, secrets in kube-system"},
			escalations: []string{"kube-system-secrets-get", "kube-system-secrets-list", "kube-system-secrets-create", "kube-system-pods", "kube-system-workloads"},
		},
	}
	u := UniverseOf(resources)
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			before := existing()
			after := before.Clone()
			for _, obj := range tc.put {
				if err := after.Put(obj); err != nil {
					t.Fatal(err)
				}
			}
			for _, ref := range tc.remove {
				after.Remove(ref)
			}
			im := Compare(before, after, u, tc.subjects)
			var got []string
			for _, l := range im.Lines {
				got = append(got, l.String())
			}
			var esc []string
			for _, e := range im.Escalations {
				esc = append(esc, e.Entry)
			}
			slices.Sort(esc)
			slices.Sort(tc.escalations)
			if !slices.Equal(got, tc.want) || !slices.Equal(esc, tc.escalations) {
				t.Errorf("got\n  %q\n  escalations %q\nwant\n  %q\n  escalations %q", got, esc, tc.want, tc.escalations)
			}
			// The original index is left as it was.
			if again := Compare(before, existing(), u, tc.subjects); !again.Empty() {
				t.Errorf("the change altered the index it was made on: %v", again.Lines)
			}
		})
	}
}
