package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/pki"
)

// requestKey runs "kubeaccess request" with no cluster at hand and
// returns the key file it wrote.
func requestKey(t *testing.T, dir, user string, args ...string) string {
	t.Helper()
	r := runWithStdin(t, nil, kubeaccessBin, append([]string{"request", user, "--dir", dir}, args...)...)
	mustSucceed(t, "kubeaccess request "+user, r)
	keyPath := filepath.Join(dir, user+".key")
	info, err := os.Stat(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %o, want 600", keyPath, info.Mode().Perm())
	}
	return keyPath
}

// keyBody is a stretch of a PEM key's base64 that cannot occur by chance.
func keyBody(t *testing.T, keyPath string) string {
	t.Helper()
	data, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return lines[1][:32]
}

func TestSplitFlowKeepsTheKeyWithTheUser(t *testing.T) {
	userDir, adminDir := t.TempDir(), t.TempDir()
	keyPath := requestKey(t, userDir, "erin", "-g", "dev")
	otherKey := requestKey(t, t.TempDir(), "erin", "-g", "dev")

	out := filepath.Join(adminDir, "erin.kubeconfig")
	r := kubeaccess(t, cluster.AdminKubeconfig, "approve", "--csr-file", filepath.Join(userDir, "erin.csr"),
		"-n", "split", "--verb", "get,list", "--resource", "pods", "--out", out, "-o", "json")
	mustSucceed(t, "kubeaccess approve --csr-file", r)
	var s struct {
		User   string
		CSR    string `json:"certificateSigningRequest"`
		Groups []string
	}
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("approve -o json: %v\n%s", err, r.stdout)
	}
	if s.User != "erin" || strings.Join(s.Groups, ",") != "dev" {
		t.Errorf("approved %q in %v; want erin in [dev]", s.User, s.Groups)
	}

	// Nothing the admin side wrote, printed or sent holds a private key.
	written, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	req, err := adminClient(t).CertificatesV1().CertificateSigningRequests().Get(t.Context(), s.CSR, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sent, _ := json.Marshal(req)
	body := keyBody(t, keyPath)
	for what, text := range map[string]string{"kubeconfig": string(written), "stdout": r.stdout, "stderr": r.stderr, "CSR object": string(sent)} {
		if strings.Contains(text, "PRIVATE KEY") || strings.Contains(text, body) {
			t.Errorf("the admin side's %s holds a private key", what)
		}
	}

	wrong := kubeaccess(t, "", "complete", out, "--key", otherKey)
	mustFailWith(t, "complete with another key", wrong, 2, "does not match the certificate in "+out)

	done := kubeaccess(t, "", "complete", out, "--key", keyPath)
	mustSucceed(t, "kubeaccess complete", done)
	if !strings.Contains(done.stdout, "the API server sees erin in [dev system:authenticated]") {
		t.Errorf("complete printed:\n%s", done.stdout)
	}
	if info, _ := os.Stat(out); info.Mode().Perm() != 0o600 {
		t.Errorf("completed kubeconfig has mode %o, want 600", info.Mode().Perm())
	}
	who := whoami(t, out)
	mustSucceed(t, "kubectl auth whoami", who)
	if who.stdout != "erin" {
		t.Errorf("whoami = %q, want erin", who.stdout)
	}
	mustSucceed(t, "kubectl get pods -n split", kubectl(t, out, "get", "pods", "-n", "split"))
	expectForbidden(t, out, "get", "pods", "-n", "default")
}

