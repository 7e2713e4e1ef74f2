package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubeaccess/kubeaccess/internal/credential"
)

// tokenSummary is the part of "token -o json" the tests read.
type tokenSummary struct {
	Username    string
	Audiences   []string
	BoundSecret string
	ExpiresAt   time.Time
	Applied     []string
	Kubeconfig  string
}

func tokenJSON(t *testing.T, args ...string) tokenSummary {
	t.Helper()
	r := kubeaccess(t, cluster.AdminKubeconfig, append(append([]string{"token"}, args...), "-o", "json")...)
	mustSucceed(t, "kubeaccess token", r)
	var s tokenSummary
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("token -o json: %v\n%s", err, r.stdout)
	}
	return s
}

func whoami(t *testing.T, kubeconfig string) result {
	t.Helper()
	return kubectl(t, kubeconfig, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
}

func TestTokenKubeconfigGrantsExactlyItsRules(t *testing.T) {
	out := filepath.Join(t.TempDir(), "ci-bot.kubeconfig")
	start := time.Now().Truncate(time.Second)
	s := tokenJSON(t, "ci-bot", "-n", "ci", "--create", "--duration", "30m", "--verb", "get,list", "--resource", "pods", "--out", out)
	if s.Username != "system:serviceaccount:ci:ci-bot" {
		t.Errorf("username %q", s.Username)
	}
	r := whoami(t, out)
	mustSucceed(t, "kubectl auth whoami", r)
	if r.stdout != "system:serviceaccount:ci:ci-bot" {
		t.Errorf("whoami = %q, want system:serviceaccount:ci:ci-bot", r.stdout)
	}
	mustSucceed(t, "kubectl get pods -n ci", kubectl(t, out, "get", "pods", "-n", "ci"))
	expectForbidden(t, out, "get", "pods", "-n", "default")
	expectForbidden(t, out, "get", "secrets", "-n", "ci")
	expectForbidden(t, out, "delete", "pod", "anything", "-n", "ci")
	if can := kubectl(t, out, "auth", "can-i", "create", "pods", "-n", "ci"); strings.TrimSpace(can.stdout) != "no" {
		t.Errorf("can-i create pods = %q, want no", can.stdout)
	}

	// The expiry reported is the token's own exp claim.
	cfg, err := clientcmd.LoadFromFile(out)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := credential.ParseToken(cfg.AuthInfos[cfg.Contexts[cfg.CurrentContext].AuthInfo].Token)
	if err != nil {
		t.Fatal(err)
	}
	if !claims.ExpiresAt.Equal(s.ExpiresAt) || claims.ExpiresAt.Before(start.Add(30*time.Minute)) || claims.ExpiresAt.After(time.Now().Add(30*time.Minute)) {
		t.Errorf("reported expiry %s, token's exp %s; want both 30m after issue", s.ExpiresAt, claims.ExpiresAt)
	}
	// TokenRequest only: no legacy token Secret appears.
	secrets, err := adminClient(t).CoreV1().Secrets("ci").List(t.Context(), metav1.ListOptions{FieldSelector: "type=" + string(corev1.SecretTypeServiceAccountToken)})
	if err != nil {
		t.Fatal(err)
	}
	if len(secrets.Items) != 0 {
		t.Errorf("%d legacy service-account token Secrets in ci", len(secrets.Items))
	}
}

func TestTokenDiesWithItsBoundSecret(t *testing.T) {
	out := filepath.Join(t.TempDir(), "lease-bot.kubeconfig")
	s := tokenJSON(t, "lease-bot", "-n", "ci-lease", "--create", "--bound-secret", "lease-bot-lease", "--out", out)
	if s.BoundSecret != "lease-bot-lease" {
		t.Errorf("bound secret %q", s.BoundSecret)
	}
	mustSucceed(t, "whoami before the Secret is deleted", whoami(t, out))
	if err := adminClient(t).CoreV1().Secrets("ci-lease").Delete(t.Context(), "lease-bot-lease", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := whoami(t, out)
		if r.code != 0 && strings.Contains(strings.ToLower(r.stderr), "unauthorized") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the token still works 30s after its Secret was deleted: exit %d %s %s", r.code, r.stdout, r.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestTokenRefusalsCreateNothing(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		args    []string
		wantErr string
	}{
		"missing service account": {[]string{"ghost", "-n", "ghost-ns", "--verb", "get", "--resource", "pods"}, "serviceaccount ghost-ns/ghost does not exist; --create makes it"},
	} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(dir, "ghost.kubeconfig")
			r := kubeaccess(t, cluster.AdminKubeconfig, append([]string{"token", "--out", out}, tc.args...)...)
			mustFailWith(t, name, r, 2, tc.wantErr)
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a refused token wrote %s", out)
			}
		})
	}
	if _, err := adminClient(t).CoreV1().Namespaces().Get(t.Context(), "ghost-ns", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a refused token created namespace ghost-ns (err %v)", err)
	}
}
