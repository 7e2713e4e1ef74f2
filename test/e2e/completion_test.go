package e2e

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/pki"
)

// completions asks the binary, as a shell would, through cobra's
// __complete, and returns the candidates (the last line is the directive).
func completions(t *testing.T, args ...string) []string {
	t.Helper()
	r := kubeaccess(t, cluster.AdminKubeconfig, append([]string{"__complete"}, args...)...)
	mustSucceed(t, "__complete "+strings.Join(args, " "), r)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], ":") {
		t.Fatalf("__complete %v printed no directive:\n%s", args, r.stdout)
	}
	return lines[:len(lines)-1]
}

// TestCompletionKnowsTheCluster: each dynamic value completes from the
// real control plane.
func TestCompletionKnowsTheCluster(t *testing.T) {
	admin := adminClient(t)
	ctx := t.Context()
	dir := t.TempDir()
	for _, ns := range []string{"compl-one", "compl-two"} {
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.RbacV1().Roles("compl-one").Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "compl-deployer"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "compl-reader"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().ServiceAccounts("compl-one").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "compl-bot"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	key, err := pki.GenerateKey(pki.DefaultKeyType)
	if err != nil {
		t.Fatal(err)
	}
	request, err := pki.CreateRequest(key, pki.Subject("compl-pat", nil))
	if err != nil {
		t.Fatal(err)
	}
	pending, err := csr.Create(ctx, admin, csr.Build("compl-pat", request, csr.MinTTL))
	if err != nil {
		t.Fatal(err)
	}
	r := kubeaccess(t, cluster.AdminKubeconfig, "grant", "compl-ursula", "--revocable", "--out", filepath.Join(dir, "u.kubeconfig"), "-o", "json")
	mustSucceed(t, "grant --revocable", r)

	for _, tc := range []struct {
		args []string
		want []string
		not  []string
	}{
		{[]string{"grant", "x", "-n", "compl-"}, []string{"compl-one", "compl-two"}, nil},
		{[]string{"grant", "x", "--resource", "deploy"}, []string{"deployments.apps"}, []string{"pods"}},
		{[]string{"grant", "x", "--resource", "pods,deployments.apps/sc"}, []string{"pods,deployments.apps/scale"}, nil},
		{[]string{"grant", "x", "--resource", "pods/l"}, []string{"pods/log"}, nil},
		{[]string{"grant", "x", "-n", "compl-one", "--role", "compl-"}, []string{"compl-deployer"}, nil},
		{[]string{"grant", "x", "--clusterrole", "compl-"}, []string{"compl-reader"}, []string{"compl-deployer"}},
		{[]string{"token", "-n", "compl-one", "compl-"}, []string{"compl-bot"}, nil},
		{[]string{"approve", "kubeaccess-compl-"}, []string{pending.Name}, nil},
		{[]string{"deny", "kubeaccess-compl-"}, []string{pending.Name}, nil},
		{[]string{"revoke", "compl-"}, []string{"compl-ursula"}, []string{"compl-pat"}},
		{[]string{"list", "--user", "compl-"}, []string{"compl-ursula"}, nil},
		{[]string{"revoke", "--credential", "kubeaccess:credential:"}, nil, nil},
		{[]string{"can", "compl-ursula", "escal"}, []string{"escalate"}, nil},
		{[]string{"can", "compl-ursula", "get", "secr"}, []string{"secrets"}, nil},
		{[]string{"who-can", "get", "configm"}, []string{"configmaps"}, nil},
	} {
		got := completions(t, tc.args...)
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("__complete %v = %v, want it to offer %q", tc.args, got, w)
			}
		}
		for _, n := range tc.not {
			if slices.Contains(got, n) {
				t.Errorf("__complete %v = %v, offers %q", tc.args, got, n)
			}
		}
	}
	var ursula struct{ Groups []string }
	if err := json.Unmarshal([]byte(r.stdout), &ursula); err != nil || len(ursula.Groups) == 0 {
		t.Fatalf("grant --revocable summary: %v\n%s", err, r.stdout)
	}
	group := ursula.Groups[len(ursula.Groups)-1]
	if got := completions(t, "revoke", "--credential", "kubeaccess:credential:"); len(slices.DeleteFunc(slices.Clone(got), func(g string) bool { return g != group })) != 1 {
		t.Errorf("the revocable credential's group %s is not offered once: %v", group, got)
	}
	if got := completions(t, "revoke", "--credential", "c-"); len(got) == 0 {
		t.Errorf("no record ID offered for --credential c-")
	}
}
