package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubeaccess/kubeaccess/internal/cmd/list"
	"github.com/kubeaccess/kubeaccess/internal/credential"
	"github.com/kubeaccess/kubeaccess/internal/pki"
)

// userEntry returns the certificate and token of a kubeconfig's user entry.
func userEntry(t *testing.T, path, user string) (certSerial string, token string) {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	auth := cfg.AuthInfos[user]
	if auth == nil {
		t.Fatalf("%s has no user %s", path, user)
	}
	if len(auth.ClientCertificateData) > 0 {
		cert, err := pki.ParseCertificate(auth.ClientCertificateData)
		if err != nil {
			t.Fatal(err)
		}
		return cert.SerialNumber.Text(16), ""
	}
	return "", auth.Token
}

func TestRenewReplacesTheCredentialByItsPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rena.kubeconfig")
	s := grantJSON(t, cluster.AdminKubeconfig, "rena", "-n", "renew", "--verb", "get,list", "--resource", "pods", "--ttl", "2h", "--out", path)
	grantJSON(t, cluster.AdminKubeconfig, "renb", "--merge", path)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	idle := kubeaccess(t, cluster.AdminKubeconfig, "renew", path, "--within", "1h")
	mustSucceed(t, "renew --within 1h", idle)
	if !strings.Contains(idle.stdout, "nothing to do") {
		t.Errorf("renew --within far from expiry said:\n%s", idle.stdout)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("renew --within changed the file though nothing was due")
	}

	time.Sleep(1100 * time.Millisecond) // a later second, so the new expiry differs
	mustSucceed(t, "renew", kubeaccess(t, cluster.AdminKubeconfig, "renew", path, "--within", "3h"))
	serial, _ := userEntry(t, path, "rena@kubeaccess-test")
	if serial == s.Certificate.Serial {
		t.Error("renew kept the old certificate")
	}
	if renb, _ := userEntry(t, path, "renb@kubeaccess-test"); renb == "" {
		t.Error("renew lost the file's other user")
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Errorf("renewed file has mode %o", info.Mode().Perm())
	}
	mustSucceed(t, "kubectl get pods as renewed rena", kubectl(t, path, "get", "pods", "-n", "renew"))

	l := kubeaccess(t, cluster.AdminKubeconfig, "list", "--user", "rena", "--all", "-o", "json")
	mustSucceed(t, "list", l)
	entries := decodeItems[list.Entry](t, "list", l.stdout)
	if len(entries) != 2 {
		t.Fatalf("rena has %d records after renew, want 2:\n%s", len(entries), l.stdout)
	}
	old, fresh := entries[0], entries[1]
	if old.Serial != s.Certificate.Serial || fresh.Serial != serial || fresh.Replaces != old.ID || old.ReplacedBy != fresh.ID {
		t.Errorf("records not linked: old %s (%s, replaced by %s), new %s (%s, replaces %s)", old.ID, old.Serial, old.ReplacedBy, fresh.ID, fresh.Serial, fresh.Replaces)
	}
	if !fresh.NotAfter.After(old.NotAfter) || fresh.TTL != "2h0m0s" || !slices.Equal(fresh.Access, old.Access) {
		t.Errorf("renewed record: expires %s (old %s), ttl %s, access %v (old %v)", fresh.NotAfter, old.NotAfter, fresh.TTL, fresh.Access, old.Access)
	}
}

func TestRenewAToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "renew-bot.kubeconfig")
	tokenJSON(t, "renew-bot", "-n", "renew-tokens", "--create", "--duration", "20m", "--verb", "get", "--resource", "pods", "--out", path)
	user := "system:serviceaccount:renew-tokens:renew-bot@kubeaccess-test"
	_, oldToken := userEntry(t, path, user)
	oldClaims, _ := credential.ParseToken(oldToken)
	time.Sleep(1100 * time.Millisecond) // a later second, so the new exp differs
	mustSucceed(t, "renew token", kubeaccess(t, cluster.AdminKubeconfig, "renew", path))
	_, newToken := userEntry(t, path, user)
	newClaims, err := credential.ParseToken(newToken)
	if err != nil {
		t.Fatal(err)
	}
	if newToken == oldToken || !newClaims.ExpiresAt.After(oldClaims.ExpiresAt) {
		t.Errorf("renew gave token expiring %s, old one %s", newClaims.ExpiresAt, oldClaims.ExpiresAt)
	}
	if got := time.Until(newClaims.ExpiresAt); got < 18*time.Minute || got > 21*time.Minute {
		t.Errorf("renewed token lasts %s; want the recorded 20m", got)
	}
	if who := whoami(t, path); who.stdout != "system:serviceaccount:renew-tokens:renew-bot" {
		t.Errorf("whoami = %q %s", who.stdout, who.stderr)
	}
}
