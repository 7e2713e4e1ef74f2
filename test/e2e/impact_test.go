package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const impactTeam = `apiVersion: kubeaccess.io/v1alpha1
kind: TeamAccess
metadata:
  name: impact-team
spec:
  ttl: 2h
  roles:
    deployer:
      rules:
      - verbs: [get, list, create]
        resources: [pods, deployments]
      - verbs: [create]
        resources: [secrets]
    reader:
      clusterRole: view
  groups:
    imp-devs:
    - role: deployer
      namespaces: [imp-a, imp-b]
    imp-ops:
    - role: reader
      namespaces: [imp-b]
  users:
  - name: imp-erin
    groups: [imp-devs]
  - name: imp-fred
    groups: [imp-ops]
`

// impactSummary is the part of "diff -o json" the test reads.
type impactSummary struct {
	Impact struct {
		Lines []struct {
			Subject, Change  string
			Verbs, Resources []string
			Namespaces       []string
		}
		Escalations  []struct{ Subject, Entry string }
		Gained, Lost int
	}
}

// permission cells the test asks the API server about.
var (
	impactVerbs      = []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	impactResources  = []string{"pods", "secrets", "configmaps", "deployments.apps", "services"}
	impactNamespaces = []string{"imp-a", "imp-b", "default"}
	impactCluster    = []string{"nodes", "namespaces"}
)

// What diff prints a team file gives each member is exactly what the API
// server allows them after the apply and did not before, cell by cell of
// verbs, resources and namespaces, asked with SubjectAccessReviews (what
// kubectl auth can-i asks); the same from a snapshot with no cluster; and
// --fail-on, -o markdown.
func TestDiffImpactIsWhatTheClusterAllowsAfterApply(t *testing.T) {
	dir := t.TempDir()
	admin := cluster.AdminKubeconfig
	// The team's access goes with its objects (revoke leaves a team's
	// bindings to the team file).
	t.Cleanup(func() {
		cmd := exec.Command(cluster.Kubectl(), "delete", "rolebinding,role", "-A", "-l", "kubeaccess.io/team=impact-team")
		cmd.Env = append(os.Environ(), "KUBECONFIG="+cluster.AdminKubeconfig)
		_ = cmd.Run()
	})
	for _, ns := range []string{"imp-a", "imp-b"} {
		mustSucceed(t, "create namespace", kubectl(t, admin, "create", "namespace", ns))
	}
	// Someone else lets imp-devs read everything in imp-a already.
	mustSucceed(t, "bind imp-devs", kubectl(t, admin, "create", "rolebinding", "imp-devs-view", "-n", "imp-a", "--clusterrole", "view", "--group", "imp-devs"))
	file := filepath.Join(dir, "team.yaml")
	writeFile(t, file, impactTeam)

	snapshot := kubeaccess(t, admin, "snapshot")
	mustSucceed(t, "snapshot", snapshot)
	snap := filepath.Join(dir, "rbac.json")
	writeFile(t, snap, snapshot.stdout)

	live := kubeaccess(t, admin, "diff", "-f", file, "-o", "json")
	mustFailWith(t, "diff", live, 1, "")
	offline := runWithStdin(t, nil, kubeaccessBin, "diff", "-f", file, "--snapshot", snap, "-o", "json")
	mustFailWith(t, "diff --snapshot", offline, 1, "")
	var s, so impactSummary
	if err := json.Unmarshal([]byte(live.stdout), &s); err != nil {
		t.Fatalf("diff -o json: %v\n%s", err, live.stdout)
	}
	if err := json.Unmarshal([]byte(offline.stdout), &so); err != nil {
		t.Fatalf("diff --snapshot -o json: %v\n%s", err, offline.stdout)
	}
	if fmt.Sprint(s.Impact) != fmt.Sprint(so.Impact) {
		t.Errorf("diff from the cluster and from its snapshot differ:\n%+v\n%+v", s.Impact, so.Impact)
	}
	if len(s.Impact.Lines) == 0 || s.Impact.Lost != 0 || len(s.Impact.Escalations) != 0 {
		t.Fatalf("impact = %+v, want gains only", s.Impact)
	}

	users := map[string][]string{"imp-erin": {"imp-devs"}, "imp-fred": {"imp-ops"}}
	before := map[string]map[string]bool{}
	for u, groups := range users {
		before[u] = allowedCells(t, u, groups)
	}
	mustSucceed(t, "apply", kubeaccess(t, admin, "apply", "-f", file, "--out-dir", filepath.Join(dir, "out"), "--allow-existing-access"))
	for u, groups := range users {
		after := allowedCells(t, u, groups)
		var gained []string
		for c := range after {
			if !before[u][c] {
				gained = append(gained, c)
			}
		}
		for c := range before[u] {
			if !after[c] {
				t.Errorf("%s lost %s, which diff did not print", u, c)
			}
		}
		printed := printedCells(s, "User "+u)
		slices.Sort(gained)
		slices.Sort(printed)
		if !slices.Equal(gained, printed) {
			t.Errorf("%s: the API server allows after the apply, and not before:\n  %q\ndiff printed:\n  %q", u, gained, printed)
		}
	}
	// A real kubectl agrees on one of them.
	if !canI(t, admin, "create", "secrets", "-n", "imp-b", "--as", "imp-erin", "--as-group", "imp-devs") {
		t.Error("kubectl auth can-i: imp-erin cannot create secrets in imp-b")
	}

	// The dry runs of grant and revoke say what they give and take.
	grant := []string{"grant", "imp-gus", "-n", "imp-b", "--verb", "get,delete", "--resource", "secrets", "--out", filepath.Join(dir, "gus.kubeconfig")}
	r := kubeaccess(t, admin, append(grant, "--dry-run", "-o", "name")...)
	mustSucceed(t, "grant --dry-run", r)
	if !strings.Contains(r.stderr, "+ User imp-gus gains delete, get secrets in imp-b") {
		t.Errorf("grant --dry-run:\n%s", r.stderr)
	}
	mustSucceed(t, "grant", kubeaccess(t, admin, grant...))
	afterTest(t, "revoke", "imp-gus")
	r = kubeaccess(t, admin, "revoke", "imp-gus", "--dry-run")
	mustSucceed(t, "revoke --dry-run", r)
	if !strings.Contains(r.stdout, "- User imp-gus loses delete, get secrets in imp-b") {
		t.Errorf("revoke --dry-run:\n%s", r.stdout)
	}

	// Applied, the file changes nothing: no impact, exit 0.
	mustSucceed(t, "diff after apply", kubeaccess(t, admin, "diff", "-f", file, "--out-dir", filepath.Join(dir, "out")))

	// --fail-on and markdown, from the snapshot taken before.
	mustSucceed(t, "diff --fail-on escalation", runWithStdin(t, nil, kubeaccessBin, "diff", "-f", file, "--snapshot", snap, "--fail-on", "escalation"))
	mustFailWith(t, "diff --fail-on gain", runWithStdin(t, nil, kubeaccessBin, "diff", "-f", file, "--snapshot", snap, "--fail-on", "gain"), 1, "")
	md := runWithStdin(t, nil, kubeaccessBin, "diff", "-f", file, "--snapshot", snap, "-o", "markdown")
	if !strings.Contains(md.stdout, "| User imp-erin | gains |") {
		t.Errorf("diff -o markdown:\n%s", md.stdout)
	}
}

