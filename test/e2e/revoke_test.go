package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeaccess/kubeaccess/internal/cmd/list"
	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/pki"
)

func TestRevokeTakesAwayOneUsersAccess(t *testing.T) {
	dir := t.TempDir()
	ana, ben := filepath.Join(dir, "ana.kubeconfig"), filepath.Join(dir, "ben.kubeconfig")
	for user, out := range map[string]string{"ana": ana, "ben": ben} {
		grantJSON(t, cluster.AdminKubeconfig, user, "-g", "dev", "-n", "revoke", "--verb", "get,list", "--resource", "pods", "--out", out)
	}
	mustSucceed(t, "ana lists pods before", kubectl(t, ana, "get", "pods", "-n", "revoke"))

	r := kubeaccess(t, cluster.AdminKubeconfig, "revoke", "ana")
	mustSucceed(t, "kubeaccess revoke ana", r)
	for _, want := range []string{
		"deleted RoleBinding revoke/kubeaccess:user:ana (no subject left)",
		"deleted Role revoke/kubeaccess:user:ana (nothing binds it any more)",
		"checked: the API server now denies ana all 2 permissions those bindings gave",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("revoke did not say %q:\n%s", want, r.stdout)
		}
	}
	// Notes are for the person, on stderr; stdout holds what was done.
	if !strings.Contains(r.stderr, "note: certificate ") || !strings.Contains(r.stderr, "still authenticates as ana until") || strings.Contains(r.stdout, "note:") {
		t.Errorf("revoke did not note on stderr (only) that the certificate still authenticates:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	// ana's certificate still authenticates, and is now forbidden; ben is unaffected.
	if who := whoami(t, ana); who.stdout != "ana" {
		t.Errorf("ana's certificate no longer authenticates: %q %s", who.stdout, who.stderr)
	}
	expectForbidden(t, ana, "get", "pods", "-n", "revoke")
	mustSucceed(t, "ben lists pods after", kubectl(t, ben, "get", "pods", "-n", "revoke"))

	l := kubeaccess(t, cluster.AdminKubeconfig, "list", "--all", "--user", "ana", "-o", "json")
	mustSucceed(t, "list --all", l)
	entries := decodeItems[list.Entry](t, "list", l.stdout)
	if len(entries) != 1 || entries[0].Status != "revoked" || entries[0].RevokedBy != "admin" {
		t.Errorf("ana's records after revoke: %+v", entries)
	}
	if hidden := kubeaccess(t, cluster.AdminKubeconfig, "list", "--user", "ana", "-o", "json"); len(decodeItems[list.Entry](t, "list", hidden.stdout)) != 0 {
		t.Errorf("a revoked credential is listed without --all: %s", hidden.stdout)
	}
}

func TestRevokeSaysWhatStillGivesAccess(t *testing.T) {
	out := filepath.Join(t.TempDir(), "cy.kubeconfig")
	grantJSON(t, cluster.AdminKubeconfig, "cy", "-g", "crew", "-n", "revoke-group", "--bind-group", "crew", "--verb", "get", "--resource", "pods", "--out", out)
	r := kubeaccess(t, cluster.AdminKubeconfig, "revoke", "cy")
	mustFailWith(t, "revoke of group-bound access", r, 1, "cy may still get pods in namespace revoke-group, through a binding of one of their groups")
	if !strings.Contains(r.stderr, "still in place (not touched): RoleBinding revoke-group/kubeaccess:group:crew gives group crew the Role kubeaccess:group:crew") {
		t.Errorf("revoke did not name the group binding on stderr:\n%s", r.stderr)
	}
	if can := kubectl(t, out, "auth", "can-i", "get", "pods", "-n", "revoke-group"); strings.TrimSpace(can.stdout) != "yes" {
		t.Errorf("through the untouched group binding cy should still get pods; can-i says %q", can.stdout)
	}
	mustFailWith(t, "revoke of a stranger", kubeaccess(t, cluster.AdminKubeconfig, "revoke", "nobody-at-all"), 2, "no records of nobody-at-all")
}

func TestRevokeOneRevocableCertificate(t *testing.T) {
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first.kubeconfig"), filepath.Join(dir, "second.kubeconfig")
	var ids []string
	for _, out := range []string{first, second} {
		r := kubeaccess(t, cluster.AdminKubeconfig, "grant", "rhea", "-g", "dev", "--revocable", "-n", "revocable", "--verb", "get,list", "--resource", "pods", "--out", out, "-o", "json")
		mustSucceed(t, "grant --revocable", r)
		var s struct {
			Record    string
			Revocable bool
		}
		if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || !s.Revocable {
			t.Fatalf("grant --revocable summary: %v %s", err, r.stdout)
		}
		ids = append(ids, strings.TrimPrefix(s.Record, "kubeaccess-system/"))
	}
	mustSucceed(t, "first lists pods", kubectl(t, first, "get", "pods", "-n", "revocable"))

	r := kubeaccess(t, cluster.AdminKubeconfig, "revoke", "--credential", ids[0])
	mustSucceed(t, "revoke --credential", r)
	expectForbidden(t, first, "get", "pods", "-n", "revocable")
	mustSucceed(t, "the other certificate keeps its access", kubectl(t, second, "get", "pods", "-n", "revocable"))

	// A request carrying the second certificate's group would borrow its
	// access: approve refuses it.
	l := kubeaccess(t, cluster.AdminKubeconfig, "list", "--user", "rhea", "-o", "json")
	entries := decodeItems[list.Entry](t, "list", l.stdout)
	if len(entries) != 1 || entries[0].ID != ids[1] {
		t.Fatalf("after revoking one, rhea's listed credentials: %s", l.stdout)
	}
	group := entries[0].CredentialGroup
	key, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	pemReq, err := pki.CreateRequest(key, pki.Subject("rhea", []string{"dev", group}))
	if err != nil {
		t.Fatal(err)
	}
	borrowed, err := csr.Create(t.Context(), adminClient(t), csr.Build("rhea", pemReq, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	mustFailWith(t, "approve a borrowed credential group", kubeaccess(t, cluster.AdminKubeconfig, "approve", borrowed.Name, "--out", filepath.Join(dir, "b.kubeconfig")), 2,
		`group "`+group+`" is reserved for the per-credential groups kubeaccess mints`)
	mustFailWith(t, "grant with a chosen credential group", kubeaccess(t, cluster.AdminKubeconfig, "grant", "rhea", "-g", group, "--out", filepath.Join(dir, "c.kubeconfig")), 2,
		"is reserved for the per-credential groups kubeaccess mints")
	mustFailWith(t, "revoke --credential of an unknown ID", kubeaccess(t, cluster.AdminKubeconfig, "revoke", "--credential", "c-0000000000000000"), 2,
		`no record of a credential "c-0000000000000000"`)
	plain := grantJSON(t, cluster.AdminKubeconfig, "rhea-plain", "--out", filepath.Join(dir, "plain.kubeconfig"))
	mustFailWith(t, "revoke --credential of a plain certificate", kubeaccess(t, cluster.AdminKubeconfig, "revoke", "--credential", "c-"+plain.Certificate.SHA256[:16]), 2,
		"was issued without --revocable")
}

// TestRevokeCredentialByEachIdentifier: a credential is named the same way
// everywhere, in any of the forms its holder or an admin can see: the
// record ID, its credential group or the group's suffix, the fingerprint,
// the credential ID kubectl auth whoami shows, or the serial.
func TestRevokeCredentialByEachIdentifier(t *testing.T) {
	dir := t.TempDir()
	forms := []string{"record ID", "credential group", "group suffix", "fingerprint", "whoami credential ID", "serial"}
	for i, form := range forms {
		t.Run(form, func(t *testing.T) {
			user := fmt.Sprintf("ident-%d", i)
			out := filepath.Join(dir, user+".kubeconfig")
			r := kubeaccess(t, cluster.AdminKubeconfig, "grant", user, "--revocable", "-n", "idents", "--verb", "list", "--resource", "pods", "--out", out, "-o", "json")
			mustSucceed(t, "grant --revocable", r)
			var s struct {
				Record      string
				Groups      []string
				Certificate struct{ SHA256, Serial string }
			}
			if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
				t.Fatal(err)
			}
			group := s.Groups[len(s.Groups)-1]
			ident := map[string]string{
				"record ID":        strings.TrimPrefix(s.Record, "kubeaccess-system/"),
				"credential group": group,
				"group suffix":     strings.TrimPrefix(group, "kubeaccess:credential:"),
				"fingerprint":      s.Certificate.SHA256,
				"serial":           s.Certificate.Serial,
			}[form]
			if form == "whoami credential ID" {
				w := kubectl(t, out, "auth", "whoami", "-o", `jsonpath={.status.userInfo.extra.authentication\.kubernetes\.io/credential-id[0]}`)
				mustSucceed(t, "kubectl auth whoami", w)
				ident = w.stdout
				if !credentialIDsForCertificates(t) {
					// Older API servers show no credential ID: the form still
					// names the credential, as an audit log of a newer one would.
					if ident != "" {
						t.Fatalf("kubectl auth whoami on %s shows credential ID %q; servers before v1.32 show none", wantKubernetesVersion, ident)
					}
					ident = "X509SHA256=" + s.Certificate.SHA256
				}
				if ident != "X509SHA256="+s.Certificate.SHA256 {
					t.Fatalf("kubectl auth whoami shows credential ID %q, want X509SHA256= and the fingerprint %s", ident, s.Certificate.SHA256)
				}
			}
			l := kubeaccess(t, cluster.AdminKubeconfig, "list", "--credential", ident, "-o", "json")
			mustSucceed(t, "list --credential "+ident, l)
			if entries := decodeItems[list.Entry](t, "list", l.stdout); len(entries) != 1 || entries[0].User != user {
				t.Fatalf("list --credential %s: %s", ident, l.stdout)
			}
			mustSucceed(t, "revoke --credential "+ident, kubeaccess(t, cluster.AdminKubeconfig, "revoke", "--credential", ident))
			expectForbidden(t, out, "get", "pods", "-n", "idents")
		})
	}
}

// Revoking a service account ends its token at once, by deleting the
// Secret kubeaccess bound it to; a token bound to a Secret kubeaccess did
// not make is left, with a note saying how to end it.
func TestRevokeEndsABoundToken(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "ender.kubeconfig")
	tokenJSON(t, "ender", "-n", "revoke-tokens", "--create", "--bound-secret", "ender-lease", "--verb", "get,list", "--resource", "pods", "--out", out)
	mustSucceed(t, "the token works before", kubectl(t, out, "get", "pods", "-n", "revoke-tokens"))

	r := kubeaccess(t, cluster.AdminKubeconfig, "revoke", "system:serviceaccount:revoke-tokens:ender")
	mustSucceed(t, "revoke of the service account", r)
	if !strings.Contains(r.stderr, "no longer authenticates: the Secret ender-lease it was bound to was deleted") {
		t.Errorf("revoke did not say the token was ended:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	if _, err := adminClient(t).CoreV1().Secrets("revoke-tokens").Get(t.Context(), "ender-lease", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the bound Secret is still there: %v", err)
	}
	// The token authenticator caches a token's validity for a few seconds.
	deadline := time.Now().Add(30 * time.Second)
	for {
		w := whoami(t, out)
		if w.code != 0 && strings.Contains(w.stderr, "Unauthorized") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ended token still authenticates: %q %s", w.stdout, w.stderr)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
