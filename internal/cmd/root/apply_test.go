package root

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

const teamFile = `apiVersion: kubeaccess.io/v1alpha1
kind: TeamAccess
metadata:
  name: platform
spec:
  roles:
    deployer:
      rules:
      - verbs: [get, list]
        resources: [pods, deploy]
    reader:
      clusterRole: view
  groups:
    dev:
    - role: deployer
      namespaces: [development]
    - role: reader
      clusterWide: true
  users:
  - name: dave
    groups: [dev]
`

func writeTeamFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "team.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var viewRole = &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "view"},
	Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}}}

// A bad team file is refused with all its errors, the cluster's included,
// and changes nothing.
func TestApplyRefusesABadFileAndChangesNothing(t *testing.T) {
	bad := strings.NewReplacer("resources: [pods, deploy]", "resources: [pods, deploymnts]", "groups: [dev]", "groups: [dev, qa]",
		"    reader:\n", "    reader:\n      color: blue\n").Replace(teamFile)
	path := writeTeamFile(t, bad)
	f := fakeCluster(viewRole)
	_, stderr, code := executeWith(t, f, "apply", "-f", path, "--out-dir", t.TempDir())
	for _, want := range []string{
		path + ":10: role \"deployer\": the server has no resource \"deploymnts\"; did you mean deployments?",
		path + ":12: unknown field \"color\" in role",
		path + ":22: user \"dave\": unknown group \"qa\"",
		"nothing was applied",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("apply of a bad file does not say %q:\n%s", want, stderr)
		}
	}
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if got := changed(t, f.Clientset.(*fake.Clientset)); len(got) != 0 {
		t.Errorf("a bad file changed %v", got)
	}
}

// diff and apply --dry-run print the plan and change nothing; diff exits
// 1 when there is anything to do, as kubectl diff does.
func TestApplyPlanFirst(t *testing.T) {
	path := writeTeamFile(t, teamFile)
	out := t.TempDir()
	for _, args := range [][]string{{"diff"}, {"apply", "--dry-run"}} {
		f := fakeCluster(viewRole)
		stdout, stderr, code := executeWith(t, f, append(args, "-f", path, "--out-dir", out)...)
		want := map[string]int{"diff": 1, "apply": 0}[args[0]]
		if code != want {
			t.Errorf("%v: exit %d, want %d\n%s", args, code, want, stderr)
		}
		for _, line := range []string{
			"+ issue   User dave (certificate, groups dev, 24h0m0s; new)",
			"+ create  Namespace development",
			"+ create  Role development/kubeaccess:team:platform:deployer (rules: get,list pods; get,list deployments.apps)",
			"+ create  RoleBinding development/kubeaccess:team:platform:group:dev:deployer (subjects +dave)",
			"+ create  ClusterRoleBinding kubeaccess:team:platform:group:dev:reader (subjects +dave)",
		} {
			if !strings.Contains(stdout, line) {
				t.Errorf("%v: the plan has no line %q:\n%s", args, line, stdout)
			}
		}
		if got := changed(t, f.Clientset.(*fake.Clientset)); len(got) != 0 {
			t.Errorf("%v changed %v", args, got)
		}
		if entries, _ := os.ReadDir(out); len(entries) != 0 {
			t.Errorf("%v wrote into the output directory", args)
		}
	}
	stdout, _, code := executeWith(t, fakeCluster(viewRole), "diff", "-f", path, "--out-dir", out, "-o", "jsonpath={.changes[*].action}")
	if code != 1 || stdout != "issue create create create create" {
		t.Errorf("diff -o jsonpath: exit %d, %q", code, stdout)
	}
}