// allowedCells asks the API server, one SubjectAccessReview per cell,
// what user (with groups) may do among the test's cells.
func allowedCells(t *testing.T, user string, groups []string) map[string]bool {
	t.Helper()
	client := adminClient(t)
	out := map[string]bool{}
	ask := func(verb, resource, namespace string) {
		res, group, _ := strings.Cut(resource, ".")
		r := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user, Groups: append(slices.Clone(groups), "system:authenticated"),
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Group: group, Resource: res, Namespace: namespace},
		}}
		got, err := client.AuthorizationV1().SubjectAccessReviews().Create(t.Context(), r, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Allowed {
			out[verb+" "+resource+" "+namespace] = true
		}
	}
	for _, v := range impactVerbs {
		for _, r := range impactResources {
			for _, ns := range impactNamespaces {
				ask(v, r, ns)
			}
		}
		for _, r := range impactCluster {
			ask(v, r, "")
		}
	}
	return out
}

// printedCells expands the gains diff printed for subject into the test's
// cells.
func printedCells(s impactSummary, subject string) []string {
	var out []string
	for _, l := range s.Impact.Lines {
		if l.Subject != subject || l.Change != "gains" {
			continue
		}
		for _, v := range l.Verbs {
			if !slices.Contains(impactVerbs, v) {
				continue
			}
			for _, r := range l.Resources {
				switch {
				case slices.Contains(impactCluster, r) && len(l.Namespaces) == 0:
					out = append(out, v+" "+r+" ")
				case !slices.Contains(impactResources, r):
				case slices.Equal(l.Namespaces, []string{"*"}):
					for _, ns := range impactNamespaces {
						out = append(out, v+" "+r+" "+ns)
					}
				default:
					for _, ns := range l.Namespaces {
						if slices.Contains(impactNamespaces, ns) {
							out = append(out, v+" "+r+" "+ns)
						}
					}
				}
			}
		}
	}
	return out
}
