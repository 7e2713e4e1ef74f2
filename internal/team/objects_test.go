package team

import (
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubeaccess/kubeaccess/internal/labels"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// catalog serves pods and services (core) and deployments (apps).
func catalog() *rbac.Catalog {
	return rbac.NewCatalog([]*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{{Name: "pods", SingularName: "pod"}, {Name: "services", SingularName: "service"}, {Name: "secrets"}}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{{Name: "deployments", SingularName: "deployment"}}},
	})
}

// indexOf is the index of a cluster holding objs.
func indexOf(objs ...runtime.Object) *rbac.Index {
	ix := &rbac.Index{Roles: map[rbac.Ref][]rbacv1.PolicyRule{}, RoleLabels: map[rbac.Ref]map[string]string{}}
	for _, obj := range objs {
		ref, _ := rbac.RefOf(obj)
		switch o := obj.(type) {
		case *rbacv1.Role:
			ix.Roles[ref], ix.RoleLabels[ref] = o.Rules, o.Labels
		case *rbacv1.ClusterRole:
			ix.Roles[ref], ix.RoleLabels[ref] = o.Rules, o.Labels
		case *rbacv1.RoleBinding:
			ix.Bindings = append(ix.Bindings, rbac.Binding{Ref: ref, Labels: o.Labels, Subjects: o.Subjects, RoleRef: o.RoleRef})
		case *rbacv1.ClusterRoleBinding:
			ix.Bindings = append(ix.Bindings, rbac.Binding{Ref: ref, Labels: o.Labels, Subjects: o.Subjects, RoleRef: o.RoleRef})
		}
	}
	return ix
}

var view = rbac.BuildClusterRole("view", []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}})

func resolveExample(t *testing.T, edit func(string) string, cluster ...runtime.Object) (*Resolved, error) {
	t.Helper()
	text := string(readExample(t))
	if edit != nil {
		text = edit(text)
	}
	f, err := Parse("team.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return Resolve(f, catalog(), indexOf(cluster...), f.Validate(maxTTL))
}

func refs(objs []runtime.Object) []string {
	var out []string
	for _, obj := range objs {
		ref, _ := rbac.RefOf(obj)
		out = append(out, ref.String())
	}
	slices.Sort(out)
	return out
}

func subjectsOf(t *testing.T, objs []runtime.Object, kind, namespace, name string) []string {
	t.Helper()
	for _, obj := range objs {
		var subjects []rbacv1.Subject
		switch o := obj.(type) {
		case *rbacv1.RoleBinding:
			if kind != "RoleBinding" || o.Namespace != namespace || o.Name != name {
				continue
			}
			subjects = o.Subjects
		case *rbacv1.ClusterRoleBinding:
			if kind != "ClusterRoleBinding" || o.Name != name {
				continue
			}
			subjects = o.Subjects
		default:
			continue
		}
		var names []string
		for _, s := range subjects {
			names = append(names, s.Kind+":"+s.Name)
		}
		return names
	}
	t.Fatalf("no %s %s/%s", kind, namespace, name)
	return nil
}

func TestObjectsBindEachMemberByName(t *testing.T) {
	r, err := resolveExample(t, nil, view)
	if err != nil {
		t.Fatal(err)
	}
	all := r.Objects(func(string) bool { return true })
	want := []string{
		"ClusterRoleBinding kubeaccess:team:platform:group:dev:reader",
		"Role development/kubeaccess:team:platform:deployer",
		"Role staging/kubeaccess:team:platform:deployer",
		"RoleBinding development/kubeaccess:team:platform:group:dev:deployer",
		"RoleBinding development/kubeaccess:team:platform:serviceaccount:ci:deployer:deployer",
		"RoleBinding staging/kubeaccess:team:platform:group:dev:deployer",
	}
	if got := refs(all); !slices.Equal(got, want) {
		t.Errorf("objects\n%v\nwant\n%v", got, want)
	}
	for _, obj := range all {
		m, _ := metav1Object(obj)
		if m.GetLabels()[labels.Team] != "platform" || !rbac.Managed(m.GetLabels(), m.GetName()) {
			t.Errorf("%s is not labelled as team platform's: %v", m.GetName(), m.GetLabels())
		}
	}
	if got := subjectsOf(t, all, "ClusterRoleBinding", "", "kubeaccess:team:platform:group:dev:reader"); !slices.Equal(got, []string{"User:dave", "User:erin"}) {
		t.Errorf("the group's cluster-wide binding names %v, want its members as users", got)
	}
	onlyDave := r.Objects(func(name string) bool { return name != "erin" })
	if got := subjectsOf(t, onlyDave, "RoleBinding", "staging", "kubeaccess:team:platform:group:dev:deployer"); !slices.Equal(got, []string{"User:dave"}) {
		t.Errorf("without erin the binding names %v", got)
	}
	if got := refs(r.Objects(func(name string) bool { return false })); len(got) != 0 {
		t.Errorf("with no member bound, objects %v are still made", got)
	}
}

func metav1Object(obj runtime.Object) (metav1.Object, bool) {
	m, ok := obj.(metav1.Object)
	return m, ok
}

func TestDiffUpdatesPrunesAndLeavesOthersAlone(t *testing.T) {
	r, err := resolveExample(t, nil, view)
	if err != nil {
		t.Fatal(err)
	}
	applied := r.Objects(func(string) bool { return true })
	stale := rbac.BuildRoleBinding("kubeaccess:team:platform:group:old:deployer", "development", "Role", "x", rbac.Subject(rbacv1.UserKind, "zed"))
	stale.Labels = Labels("platform")
	otherTeam := rbac.BuildRoleBinding("kubeaccess:team:other:group:dev:deployer", "development", "Role", "x", rbac.Subject(rbacv1.UserKind, "zed"))
	otherTeam.Labels = Labels("other")
	cluster := append(slices.Clone(applied), view, stale, otherTeam)

	unchanged, err := DiffObjects("platform", applied, indexOf(cluster...))
	if err != nil {
		t.Fatal(err)
	}
	if len(unchanged) != 1 || unchanged[0].Action != "delete" || unchanged[0].Ref.Name != stale.Name {
		t.Errorf("an unchanged file changes %+v; want only the stale binding pruned", unchanged)
	}

	withoutErin, err := DiffObjects("platform", r.Objects(func(n string) bool { return n != "erin" }), indexOf(cluster...))
	if err != nil {
		t.Fatal(err)
	}
	var updated []string
	for _, ch := range withoutErin {
		if ch.Action == "update" {
			updated = append(updated, ch.Ref.String()+": "+ch.Detail)
		}
	}
	want := []string{
		"ClusterRoleBinding kubeaccess:team:platform:group:dev:reader: subjects -erin",
		"RoleBinding development/kubeaccess:team:platform:group:dev:deployer: subjects -erin",
		"RoleBinding staging/kubeaccess:team:platform:group:dev:deployer: subjects -erin",
	}
	slices.Sort(updated)
	if !slices.Equal(updated, want) {
		t.Errorf("removing erin updates\n%v\nwant\n%v", updated, want)
	}

	foreign := rbac.BuildRoleBinding("kubeaccess:team:platform:group:dev:deployer", "staging", "Role", "x", rbac.Subject(rbacv1.UserKind, "zed"))
	_, err = DiffObjects("platform", applied, indexOf(view, foreign))
	if err == nil || !strings.Contains(err.Error(), "RoleBinding staging/kubeaccess:team:platform:group:dev:deployer") {
		t.Errorf("an object of the same name that is not the team's: %v", err)
	}
}

func TestRolesGivingEscalationAreRefusedWhateverTheirName(t *testing.T) {
	everything := rbac.BuildClusterRole("view", []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}})
	_, err := resolveExample(t, nil, everything)
	if err == nil || !strings.Contains(err.Error(), `team.yaml:19: group "dev": role "reader" would give escalation-grade permissions`) {
		t.Errorf("a ClusterRole called view that allows everything: %v", err)
	}
	_, err = resolveExample(t, func(s string) string {
		return strings.Replace(s, "resources: [pods, services, deployments]", "resources: [pods, secrets]\n      - verbs: [create]\n        resources: [pods/exec]", 1)
	}, view)
	if err == nil || !strings.Contains(err.Error(), "pods/exec") && !strings.Contains(err.Error(), "no resource") {
		t.Errorf("an unknown subresource: %v", err)
	}
	_, err = resolveExample(t, func(s string) string {
		return strings.Replace(s, "namespaces: [development, staging]", "namespaces: [kube-system]", 1)
	}, view)
	if err == nil || !strings.Contains(err.Error(), "kube-system-pods") {
		t.Errorf("creating pods in kube-system: %v", err)
	}
	_, err = resolveExample(t, nil)
	if err == nil || !strings.Contains(err.Error(), `ClusterRole "view" does not exist`) {
		t.Errorf("a missing ClusterRole: %v", err)
	}
}

