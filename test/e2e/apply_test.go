package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeaccess/kubeaccess/internal/labels"
)

const applyTeam = `apiVersion: kubeaccess.io/v1alpha1
kind: TeamAccess
metadata:
  name: e2e-team
spec:
  ttl: 48h
  renewBefore: 12h
  roles:
    deployer:
      rules:
      - verbs: [get, list, create]
        resources: [pods, deployments]
    reader:
      clusterRole: view
  groups:
    dev:
    - role: deployer
      namespaces: [apply-dev, apply-stage]
    qa:
    - role: reader
      namespaces: [apply-stage]
  users:
  - name: apann
    groups: [dev]
  - name: apbob
    groups: [dev, qa]
  - name: apcat
    groups: [dev]
  - name: apdan
    groups: [qa]
  - name: apeve
    groups: [qa]
    ttl: 24h
  serviceAccounts:
  - name: apply-ci/bot
    duration: 1h
    access:
    - role: deployer
      namespaces: [apply-dev]
`

// snapshot is every kubeconfig under dir, by path.
func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %o, want 0600", path, info.Mode().Perm())
		}
		files[path], err = os.ReadFile(path)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func csrTotal(t *testing.T) int {
	t.Helper()
	list, err := adminClient(t).CertificatesV1().CertificateSigningRequests().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return len(list.Items)
}

func canI(t *testing.T, kubeconfig string, args ...string) bool {
	t.Helper()
	r := kubectl(t, kubeconfig, append([]string{"auth", "can-i"}, args...)...)
	return strings.TrimSpace(r.stdout) == "yes"
}

