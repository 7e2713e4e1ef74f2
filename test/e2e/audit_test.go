package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeaccess/kubeaccess/internal/audit"
	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/testcluster"
)

func auditJSON(t *testing.T, kubeconfig string, args ...string) ([]audit.Finding, result) {
	t.Helper()
	r := kubeaccess(t, kubeconfig, append([]string{"audit", "-o", "json"}, args...)...)
	return decodeItems[audit.Finding](t, "audit", r.stdout), r
}

func TestAuditReportsEachRisk(t *testing.T) {
	c := testcluster.StartForTest(t, testcluster.Options{})
	admin := clientFor(t, c.AdminKubeconfig)
	ctx := t.Context()

	clean, r := auditJSON(t, c.AdminKubeconfig, "--fail-on", "medium")
	if r.code != 0 || len(clean) != 0 {
		t.Fatalf("a fresh cluster has findings (exit %d): %+v", r.code, clean)
	}

	dir := t.TempDir()
	grant := func(user string, args ...string) {
		t.Helper()
		mustSucceed(t, "grant "+user, kubeaccess(t, c.AdminKubeconfig, append([]string{"grant", user, "--out", filepath.Join(dir, user+".kubeconfig")}, args...)...))
	}
	grant("sam", "-n", "audit", "--verb", "get", "--resource", "pods")
	grant("ella", "--ttl", "1h")
	grant("lena", "--ttl", "2400h", "--max-ttl", "200d", "--ca-cert", c.CACert, "--ca-key", c.CAKey)
	store := records.Store{Client: admin, Namespace: records.DefaultNamespace}
	sams, err := store.List(ctx, "sam")
	if err != nil || len(sams) != 1 {
		t.Fatalf("sam's records: %v %v", sams, err)
	}
	revoked := time.Now().UTC()
	// Revoked on paper, with the binding left in place.
	if err := store.Modify(ctx, sams[0].ID, func(r *records.Record) error { r.Revoked = &revoked; return nil }); err != nil {
		t.Fatal(err)
	}

	user := func(name string) []rbacv1.Subject {
		return []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}}
	}
	rbac := admin.RbacV1()
	mustCreate := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = rbac.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "ops-admin"},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"}, Subjects: user("olivia")}, metav1.CreateOptions{})
	mustCreate(err)
	_, err = rbac.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "pods-anything"},
		Rules: []rbacv1.PolicyRule{{Verbs: []string{"*"}, APIGroups: []string{""}, Resources: []string{"pods"}}}}, metav1.CreateOptions{})
	mustCreate(err)
	_, err = rbac.RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "wanda-pods"},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "pods-anything"}, Subjects: user("wanda")}, metav1.CreateOptions{})
	mustCreate(err)
	_, err = rbac.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "kubeadm-admins-view"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "kubeadm:cluster-admins"}}}, metav1.CreateOptions{})
	mustCreate(err)
	_, err = admin.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "old-bot"}}, metav1.CreateOptions{})
	mustCreate(err)
	_, err = admin.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "old-bot-token",
		Annotations: map[string]string{corev1.ServiceAccountNameKey: "old-bot"}}, Type: corev1.SecretTypeServiceAccountToken}, metav1.CreateOptions{})
	mustCreate(err)
	key, err := pki.GenerateKey(pki.ECDSAP256)
	mustCreate(err)
	pemReq, err := pki.CreateRequest(key, pki.Subject("mallory", []string{"kubeadm:cluster-admins"}))
	mustCreate(err)
	_, err = csr.Create(ctx, admin, csr.Build("mallory", pemReq, time.Hour))
	mustCreate(err)

	findings, r := auditJSON(t, c.AdminKubeconfig, "--expiring", "2h", "--fail-on", "high")
	if r.code != 1 || !strings.Contains(r.stderr, "at or above high") {
		t.Errorf("--fail-on high with high findings: exit %d, %s", r.code, r.stderr)
	}
	for _, want := range []audit.Finding{
		{Severity: audit.High, Check: "cluster-admin", Object: "ClusterRoleBinding ops-admin"},
		{Severity: audit.Medium, Check: "wildcard-rules", Object: "RoleBinding default/wanda-pods"},
		{Severity: audit.High, Check: "privileged-group", Object: "ClusterRoleBinding kubeadm-admins-view"},
		{Severity: audit.Medium, Check: "stale-access", Object: "credential " + sams[0].ID + " of sam"},
		{Severity: audit.Low, Check: "expiring", Object: "of ella"},
		{Severity: audit.Medium, Check: "long-lived", Object: "of lena"},
		{Severity: audit.Medium, Check: "legacy-token", Object: "Secret default/old-bot-token"},
		{Severity: audit.Low, Check: "unknown-origin", Object: "ClusterRoleBinding ops-admin"},
		{Severity: audit.High, Check: "privileged-request", Object: "CertificateSigningRequest kubeaccess-mallory-"},
	} {
		found := false
		for _, f := range findings {
			found = found || f.Severity == want.Severity && f.Check == want.Check && strings.Contains(f.Object, want.Object)
		}
		if !found {
			t.Errorf("no %s %s finding for %q in:\n%s", want.Severity, want.Check, want.Object, r.stdout)
		}
	}
	for _, f := range findings {
		if f.Check == "long-lived" && !strings.Contains(f.Object, "lena") || f.Check == "expiring" && !strings.Contains(f.Object, "ella") {
			t.Errorf("unexpected finding %+v", f)
		}
	}
}