func TestTeamNamesCannotCollide(t *testing.T) {
	// Once, team a-b's account c and team a's account b-c shared a Secret.
	if BoundSecretName("a-b", "c") == BoundSecretName("a", "b-c") {
		t.Errorf("two teams' accounts share bound Secret %q", BoundSecretName("a", "b-c"))
	}
	managed := func(team string) map[string]string {
		return map[string]string{labels.ManagedBy: labels.Kubeaccess, labels.Team: team}
	}
	ix := &rbac.Index{Bindings: []rbac.Binding{
		{Ref: rbac.Ref{Kind: "RoleBinding", Namespace: "ns", Name: "kubeaccess:team:a:group:dev:reader"}, Labels: managed("a")},
		// Labelled as a's, named as another's: not a's to prune.
		{Ref: rbac.Ref{Kind: "RoleBinding", Namespace: "ns", Name: "kubeaccess:team:a-b:group:dev:reader"}, Labels: managed("a")},
		{Ref: rbac.Ref{Kind: "ClusterRoleBinding", Name: "kubeaccess:user:ivan"}, Labels: managed("a")},
	}, RoleLabels: map[rbac.Ref]map[string]string{}}
	got := Owned("a", ix)
	if len(got) != 1 || got[0].Name != "kubeaccess:team:a:group:dev:reader" {
		t.Errorf("team a owns %v, want only its own binding", got)
	}
}

func TestOfName(t *testing.T) {
	for name, want := range map[string]string{
		groupBindingName("dev", "ops", "reader"):                       "dev",
		serviceAccountBindingName("dev-2", "ci", "deployer", "reader"): "dev-2",
		roleName("a", "reader"):                                        "a",
		"kubeaccess:grant:dave:reader":                                 "",
		"kubeaccess:team:":                                             "",
		"team:dev:reader":                                              "",
	} {
		got, ok := OfName(name)
		if got != want || ok != (want != "") {
			t.Errorf("OfName(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
}