// The team file of the issue, end to end with the real kubectl as each
// user: exactly the access of their groups, an unchanged re-apply that
// touches nothing, removal that takes effect at once, and a bad file that
// changes nothing.
func TestApplyTeamFile(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	file := filepath.Join(dir, "team.yaml")
	if err := os.WriteFile(file, []byte(applyTeam), 0o600); err != nil {
		t.Fatal(err)
	}
	r := kubeaccess(t, cluster.AdminKubeconfig, "apply", "-f", file, "--out-dir", out)
	mustSucceed(t, "apply", r)
	for _, want := range []string{"+ issue   User apann", "+ issue   ServiceAccount apply-ci/bot", "+ create  Namespace apply-stage",
		"+ create  RoleBinding apply-stage/kubeaccess:team:e2e-team:group:qa:reader (subjects +apbob +apdan +apeve)", "Applied team e2e-team: 6 issue"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("apply does not say %q:\n%s", want, r.stdout)
		}
	}
	user := func(name string) string { return filepath.Join(out, "users", name+".kubeconfig") }
	bot := filepath.Join(out, "serviceaccounts", "apply-ci", "bot.kubeconfig")
	for _, u := range []string{"apann", "apbob", "apcat", "apdan", "apeve"} {
		if got := whoami(t, user(u)); got.stdout != u {
			t.Errorf("%s's kubeconfig is %q to the API server", u, got.stdout)
		}
	}
	// dev deploys in apply-dev and apply-stage; qa reads apply-stage only.
	for _, u := range []string{"apann", "apcat"} {
		mustSucceed(t, u+" lists pods in apply-dev", kubectl(t, user(u), "get", "pods", "-n", "apply-dev"))
		mustSucceed(t, u+" lists deployments in apply-stage", kubectl(t, user(u), "get", "deployments", "-n", "apply-stage"))
		expectForbidden(t, user(u), "get", "secrets", "-n", "apply-dev")
		expectForbidden(t, user(u), "get", "pods", "-n", "default")
		expectForbidden(t, user(u), "get", "configmaps", "-n", "apply-stage")
	}
	for _, u := range []string{"apdan", "apeve"} {
		mustSucceed(t, u+" reads configmaps in apply-stage", kubectl(t, user(u), "get", "configmaps", "-n", "apply-stage"))
		expectForbidden(t, user(u), "get", "pods", "-n", "apply-dev")
		if canI(t, user(u), "create", "deployments", "-n", "apply-stage") {
			t.Errorf("%s (qa, read-only) may create deployments", u)
		}
	}
	mustSucceed(t, "apbob reads configmaps in apply-stage (qa)", kubectl(t, user("apbob"), "get", "configmaps", "-n", "apply-stage"))
	if !canI(t, user("apbob"), "create", "deployments", "-n", "apply-dev") {
		t.Error("apbob (dev) may not create deployments in apply-dev")
	}
	if got := whoami(t, bot); got.stdout != "system:serviceaccount:apply-ci:bot" {
		t.Errorf("the bot's kubeconfig is %q", got.stdout)
	}
	mustSucceed(t, "the bot lists pods in apply-dev", kubectl(t, bot, "get", "pods", "-n", "apply-dev"))
	expectForbidden(t, bot, "get", "pods", "-n", "apply-stage")

	// An unchanged file changes nothing: no request, the same bytes.
	before, requests := snapshot(t, out), csrTotal(t)
	r = kubeaccess(t, cluster.AdminKubeconfig, "apply", "-f", file, "--out-dir", out)
	mustSucceed(t, "apply again", r)
	if !strings.Contains(r.stdout, "No changes") {
		t.Errorf("an unchanged apply does not say so:\n%s", r.stdout)
	}
	if n := csrTotal(t); n != requests {
		t.Errorf("an unchanged apply made %d certificate requests", n-requests)
	}
	for path, data := range snapshot(t, out) {
		if !bytes.Equal(data, before[path]) {
			t.Errorf("an unchanged apply rewrote %s", path)
		}
	}

	// apcat leaves; dev may also watch. apcat's certificate is still valid but
	// gives nothing; the others watch without a new certificate.
	edited := strings.Replace(strings.Replace(applyTeam, "  - name: apcat\n    groups: [dev]\n", "", 1), "verbs: [get, list, create]", "verbs: [get, list, create, watch]", 1)
	if err := os.WriteFile(file, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	r = kubeaccess(t, cluster.AdminKubeconfig, "apply", "-f", file, "--out-dir", out)
	mustSucceed(t, "apply without apcat", r)
	for _, want := range []string{"- revoke  User apcat", "~ update  Role apply-dev/kubeaccess:team:e2e-team:deployer", "subjects -apcat"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("apply without apcat does not say %q:\n%s", want, r.stdout)
		}
	}
	if got := whoami(t, user("apcat")); got.stdout != "apcat" {
		t.Fatalf("apcat's certificate no longer authenticates (%q): the test proves nothing", got.stdout)
	}
	expectForbidden(t, user("apcat"), "get", "pods", "-n", "apply-dev")
	expectForbidden(t, user("apcat"), "get", "pods", "-n", "apply-stage")
	for _, u := range []string{"apann", "apbob"} {
		if !canI(t, user(u), "watch", "pods", "-n", "apply-dev") {
			t.Errorf("%s may not watch pods after the verb was added", u)
		}
	}
	if n := csrTotal(t); n != requests {
		t.Errorf("removing a user and adding a verb made %d certificate requests", n-requests)
	}
	after := snapshot(t, out)
	for _, u := range []string{"apann", "apbob", "apdan", "apeve"} {
		if !bytes.Equal(after[user(u)], before[user(u)]) {
			t.Errorf("%s's kubeconfig was rewritten", u)
		}
	}
	l := kubeaccess(t, cluster.AdminKubeconfig, "list", "--user", "apcat", "--all", "-o", "jsonpath={.items[*].status}")
	if l.stdout != "revoked" {
		t.Errorf("apcat's record is %q, want revoked", l.stdout)
	}

	// A bad file lists all its errors and changes nothing.
	bad := strings.NewReplacer("resources: [pods, deployments]", "resources: [pods, deploymnts]", "groups: [dev, qa]", "groups: [dev, ops]",
		"clusterRole: view", "clusterRole: cluster-admin", "namespaces: [apply-stage]", "clusterWide: true").Replace(edited)
	if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	objects := teamObjects(t, "e2e-team")
	r = kubeaccess(t, cluster.AdminKubeconfig, "apply", "-f", file, "--out-dir", out)
	mustFailWith(t, "apply of a bad file", r, 2, "nothing was applied")
	for _, want := range []string{
		file + `:12: role "deployer": the server has no resource "deploymnts"; did you mean deployments?`,
		file + `:20: group "qa": role "reader" would give escalation-grade permissions`,
		file + `:26: user "apbob": unknown group "ops"`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("apply of a bad file does not say %q:\n%s", want, r.stderr)
		}
	}
	if now := teamObjects(t, "e2e-team"); now != objects {
		t.Errorf("a bad file changed the team's objects:\n%s\nwas\n%s", now, objects)
	}
	for path, data := range snapshot(t, out) {
		if !bytes.Equal(data, after[path]) {
			t.Errorf("a bad file rewrote %s", path)
		}
	}
}

