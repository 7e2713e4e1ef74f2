package privilege

import (
	"context"
	"slices"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// byUser answers SubjectAccessReviews from each user's grants.
func byUser(t *testing.T, objects []runtime.Object, grants map[string][]Grant) *fake.Clientset {
	t.Helper()
	client := fake.NewClientset(objects...)
	client.PrependReactor("create", "subjectaccessreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
		r := action.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		if r.Spec.ResourceAttributes == nil {
			return true, r, nil // no grant here gives a non-resource URL
		}
		for _, g := range grants[r.Spec.User] {
			if g.covers(*r.Spec.ResourceAttributes) {
				r.Status.Allowed = true
			}
		}
		return true, r, nil
	})
	return client
}

func TestRunsAsServiceAccounts(t *testing.T) {
	all := []rbacv1.PolicyRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}}
	edit := []rbacv1.PolicyRule{{Verbs: []string{"create", "update", "patch"}, APIGroups: []string{"", "apps"}, Resources: []string{"pods", "deployments"}}}
	view := []rbacv1.PolicyRule{{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}}}
	exec := []rbacv1.PolicyRule{{Verbs: []string{"create"}, APIGroups: []string{""}, Resources: []string{"pods/exec"}}}
	portal := "system:serviceaccount:kubeaccess-system:kubeaccess-portal"
	planned := "system:serviceaccount:apps:deployer" // named by a binding, not created yet
	for name, tc := range map[string]struct {
		held   []Grant
		grants []Grant
		bound  string   // a namespace where a RoleBinding names dave
		want   []string // accounts run as
	}{
		"edit granted where the portal runs":   {grants: []Grant{{Namespace: "kubeaccess-system", Rules: edit, Via: "Role x"}}, want: []string{"kubeaccess-system/kubeaccess-portal"}},
		"exec held where the portal runs":      {held: []Grant{{Namespace: "kubeaccess-system", Rules: exec}}, bound: "kubeaccess-system", want: []string{"kubeaccess-system/kubeaccess-portal"}},
		"view where the portal runs":           {grants: []Grant{{Namespace: "kubeaccess-system", Rules: view}}},
		"edit in a namespace of weak accounts": {grants: []Grant{{Namespace: "development", Rules: edit}}},
		"edit where a bound account will run":  {grants: []Grant{{Namespace: "apps", Rules: edit}}, want: []string{"apps/deployer"}},
	} {
		t.Run(name, func(t *testing.T) {
			objects := []runtime.Object{
				&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "kubeaccess-system", Name: "kubeaccess-portal"}},
				&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "development", Name: "builder"}},
			}
			client := byUser(t, objects, map[string][]Grant{
				"dave":  tc.held,
				portal:  {{Rules: all}},
				planned: {{Rules: all}},
			})
			ix := &rbac.Index{Bindings: []rbac.Binding{{
				Ref:      rbac.Ref{Kind: "ClusterRoleBinding", Name: "deployer"},
				RoleRef:  rbacv1.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"},
				Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "apps", Name: "deployer"}},
			}}, Roles: map[rbac.Ref][]rbacv1.PolicyRule{{Kind: "ClusterRole", Name: "exec"}: exec}}
			if tc.bound != "" {
				ix.Bindings = append(ix.Bindings, rbac.Binding{Ref: rbac.Ref{Kind: "RoleBinding", Namespace: tc.bound, Name: "x"},
					RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "exec"}, Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "dave"}}})
			}
			id := ForUser("dave", []string{"dev"})
			var accounts []Account
			for _, ns := range WorkloadNamespaces(ix, id, tc.grants) {
				accs, err := listedAccounts(t.Context(), client, ix, ns)
				if err != nil {
					t.Fatal(err)
				}
				accounts = append(accounts, accs...)
			}
			findings, err := RunsAsFindings(t.Context(), SubjectAccessReviews{client}, id, accounts, tc.grants)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range findings {
				if f.Entry.ID != RunsAsID {
					t.Errorf("finding %s, want %s", f.Entry.ID, RunsAsID)
				}
				for _, acc := range accounts {
					if strings.Contains(f.Entry.Reason, acc.Namespace+"/"+acc.Name+",") {
						got = append(got, acc.Namespace+"/"+acc.Name)
					}
				}
				if !strings.Contains(f.Entry.Reason, "which holds all-resources") {
					t.Errorf("finding %q does not say what the account holds", f)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("runs as %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWorkloadNamespacesFromBindings(t *testing.T) {
	ix := &rbac.Index{
		Roles: map[rbac.Ref][]rbacv1.PolicyRule{
			{Kind: "ClusterRole", Name: "edit"}: {{Verbs: []string{"create"}, APIGroups: []string{"batch"}, Resources: []string{"cronjobs"}}},
			{Kind: "ClusterRole", Name: "view"}: {{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}},
		},
		Bindings: []rbac.Binding{
			{Ref: rbac.Ref{Kind: "RoleBinding", Namespace: "ci", Name: "a"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "edit"}, Subjects: []rbacv1.Subject{{Kind: rbacv1.GroupKind, Name: "dev"}}},
			{Ref: rbac.Ref{Kind: "RoleBinding", Namespace: "docs", Name: "b"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"}, Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "dave"}}},
			{Ref: rbac.Ref{Kind: "RoleBinding", Namespace: "ops", Name: "c"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "edit"}, Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "erin"}}},
		},
	}
	got := WorkloadNamespaces(ix, ForUser("dave", []string{"dev"}), nil)
	if want := []string{"ci"}; !slices.Equal(got, want) {
		t.Errorf("namespaces %v, want %v", got, want)
	}
}

func TestRunsAsThroughAnotherNamespace(t *testing.T) {
	all := []rbacv1.PolicyRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}}
	edit := []rbacv1.PolicyRule{{Verbs: []string{"create"}, APIGroups: []string{""}, Resources: []string{"pods"}}}
	bindSA := func(ns, saNS, sa string) rbac.Binding {
		return rbac.Binding{Ref: rbac.Ref{Kind: "RoleBinding", Namespace: ns, Name: saNS + "-" + sa}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "edit"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: saNS, Name: sa}}}
	}
	for name, tc := range map[string]struct {
		bindings []rbac.Binding
		grants   map[string][]Grant
		want     string // in the finding; "" for none
	}{
		"a chain of two namespaces": {
			bindings: []rbac.Binding{bindSA("y", "x", "ci"), {Ref: rbac.Ref{Kind: "ClusterRoleBinding", Name: "admin"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"},
				Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "y", Name: "admin"}}}},
			grants: map[string][]Grant{"system:serviceaccount:x:ci": {{Namespace: "y", Rules: edit}}, "system:serviceaccount:y:admin": {{Rules: all}}},
			want:   "runs as service account x/ci, which runs as service account y/admin, which holds all-resources",
		},
		"a cycle with nothing powerful": {
			bindings: []rbac.Binding{bindSA("y", "x", "ci"), bindSA("x", "y", "bot")},
			grants:   map[string][]Grant{"system:serviceaccount:x:ci": {{Namespace: "y", Rules: edit}}, "system:serviceaccount:y:bot": {{Namespace: "x", Rules: edit}}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			ix := &rbac.Index{Bindings: tc.bindings, Roles: map[rbac.Ref][]rbacv1.PolicyRule{{Kind: "ClusterRole", Name: "edit"}: edit}}
			client := byUser(t, nil, tc.grants)
			of := func(ctx context.Context, ns string) ([]Account, error) {
				return listedAccounts(ctx, client, ix, ns)
			}
			id := ForUser("bob", nil)
			grants := []Grant{{Namespace: "x", Rules: edit, Via: "Role x/edit"}}
			var accounts []Account
			for _, ns := range WorkloadNamespaces(ix, id, grants) {
				accs, err := Powerful(t.Context(), SubjectAccessReviews{client}, ix, ns, nil, of)
				if err != nil {
					t.Fatal(err)
				}
				accounts = append(accounts, accs...)
			}
			findings, err := RunsAsFindings(t.Context(), SubjectAccessReviews{client}, id, accounts, grants)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.want == "" && len(findings) > 0:
				t.Errorf("findings %v, want none", findings)
			case tc.want != "" && (len(findings) != 1 || !strings.Contains(findings[0].String(), tc.want)):
				t.Errorf("findings %v, want one saying %q", findings, tc.want)
			}
		})
	}
}

// listedAccounts lists namespace's service accounts and reviews them with
// SubjectAccessReviews, as the engine does with its own asker.
func listedAccounts(ctx context.Context, client kubernetes.Interface, ix *rbac.Index, namespace string) ([]Account, error) {
	listed, err := ServiceAccountNames(ctx, client, namespace)
	if err != nil {
		return nil, err
	}
	return Accounts(ctx, SubjectAccessReviews{client}, listed, ix, namespace)
}
