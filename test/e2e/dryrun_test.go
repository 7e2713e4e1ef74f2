package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeaccess/kubeaccess/internal/cmd/list"
	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/labels"
)

// requestsOf is how many CertificateSigningRequests user has.
func requestsOf(t *testing.T, user string) int {
	t.Helper()
	reqs, err := adminClient(t).CertificatesV1().CertificateSigningRequests().List(t.Context(), metav1.ListOptions{LabelSelector: labels.User + "=" + csr.LabelValue(user)})
	if err != nil {
		t.Fatal(err)
	}
	return len(reqs.Items)
}

// Every command that changes the cluster takes --dry-run: client shows what
// it would do, server has the API server judge it; neither changes
// anything, in the cluster or on disk.
func TestDryRunOfEveryCommandThatChangesTheCluster(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "drew.kubeconfig")
	mustSucceed(t, "grant", kubeaccess(t, cluster.AdminKubeconfig, "grant", "drew", "-n", "dry-change", "--verb", "get,list", "--resource", "pods", "--out", out))
	before, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	requests := requestsOf(t, "drew")
	unchanged := func(what string) {
		t.Helper()
		if now, _ := os.ReadFile(out); !bytes.Equal(now, before) {
			t.Errorf("%s rewrote %s", what, out)
		}
		if n := requestsOf(t, "drew"); n != requests {
			t.Errorf("%s left %d certificate requests for drew, want %d", what, n, requests)
		}
		mustSucceed(t, what+": drew still lists pods", kubectl(t, out, "get", "pods", "-n", "dry-change"))
		l := kubeaccess(t, cluster.AdminKubeconfig, "list", "--user", "drew", "-o", "json")
		if entries := decodeItems[list.Entry](t, "list", l.stdout); len(entries) != 1 || entries[0].Status != "active" || entries[0].Revoked != nil {
			t.Errorf("%s changed drew's record: %s", what, l.stdout)
		}
	}

	for _, mode := range []string{"client", "server"} {
		suffix := map[string]string{"client": "(dry run)", "server": "(server dry run)"}[mode]
		r := kubeaccess(t, cluster.AdminKubeconfig, "renew", out, "--dry-run="+mode)
		mustSucceed(t, "renew --dry-run="+mode, r)
		if !strings.Contains(r.stdout, "kind: CertificateSigningRequest") || !strings.Contains(r.stderr, "would be renewed") {
			t.Errorf("renew --dry-run=%s does not show the request it would make:\n%s\n%s", mode, r.stdout, r.stderr)
		}
		unchanged("renew --dry-run=" + mode)

		r = kubeaccess(t, cluster.AdminKubeconfig, "revoke", "drew", "--dry-run="+mode)
		mustSucceed(t, "revoke --dry-run="+mode, r)
		for _, want := range []string{`deleted RoleBinding dry-change/kubeaccess:user:drew \(no subject left\) ` + regexp.QuoteMeta(suffix),
			`deleted Role dry-change/kubeaccess:user:drew \(nothing binds it any more\) ` + regexp.QuoteMeta(suffix), `marked record c-[0-9a-f]+ revoked ` + regexp.QuoteMeta(suffix)} {
			if !regexpLine(r.stdout, want) {
				t.Errorf("revoke --dry-run=%s does not say %q:\n%s", mode, want, r.stdout)
			}
		}
		unchanged("revoke --dry-run=" + mode)

		reqDir := t.TempDir()
		r = runIn(t, reqDir, cluster.AdminKubeconfig, kubeaccessBin, "request", "erin", "-g", "dev", "--submit", "--dry-run="+mode)
		mustSucceed(t, "request --submit --dry-run="+mode, r)
		if !strings.Contains(r.stdout, "kind: CertificateSigningRequest") || !strings.Contains(r.stdout, "signerName: kubernetes.io/kube-apiserver-client") {
			t.Errorf("request --dry-run=%s does not show the request:\n%s", mode, r.stdout)
		}
		if mode == "server" && !strings.Contains(r.stdout, "uid: ") {
			t.Errorf("request --dry-run=server does not show the request as the server returned it:\n%s", r.stdout)
		}
		if files, _ := os.ReadDir(reqDir); len(files) != 0 || requestsOf(t, "erin") != 0 {
			t.Errorf("request --dry-run=%s wrote %d files or submitted a request", mode, len(files))
		}
	}

	reqDir := t.TempDir()
	r := runIn(t, reqDir, cluster.AdminKubeconfig, kubeaccessBin, "request", "fay", "--submit")
	mustSucceed(t, "request --submit", r)
	name := regexp.MustCompile(`CertificateSigningRequest (\S+)\.`).FindStringSubmatch(r.stdout)
	if name == nil {
		t.Fatalf("request --submit names no request:\n%s", r.stdout)
	}
	for _, mode := range []string{"client", "server"} {
		r = kubeaccess(t, cluster.AdminKubeconfig, "deny", name[1], "--reason", "wrong team", "--dry-run="+mode)
		mustSucceed(t, "deny --dry-run="+mode, r)
		req, err := adminClient(t).CertificatesV1().CertificateSigningRequests().Get(t.Context(), name[1], metav1.GetOptions{})
		if err != nil || csr.State(req) != "" {
			t.Errorf("deny --dry-run=%s decided the request: %v %q", mode, err, csr.State(req))
		}
	}
	mustFailWith(t, "request --dry-run without --submit", kubeaccess(t, cluster.AdminKubeconfig, "request", "gil", "--dry-run"), 2, "--dry-run goes with --submit")
}