// teamObjects lists the team's bindings with their subjects and versions.
func teamObjects(t *testing.T, team string) string {
	t.Helper()
	sel := metav1.ListOptions{LabelSelector: labels.Team + "=" + team}
	rbs, err := adminClient(t).RbacV1().RoleBindings("").List(t.Context(), sel)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, rb := range rbs.Items {
		fmt.Fprintf(&b, "%s/%s %s %v\n", rb.Namespace, rb.Name, rb.ResourceVersion, rb.Subjects)
	}
	return b.String()
}

// Ctrl-C during a long apply stops it cleanly: exit 130, what was issued is
// written and recorded, and the next apply finishes the rest.
func TestApplyInterruptedThenFinished(t *testing.T) {
	dir := t.TempDir()
	out, file := filepath.Join(dir, "out"), filepath.Join(dir, "team.yaml")
	var users strings.Builder
	for i := range 60 {
		fmt.Fprintf(&users, "  - name: int-%02d\n    groups: [dev]\n", i)
	}
	text := `apiVersion: kubeaccess.io/v1alpha1
kind: TeamAccess
metadata:
  name: e2e-interrupted
spec:
  roles:
    reader:
      rules:
      - verbs: [get, list]
        resources: [pods]
  groups:
    dev:
    - role: reader
      namespaces: [apply-int]
  users:
` + users.String()
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(kubeaccessBin, "apply", "-f", file, "--out-dir", out, "--parallel", "2")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+cluster.AdminKubeconfig)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(stderr.String(), "[3/60") {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("apply never got going:\n%s\n%s", stdout.String(), stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit %d after Ctrl-C, want 130\n%s\n%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "error: interrupted: ") || !strings.Contains(stdout.String(), "Interrupted; done before the interruption") {
		t.Errorf("apply does not say it was interrupted:\n%s\n%s", stdout.String(), stderr.String())
	}
	written := snapshot(t, out)
	if len(written) == 0 || len(written) == 60 {
		t.Fatalf("%d kubeconfigs written: the interruption came too early or too late to prove anything", len(written))
	}
	// What was written works as its user, and the next apply issues only
	// the rest and binds everyone.
	r := kubeaccess(t, cluster.AdminKubeconfig, "apply", "-f", file, "--out-dir", out)
	mustSucceed(t, "apply after Ctrl-C", r)
	if want := fmt.Sprintf("%d issue", 60-len(written)); !strings.Contains(r.stdout, want) {
		t.Errorf("the apply after Ctrl-C does not make %s:\n%s", want, r.stdout)
	}
	for path, data := range snapshot(t, out) {
		if old, ok := written[path]; ok && !bytes.Equal(old, data) {
			t.Errorf("%s, written before Ctrl-C, was issued again", path)
		}
	}
	for _, i := range []int{0, 59} {
		path := filepath.Join(out, "users", fmt.Sprintf("int-%02d.kubeconfig", i))
		mustSucceed(t, "list pods as "+path, kubectl(t, path, "get", "pods", "-n", "apply-int"))
	}
	if r := kubeaccess(t, cluster.AdminKubeconfig, "diff", "-f", file, "--out-dir", out); r.code != 0 {
		t.Errorf("diff after finishing: exit %d\n%s", r.code, r.stdout)
	}
}
