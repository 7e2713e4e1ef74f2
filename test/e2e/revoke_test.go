package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeaccess/kubeaccess/internal/cmd/list"
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
		"deleted RoleBinding revoke/kubeaccess:ana (no subject left)",
		"deleted Role revoke/kubeaccess:ana (nothing binds it any more)",
		"checked: the API server now denies ana all 2 permissions those bindings gave",
		"still authenticates as ana until",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("revoke did not say %q:\n%s", want, r.stdout)
		}
	}
	// ana's certificate still authenticates, and is now forbidden; ben is unaffected.
	if who := whoami(t, ana); who.stdout != "ana" {
		t.Errorf("ana's certificate no longer authenticates: %q %s", who.stdout, who.stderr)
	}
	expectForbidden(t, ana, "get", "pods", "-n", "revoke")
	mustSucceed(t, "ben lists pods after", kubectl(t, ben, "get", "pods", "-n", "revoke"))

	l := kubeaccess(t, cluster.AdminKubeconfig, "list", "--all", "--user", "ana", "-o", "json")
	mustSucceed(t, "list --all", l)
	var entries []list.Entry
	if err := json.Unmarshal([]byte(l.stdout), &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Status != "revoked" || entries[0].RevokedBy != "admin" {
		t.Errorf("ana's records after revoke: %+v", entries)
	}
	if hidden := kubeaccess(t, cluster.AdminKubeconfig, "list", "--user", "ana", "-o", "json"); strings.TrimSpace(hidden.stdout) != "[]" {
		t.Errorf("a revoked credential is listed without --all: %s", hidden.stdout)
	}
}

func TestRevokeSaysWhatStillGivesAccess(t *testing.T) {
	out := filepath.Join(t.TempDir(), "cy.kubeconfig")
	grantJSON(t, cluster.AdminKubeconfig, "cy", "-g", "crew", "-n", "revoke-group", "--bind-group", "crew", "--verb", "get", "--resource", "pods", "--out", out)
	r := kubeaccess(t, cluster.AdminKubeconfig, "revoke", "cy")
	mustFailWith(t, "revoke of group-bound access", r, 1, "cy may still get pods in namespace revoke-group, through a binding of one of their groups")
	if !strings.Contains(r.stdout, "still in place (not touched): RoleBinding revoke-group/kubeaccess:group:crew gives group crew the Role kubeaccess:group:crew") {
		t.Errorf("revoke did not name the group binding:\n%s", r.stdout)
	}
	if can := kubectl(t, out, "auth", "can-i", "get", "pods", "-n", "revoke-group"); strings.TrimSpace(can.stdout) != "yes" {
		t.Errorf("through the untouched group binding cy should still get pods; can-i says %q", can.stdout)
	}
	mustFailWith(t, "revoke of a stranger", kubeaccess(t, cluster.AdminKubeconfig, "revoke", "nobody-at-all"), 2, "no records of nobody-at-all")
}
