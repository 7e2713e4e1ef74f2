package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/renewing"
)

// A renewing kubeconfig (grant --renewing) is used by the real kubectl
// across two renewals, each approved by kubeaccess controller as the
// current certificate's own, with the key never leaving its file; once the
// credential is revoked its next renewal is denied at once and its access
// is gone.
func TestRenewingKubeconfig(t *testing.T) {
	ctl := startController(t, controllerKubeconfig(t), "renewing-a", "renewing-lease")
	waitUntil(t, "the replica leads", 30*time.Second, ctl.leading)
	dir := t.TempDir()
	kc := filepath.Join(dir, "rena.kubeconfig")
	// A 10-minute certificate (the CSR API's least) renewed when 9m50s
	// are left: every 10 seconds, so that no test waits ten minutes.
	granted := grantJSON(t, cluster.AdminKubeconfig, "ctl-renewing", "-g", "ctl-renewers", "-n", "ctl-renewing", "--verb", "get,list", "--resource", "pods",
		"--renewing", "--ttl", "10m", "--renew-before", "9m50s", "--out", kc)
	file := renewing.PathFor(kc)

	user := currentUser(t, kc)
	if user.Exec == nil || len(user.ClientCertificateData) > 0 || len(user.ClientKeyData) > 0 || !strings.HasSuffix(user.Exec.Args[len(user.Exec.Args)-1], ".credential") {
		t.Fatalf("the kubeconfig's user is not the credential plugin: %+v", user)
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the credential file: %v %v", st, err)
	}
	fingerprint := func() string {
		f, err := renewing.Read(file)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := pki.ParseCertificate(f.Certificate)
		if err != nil {
			t.Fatal(err)
		}
		return pki.Describe(cert).SHA256
	}
	store := records.Store{Client: adminClient(t), Namespace: records.DefaultNamespace}
	current := strings.TrimPrefix(granted.Record, records.DefaultNamespace+"/")
	first := fingerprint()
	if records.CertificateID(first) != current {
		t.Fatalf("the credential file's certificate is not the one granted: %s, record %s", records.CertificateID(first), current)
	}
	mustSucceed(t, "kubectl with the renewing kubeconfig", kubectl(t, kc, "get", "pods", "-n", "ctl-renewing"))

	seen := []string{first}
	for renewal := 1; renewal <= 2; renewal++ {
		time.Sleep(11 * time.Second)
		r := kubectl(t, kc, "get", "pods", "-n", "ctl-renewing")
		mustSucceed(t, "kubectl when the certificate is due", r)
		now := fingerprint()
		if now == seen[len(seen)-1] {
			t.Fatalf("renewal %d: the certificate was not renewed\n%s", renewal, r.stderr)
		}
		old, err := store.Get(t.Context(), current)
		if err != nil || old.ReplacedBy != records.CertificateID(now) {
			t.Fatalf("renewal %d: record %s is not replaced by the new certificate's: %+v %v", renewal, current, old, err)
		}
		current = old.ReplacedBy
		seen = append(seen, now)
		whoami := kubectl(t, kc, "auth", "whoami")
		if !strings.Contains(whoami.stdout, "ctl-renewing") || !strings.Contains(whoami.stdout, "ctl-renewers") {
			t.Errorf("renewal %d: the API server does not see ctl-renewing of ctl-renewers:\n%s", renewal, whoami.stdout)
		}
	}
	// The key never changes, and never left the file: each renewal asked
	// for the same public key.
	f, err := renewing.Read(file)
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.ParseKey(f.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := pki.ParseCertificate(f.Certificate)
	if err := pki.CheckIssued(cert, key.Public(), "ctl-renewing", []string{"ctl-renewers"}); err != nil {
		t.Errorf("the renewed certificate is not for the credential file's key: %v", err)
	}

	// Revoked: its access goes at once, and so does the binding that let
	// it ask for renewals. Even through a binding someone else made (here
	// to its group), its next renewal is denied.
	mustSucceed(t, "someone lets group ctl-renewers ask for certificates", kubectl(t, cluster.AdminKubeconfig, "create", "clusterrolebinding", "ctl-renewers-renewer",
		"--clusterrole", "kubeaccess-renewer", "--group", "ctl-renewers"))
	admin := adminClient(t)
	t.Cleanup(func() {
		// Other tests share this cluster: leave no binding of ours behind.
		if err := admin.RbacV1().ClusterRoleBindings().Delete(context.Background(), "ctl-renewers-renewer", metav1.DeleteOptions{}); err != nil {
			t.Error(err)
		}
	})
	if r := kubeaccess(t, cluster.AdminKubeconfig, "revoke", "ctl-renewing"); r.code != 1 || !strings.Contains(r.stderr, "may still create certificatesigningrequests") {
		t.Fatalf("revoke does not say that its group's binding still lets the user ask for certificates: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	time.Sleep(11 * time.Second)
	r := kubectl(t, kc, "get", "pods", "-n", "ctl-renewing")
	if r.code == 0 || !strings.Contains(r.stderr, "renewal was refused") || !strings.Contains(r.stderr, "revoked") {
		t.Errorf("after revoke, kubectl with the renewing kubeconfig: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if fingerprint() != seen[len(seen)-1] {
		t.Errorf("a revoked credential was renewed")
	}
	var reqs struct {
		Items []struct {
			Spec   struct{ Username string }
			Status struct {
				Conditions []struct{ Type, Message string }
			}
		}
	}
	out := kubectl(t, cluster.AdminKubeconfig, "get", "csr", "-o", "json")
	if err := json.Unmarshal([]byte(out.stdout), &reqs); err != nil {
		t.Fatal(err)
	}
	denied := 0
	for _, req := range reqs.Items {
		for _, c := range req.Status.Conditions {
			if req.Spec.Username == "ctl-renewing" && c.Type == "Denied" && strings.Contains(c.Message, "revoked") {
				denied++
			}
		}
	}
	if denied != 1 {
		t.Errorf("want the revoked credential's one renewal denied, found %d denied", denied)
	}
}

// approve --renewing writes, on the admin's side, a key-less kubeconfig
// that says it may renew itself; kubeaccess complete, on the user's side,
// makes it renew itself with the user's key, which never left; the real
// kubectl then uses it across a renewal. Moved elsewhere, complete sets it
// up again there.
func TestApproveRenewingIsCompletedWhereTheKeyIs(t *testing.T) {
	ctl := startController(t, controllerKubeconfig(t), "renewing-b", "renewing-lease-b")
	waitUntil(t, "the replica leads", 30*time.Second, ctl.leading)
	userDir, adminDir := t.TempDir(), t.TempDir()
	keyPath := requestKey(t, userDir, "rhea", "-g", "rhea-team")
	afterTest(t, "revoke", "rhea")
	sent := filepath.Join(adminDir, "rhea.kubeconfig")
	mustSucceed(t, "approve --renewing", kubeaccess(t, cluster.AdminKubeconfig, "approve", "--csr-file", filepath.Join(userDir, "rhea.csr"), "--ttl", "10m",
		"-n", "rhea-ns", "--verb", "get,list", "--resource", "pods", "--renewing", "--renew-before", "9m50s", "--out", sent))
	auth := currentUser(t, sent)
	if hint, ok := kubeconfig.RenewingOf(auth); !ok || hint.Lifetime != "10m0s" || hint.RenewBefore != "9m50s" || len(auth.ClientKeyData) > 0 {
		t.Fatalf("the approved kubeconfig does not say it renews itself, or holds a key: %+v %v", hint, ok)
	}

	// On the user's side.
	kc := filepath.Join(userDir, "rhea.kubeconfig")
	data, err := os.ReadFile(sent)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, kc, string(data))
	r := kubeaccess(t, kc, "complete", kc, "--key", keyPath)
	mustSucceed(t, "kubeaccess complete", r)
	if !strings.Contains(r.stdout, "works: the API server sees rhea") || !strings.Contains(r.stderr, "now renews itself") {
		t.Errorf("complete says:\n%s%s", r.stdout, r.stderr)
	}
	if auth := currentUser(t, kc); auth.Exec == nil || len(auth.ClientKeyData) > 0 || len(auth.ClientCertificateData) > 0 {
		t.Fatalf("the completed kubeconfig's user is not the plugin: %+v", auth)
	}
	file := renewing.PathFor(kc)
	f, err := renewing.Read(file)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := os.ReadFile(keyPath)
	if string(f.Key) != string(key) || f.User != "rhea" || strings.Join(f.Groups, ",") != "rhea-team" || f.Lifetime != "10m0s" {
		t.Fatalf("the credential file: user %q groups %v lifetime %s, the user's key %v", f.User, f.Groups, f.Lifetime, string(f.Key) == string(key))
	}
	mustSucceed(t, "kubectl with the completed kubeconfig", kubectl(t, kc, "get", "pods", "-n", "rhea-ns"))
	time.Sleep(11 * time.Second)
	mustSucceed(t, "kubectl when the certificate is due", kubectl(t, kc, "get", "pods", "-n", "rhea-ns"))
	if g, err := renewing.Read(file); err != nil || string(g.Certificate) == string(f.Certificate) {
		t.Fatalf("the certificate was not renewed: %v", err)
	}

	// Moved: set up again where it now is.
	moved := filepath.Join(t.TempDir(), "rhea.kubeconfig")
	for _, p := range []string{kc, file} {
		if err := os.Rename(p, strings.Replace(p, kc, moved, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if r := kubectl(t, moved, "get", "pods", "-n", "rhea-ns"); r.code == 0 {
		t.Fatal("a moved renewing kubeconfig found its old credential file")
	}
	mustSucceed(t, "kubeaccess complete on a moved kubeconfig", kubeaccess(t, moved, "complete", moved))
	mustSucceed(t, "kubectl with the moved kubeconfig", kubectl(t, moved, "get", "pods", "-n", "rhea-ns"))
}

// A bot's token that renews itself (token --renewing): the real kubectl
// uses it across a renewal, each token asked for by the one before through
// the TokenRequest API; revoked, its next renewal is refused and not asked
// again, so it ends with its last token.
func TestRenewingToken(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "bot.kubeconfig")
	mustSucceed(t, "token --renewing", kubeaccess(t, cluster.AdminKubeconfig, "token", "renew-bot", "-n", "renew-bots", "--create", "--verb", "get,list", "--resource", "pods",
		"--renewing", "--duration", "10m", "--renew-before", "9m50s", "--out", kc))
	user := "system:serviceaccount:renew-bots:renew-bot"
	afterTest(t, "revoke", user)
	if auth := currentUser(t, kc); auth.Exec == nil || auth.Token != "" {
		t.Fatalf("the kubeconfig's user is not the credential plugin: %+v", auth)
	}
	file := renewing.PathFor(kc)
	token := func() string {
		f, err := renewing.Read(file)
		if err != nil {
			t.Fatal(err)
		}
		return f.Token
	}
	first := token()
	mustSucceed(t, "kubectl with the renewing token", kubectl(t, kc, "get", "pods", "-n", "renew-bots"))
	time.Sleep(11 * time.Second)
	r := kubectl(t, kc, "auth", "whoami")
	mustSucceed(t, "kubectl when the token is due", r)
	second := token()
	if second == first || second == "" || !strings.Contains(r.stdout, user) {
		t.Fatalf("the token was not renewed (%v), or is not the bot's:\n%s%s", second != first, r.stdout, r.stderr)
	}

	// Revoked: the Role that let it ask goes with its access.
	mustSucceed(t, "revoke the bot", kubeaccess(t, cluster.AdminKubeconfig, "revoke", user))
	time.Sleep(11 * time.Second)
	r = kubectl(t, kc, "get", "pods", "-n", "renew-bots")
	if r.code == 0 || !strings.Contains(r.stderr, "renewal was refused") {
		t.Errorf("after revoke, kubectl with the renewing token: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	f, err := renewing.Read(file)
	if err != nil || f.Token != second || f.Refused == "" {
		t.Errorf("a revoked token was renewed, or its refusal not kept: %v %q", f.Token != second, f.Refused)
	}
}

// A team file's spec.renewing: apply -f binds each user's certificate the
// renewer role and says so in the kubeconfig it writes, which kubeaccess
// complete, where the kubeconfig is handed, makes renew itself.
func TestApplyRenewingTeam(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "team.yaml")
	writeFile(t, file, `apiVersion: kubeaccess.io/v1alpha1
kind: TeamAccess
metadata:
  name: renewing-team
spec:
  ttl: 1h
  renewing:
    renewBefore: 10m
    offlineFor: 72h
  roles:
    reader:
      rules:
      - verbs: [get, list]
        resources: [pods]
  groups:
    rteam:
    - role: reader
      namespaces: [renewing-team]
  users:
  - name: rtom
    groups: [rteam]
`)
	out := filepath.Join(dir, "out")
	mustSucceed(t, "apply -f a renewing team", kubeaccess(t, cluster.AdminKubeconfig, "apply", "-f", file, "--out-dir", out))
	afterTest(t, "revoke", "rtom")
	written := filepath.Join(out, "users", "rtom.kubeconfig")
	hint, ok := kubeconfig.RenewingOf(currentUser(t, written))
	if !ok || hint.Lifetime != "1h0m0s" || hint.RenewBefore != "10m0s" || hint.OfflineFor != "72h0m0s" {
		t.Fatalf("the team's kubeconfig does not say it renews itself as the file says: %+v %v", hint, ok)
	}
	// Handed to rtom, who has kubeaccess.
	mine := filepath.Join(t.TempDir(), "rtom.kubeconfig")
	data, err := os.ReadFile(written)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, mine, string(data))
	mustSucceed(t, "kubeaccess complete", kubeaccess(t, mine, "complete", mine))
	f, err := renewing.Read(renewing.PathFor(mine))
	if err != nil || f.RenewBefore != "10m0s" || f.OfflineFor != "72h0m0s" || f.User != "rtom" {
		t.Fatalf("the credential file: %+v %v", f, err)
	}
	mustSucceed(t, "kubectl with it", kubectl(t, mine, "get", "pods", "-n", "renewing-team"))
	if r := kubectl(t, cluster.AdminKubeconfig, "get", "clusterrolebinding", "kubeaccess:user:rtom+clusterrole:kubeaccess-renewer"); r.code != 0 {
		t.Errorf("apply made no renewer binding for rtom: %s", r.stderr)
	}
}
