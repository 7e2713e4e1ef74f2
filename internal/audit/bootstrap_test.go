package audit

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

func TestBootstrapTrustsOnlyTheAPIServersOwn(t *testing.T) {
	label := map[string]string{rbac.BootstrapLabel: "rbac-defaults"}
	group := func(n string) rbacv1.Subject { return rbacv1.Subject{Kind: rbacv1.GroupKind, Name: n} }
	user := func(n string) rbacv1.Subject { return rbacv1.Subject{Kind: rbacv1.UserKind, Name: n} }
	sa := func(ns, n string) rbacv1.Subject {
		return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: n}
	}
	for name, tc := range map[string]struct {
		meta     metav1.ObjectMeta
		subjects []rbacv1.Subject
		want     bool
	}{
		"cluster-admin":          {metav1.ObjectMeta{Name: "cluster-admin", Labels: label}, []rbacv1.Subject{group("system:masters")}, true},
		"a controller":           {metav1.ObjectMeta{Name: "system:controller:job-controller", Labels: label}, []rbacv1.Subject{sa("kube-system", "job-controller")}, true},
		"in kube-system":         {metav1.ObjectMeta{Name: "system::leader-locking-kube-scheduler", Namespace: "kube-system", Labels: label}, []rbacv1.Subject{user("system:kube-scheduler")}, true},
		"no label":               {metav1.ObjectMeta{Name: "cluster-admin"}, []rbacv1.Subject{group("system:masters")}, false},
		"another name":           {metav1.ObjectMeta{Name: "sneaky", Labels: label}, []rbacv1.Subject{group("system:masters")}, false},
		"a person added":         {metav1.ObjectMeta{Name: "cluster-admin", Labels: label}, []rbacv1.Subject{group("system:masters"), user("eve")}, false},
		"an app namespace":       {metav1.ObjectMeta{Name: "system:x", Namespace: "shop", Labels: label}, []rbacv1.Subject{user("system:x")}, false},
		"another namespace's SA": {metav1.ObjectMeta{Name: "system:x", Labels: label}, []rbacv1.Subject{sa("shop", "system:x")}, false},
	} {
		kind := "ClusterRoleBinding"
		if tc.meta.Namespace != "" {
			kind = "RoleBinding"
		}
		b := rbac.Binding{Ref: rbac.Ref{Kind: kind, Namespace: tc.meta.Namespace, Name: tc.meta.Name}, Labels: tc.meta.Labels, Subjects: tc.subjects}
		if got := b.Bootstrap(); got != tc.want {
			t.Errorf("%s: bootstrap = %v, want %v", name, got, tc.want)
		}
	}
}

func TestOwnCredentialGroup(t *testing.T) {
	s := &state{records: []records.Record{{ID: "c-1", CSR: "kubeaccess-dave-x", CredentialGroup: "kubeaccess:credential:aa"}}}
	for name, tc := range map[string]struct {
		csr    string
		groups []string
		want   string
	}{
		"issued for this request": {"kubeaccess-dave-x", []string{"dev", "kubeaccess:credential:aa"}, "kubeaccess:credential:aa"},
		"fresh":                   {"kubeaccess-ann-y", []string{"kubeaccess:credential:bb"}, "kubeaccess:credential:bb"},
		"another's":               {"hand-made", []string{"kubeaccess:credential:aa"}, ""},
		"none":                    {"plain", []string{"dev"}, ""},
	} {
		if got := s.ownCredentialGroup(tc.csr, tc.groups); got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
}
