package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const authorityTeam = `apiVersion: kubeaccess.io/v1alpha1
kind: TeamAccess
metadata:
  name: ctl-auth-team
spec:
  ttl: %s
  roles:
    reader:
      rules:
      - verbs: [list]
        resources: [pods]
  serviceAccounts:
  - name: ctl-auth/bot
    access:
    - role: reader
      namespaces: [ctl-auth]
`

// The controller binds a TeamAccess's roles with its own rights, so it
// does so only on the authority of whoever wrote it: the admission policy
// lets no writer name anyone but themselves as its author, the controller
// makes nothing its author could not make, and reconciles no TeamAccess at
// all while that policy is missing.
func TestControllerActsOnTheAuthorsAuthority(t *testing.T) {
	kc := controllerKubeconfig(t)
	ctl := startController(t, kc, "authority-a", "authority-lease")
	waitUntil(t, "the replica leads", 30*time.Second, ctl.leading)
	admin := cluster.AdminKubeconfig
	mustSucceed(t, "create namespace", kubectl(t, admin, "create", "namespace", "ctl-auth"))
	mustSucceed(t, "create mallory", kubectl(t, admin, "create", "serviceaccount", "mallory", "-n", "ctl-auth"))
	mustSucceed(t, "let mallory write TeamAccess objects", kubectl(t, admin, "create", "clusterrole", "ctl-teamaccess-writer",
		"--verb", "get,list,create,update,patch", "--resource", "teamaccesses.kubeaccess.io"))
	mustSucceed(t, "bind it", kubectl(t, admin, "create", "clusterrolebinding", "ctl-teamaccess-writer", "--clusterrole", "ctl-teamaccess-writer",
		"--serviceaccount", "ctl-auth:mallory"))
	mallory := serviceAccountKubeconfig(t, "ctl-auth", "mallory")
	dir := t.TempDir()
	file := filepath.Join(dir, "team.yaml")
	writeFile(t, file, strings.ReplaceAll(authorityTeam, "%s", "1h"))

	// Naming someone else as the author is refused by the API server.
	r := kubectl(t, mallory, "apply", "-f", authored(t, admin, file))
	if r.code == 0 || !strings.Contains(r.stderr, `kubeaccess.io/author to "system:serviceaccount:ctl-auth:mallory"`) {
		t.Fatalf("mallory wrote a TeamAccess naming the admin as its author: %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Naming herself, she may write it; the controller makes none of what
	// she could not make herself.
	mustSucceed(t, "mallory applies the TeamAccess as its author", kubectl(t, mallory, "apply", "-f", authored(t, mallory, file)))
	ready := func() (status, reason, message string) {
		r := kubectl(t, admin, "get", "teamaccess", "ctl-auth-team", "-o", "json")
		var obj struct {
			Metadata struct{ Generation int64 }
			Status   struct {
				ObservedGeneration int64
				Conditions         []struct{ Type, Status, Reason, Message string }
			}
		}
		if json.Unmarshal([]byte(r.stdout), &obj) != nil || obj.Status.ObservedGeneration != obj.Metadata.Generation {
			return "", "", ""
		}
		for _, c := range obj.Status.Conditions {
			if c.Type == "Ready" {
				return c.Status, c.Reason, c.Message
			}
		}
		return "", "", ""
	}
	waitUntil(t, "the controller refuses mallory's TeamAccess", 30*time.Second, func() bool { _, reason, _ := ready(); return reason == "Unauthorized" })
	if status, _, message := ready(); status != "False" || !strings.Contains(message, "could not make this access themselves") ||
		!strings.Contains(message, "may not create serviceaccount ctl-auth/bot") {
		t.Errorf("the refusal does not say what mallory lacks: %s %s", status, message)
	}
	canBot := func() string {
		return strings.TrimSpace(kubectl(t, admin, "auth", "can-i", "list", "pods", "-n", "ctl-auth", "--as", "system:serviceaccount:ctl-auth:bot").stdout)
	}
	if got := canBot(); got != "no" {
		t.Errorf("the bot of a TeamAccess whose author may not bind its access may list pods: %q", got)
	}
	if got := kubectl(t, admin, "get", "rolebindings,roles", "-n", "ctl-auth", "-l", "kubeaccess.io/team=ctl-auth-team", "-o", "name").stdout; got != "" {
		t.Errorf("objects made on mallory's behalf: %s", got)
	}
	waitUntil(t, "the refusal is an Event", 10*time.Second, func() bool {
		return strings.Contains(kubectl(t, admin, "get", "events", "-A", "--field-selector", "reason=Unauthorized", "-o", "jsonpath={.items[*].message}").stdout, "mallory")
	})

	// Once she may make it herself (she holds what the role gives, and may
	// create its objects there), her next change is reconciled.
	mustSucceed(t, "a role for mallory", kubectl(t, admin, "create", "role", "ctl-team-lead", "-n", "ctl-auth",
		"--verb", "create", "--resource", "roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io,serviceaccounts"))
	mustSucceed(t, "which lists pods too", kubectl(t, admin, "patch", "role", "ctl-team-lead", "-n", "ctl-auth", "--type", "json",
		"-p", `[{"op":"add","path":"/rules/-","value":{"apiGroups":[""],"resources":["pods"],"verbs":["list"]}}]`))
	mustSucceed(t, "bind it", kubectl(t, admin, "create", "rolebinding", "ctl-team-lead", "-n", "ctl-auth", "--role", "ctl-team-lead", "--serviceaccount", "ctl-auth:mallory"))
	writeFile(t, file, strings.ReplaceAll(authorityTeam, "%s", "2h"))
	mustSucceed(t, "mallory applies again", kubectl(t, mallory, "apply", "-f", authored(t, mallory, file)))
	waitUntil(t, "mallory's TeamAccess is reconciled", 30*time.Second, func() bool { status, _, _ := ready(); return status == "True" })
	if got := canBot(); got != "yes" {
		t.Errorf("the bot may not list pods once its author may bind that: %q", got)
	}

	// Without the admission policy's binding no author can be trusted:
	// no TeamAccess is reconciled until it is back.
	mustSucceed(t, "delete the policy's binding", kubectl(t, admin, "delete", "validatingadmissionpolicybinding", "kubeaccess-teamaccess-author"))
	t.Cleanup(func() {
		// Put back for the tests that follow, whatever happened here.
		restore := exec.Command(cluster.Kubectl(), "--kubeconfig", admin, "apply", "-f", filepath.Join(deployDir(t), "crd-teamaccess.yaml"))
		if out, err := restore.CombinedOutput(); err != nil {
			t.Errorf("putting the admission policy back: %v\n%s", err, out)
		}
	})
	waitUntil(t, "every TeamAccess is refused", 30*time.Second, func() bool { _, reason, _ := ready(); return reason == "NoAuthorPolicy" })
	mustSucceed(t, "put the binding back", kubectl(t, admin, "apply", "-f", filepath.Join(deployDir(t), "crd-teamaccess.yaml")))
	waitUntil(t, "the TeamAccess is reconciled again", 30*time.Second, func() bool { status, _, _ := ready(); return status == "True" })
}

// A member's until: ends their access by itself: the controller takes
// them out of the team's bindings at that time, and says so.
func TestControllerEndsATeamMembersAccessAtItsUntil(t *testing.T) {
	kc := controllerKubeconfig(t)
	ctl := startController(t, kc, "until-a", "until-lease")
	waitUntil(t, "the replica leads", 30*time.Second, ctl.leading)
	until := time.Now().Add(20 * time.Second).UTC().Truncate(time.Second)
	file := filepath.Join(t.TempDir(), "team.yaml")
	writeFile(t, file, `apiVersion: kubeaccess.io/v1alpha1
kind: TeamAccess
metadata:
  name: ctl-until
spec:
  roles:
    reader:
      rules:
      - verbs: [list]
        resources: [pods]
  serviceAccounts:
  - name: ctl-until/stays
    access:
    - role: reader
      namespaces: [ctl-until]
  - name: ctl-until/temp
    until: `+until.Format(time.RFC3339)+`
    access:
    - role: reader
      namespaces: [ctl-until]
`)
	mustSucceed(t, "kubectl apply the TeamAccess", kubectl(t, cluster.AdminKubeconfig, "apply", "-f", authored(t, cluster.AdminKubeconfig, file)))
	can := func(sa string) string {
		return strings.TrimSpace(kubectl(t, cluster.AdminKubeconfig, "auth", "can-i", "list", "pods", "-n", "ctl-until", "--as", "system:serviceaccount:ctl-until:"+sa).stdout)
	}
	waitUntil(t, "both accounts are bound", 15*time.Second, func() bool { return can("stays") == "yes" && can("temp") == "yes" })
	if time.Now().After(until) {
		t.Fatalf("the team was reconciled only after temp's until: (%s)", until)
	}
	waitUntil(t, "temp's access ends at its until:", time.Until(until)+15*time.Second, func() bool { return can("temp") == "no" })
	if time.Now().Before(until) {
		t.Errorf("temp's access ended before its until: %s", until)
	}
	t.Logf("temp's access ended %s after its until:", time.Since(until).Round(100*time.Millisecond))
	if got := can("stays"); got != "yes" {
		t.Errorf("the account without until: lost its access: %q", got)
	}
	waitUntil(t, "the expiry is an Event", 10*time.Second, func() bool {
		return strings.Contains(kubectl(t, cluster.AdminKubeconfig, "get", "events", "-A", "--field-selector", "reason=AccessExpired", "-o", "jsonpath={.items[*].message}").stdout, "ctl-until/temp")
	})
}