func TestApproveByNameListsDeniesAndRefuses(t *testing.T) {
	dir := t.TempDir()
	submit := func(user string) string {
		t.Helper()
		r := kubeaccess(t, cluster.AdminKubeconfig, "request", user, "-g", "qa", "--dir", dir, "--submit", "--ttl", "1h")
		mustSucceed(t, "request --submit", r)
		m := regexp.MustCompile(`Submitted CertificateSigningRequest (\S+)\.`).FindStringSubmatch(r.stdout)
		if m == nil {
			t.Fatalf("request --submit did not name the CSR:\n%s", r.stdout)
		}
		return m[1]
	}
	fay, gus := submit("fay"), submit("gus")

	list := kubeaccess(t, cluster.AdminKubeconfig, "approve", "-o", "json")
	mustSucceed(t, "approve (list)", list)
	var pending struct {
		Kind  string
		Items []struct {
			Name, User, Lifetime string
			Groups               []string
		}
	}
	if err := json.Unmarshal([]byte(list.stdout), &pending); err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, p := range pending.Items {
		if (p.Name == fay && p.User == "fay" || p.Name == gus && p.User == "gus") && p.Lifetime == "1h0m0s" && strings.Join(p.Groups, ",") == "qa" {
			found++
		}
	}
	if found != 2 {
		t.Errorf("pending list does not show fay's and gus's requests as submitted:\n%s", list.stdout)
	}

	mustSucceed(t, "deny", kubeaccess(t, cluster.AdminKubeconfig, "deny", fay, "--reason", "not today"))
	req, err := adminClient(t).CertificatesV1().CertificateSigningRequests().Get(t.Context(), fay, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if csr.State(req) != "denied" || req.Status.Conditions[0].Message != "not today" {
		t.Errorf("after deny: state %q, conditions %+v", csr.State(req), req.Status.Conditions)
	}
	mustFailWith(t, "approve a denied request", kubeaccess(t, cluster.AdminKubeconfig, "approve", fay, "--out", filepath.Join(dir, "fay.kubeconfig")), 2,
		"CertificateSigningRequest "+fay+" is already denied")

	out := filepath.Join(dir, "gus.kubeconfig")
	mustSucceed(t, "approve by name", kubeaccess(t, cluster.AdminKubeconfig, "approve", gus, "--out", out))
	mustSucceed(t, "complete", kubeaccess(t, "", "complete", out, "--key", filepath.Join(dir, "gus.key")))
	if who := whoami(t, out); who.stdout != "gus" {
		t.Errorf("whoami = %q, want gus", who.stdout)
	}

	// A request made by hand for a reserved group is refused, and stays pending.
	key, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	pemReq, err := pki.CreateRequest(key, pki.Subject("mallory", []string{"system:nodes"}))
	if err != nil {
		t.Fatal(err)
	}
	bad, err := csr.Create(t.Context(), adminClient(t), csr.Build("mallory", pemReq, csr.MinTTL))
	if err != nil {
		t.Fatal(err)
	}
	mustFailWith(t, "approve a reserved group", kubeaccess(t, cluster.AdminKubeconfig, "approve", bad.Name, "--out", filepath.Join(dir, "m.kubeconfig")), 2,
		`refusing to approve: group "system:nodes" is in the reserved system: namespace`)
	got, err := adminClient(t).CertificatesV1().CertificateSigningRequests().Get(t.Context(), bad.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if csr.State(got) != "" {
		t.Errorf("a refused request is now %s", csr.State(got))
	}
}

func TestSignOfflineForTheSplitFlow(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		user string
		args []string
	}{
		"binding access": {"hal", []string{"-n", "signed", "--verb", "get,list", "--resource", "pods"}},
		"offline":        {"ida", []string{"--offline", "--allow-privileged"}},
	} {
		t.Run(name, func(t *testing.T) {
			keyPath := requestKey(t, dir, tc.user, "-g", "dev")
			out := filepath.Join(dir, tc.user+".kubeconfig")
			r := kubeaccess(t, cluster.AdminKubeconfig, append([]string{"sign", filepath.Join(dir, tc.user+".csr"),
				"--ca-cert", cluster.CACert, "--ca-key", cluster.CAKey, "--ttl", "3h", "--out", out, "-o", "json"}, tc.args...)...)
			mustSucceed(t, "kubeaccess sign", r)
			var s grantSummary
			if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
				t.Fatal(err)
			}
			if s.IssuedVia != "offline-ca" || s.Certificate.NotAfter.Sub(s.Certificate.NotBefore) != 3*time.Hour+5*time.Minute {
				t.Errorf("issued via %q, valid %s to %s; want offline-ca, 3h plus 5m backdating", s.IssuedVia, s.Certificate.NotBefore, s.Certificate.NotAfter)
			}
			mustSucceed(t, "complete", kubeaccess(t, "", "complete", out, "--key", keyPath))
			if who := whoami(t, out); who.stdout != tc.user {
				t.Errorf("whoami = %q (%s), want %s", who.stdout, who.stderr, tc.user)
			}
		})
	}
	mustSucceed(t, "kubectl get pods -n signed as hal", kubectl(t, filepath.Join(dir, "hal.kubeconfig"), "get", "pods", "-n", "signed"))
	expectForbidden(t, filepath.Join(dir, "hal.kubeconfig"), "get", "pods", "-n", "default")
}

func TestSplitFlowRevocable(t *testing.T) {
	dir := t.TempDir()
	keyPath := requestKey(t, dir, "rory", "-g", "dev", "--revocable")
	csrFile := filepath.Join(dir, "rory.csr")
	plainKey := requestKey(t, t.TempDir(), "rory", "-g", "dev")
	mustFailWith(t, "approve --revocable of a plain request", kubeaccess(t, cluster.AdminKubeconfig, "approve", "--csr-file", strings.TrimSuffix(plainKey, ".key")+".csr", "--revocable"), 2,
		"--revocable needs a request made with kubeaccess request --revocable")
	mustFailWith(t, "approve of a revocable request without --revocable", kubeaccess(t, cluster.AdminKubeconfig, "approve", "--csr-file", csrFile, "--out", filepath.Join(dir, "x.kubeconfig")), 2,
		"is reserved for the per-credential groups kubeaccess mints")

	out := filepath.Join(dir, "rory.kubeconfig")
	r := kubeaccess(t, cluster.AdminKubeconfig, "approve", "--csr-file", csrFile, "--revocable", "-n", "split-revocable", "--verb", "get,list", "--resource", "pods", "--out", out, "-o", "json")
	mustSucceed(t, "approve --revocable", r)
	var s struct{ Record string }
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || s.Record == "" {
		t.Fatalf("approve summary: %v %s", err, r.stdout)
	}
	mustSucceed(t, "complete", kubeaccess(t, "", "complete", out, "--key", keyPath))
	mustSucceed(t, "rory lists pods", kubectl(t, out, "get", "pods", "-n", "split-revocable"))
	mustSucceed(t, "revoke --credential", kubeaccess(t, cluster.AdminKubeconfig, "revoke", "--credential", strings.TrimPrefix(s.Record, "kubeaccess-system/")))
	expectForbidden(t, out, "get", "pods", "-n", "split-revocable")
	// The same request cannot be approved again to get the group back.
	mustFailWith(t, "approve the same revocable request again", kubeaccess(t, cluster.AdminKubeconfig, "approve", "--csr-file", csrFile, "--revocable", "--out", filepath.Join(dir, "again.kubeconfig")), 2,
		"a request may not borrow it")
}
