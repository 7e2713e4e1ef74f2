package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/testcluster"
)

const traceTeam = `apiVersion: kubeaccess.io/v1alpha1
kind: TeamAccess
metadata:
  name: trace-team
spec:
  ttl: 2h
  roles:
    reader:
      rules:
      - verbs: [get, list]
        resources: [pods, configmaps]
  groups:
    tr-qa:
    - role: reader
      namespaces: [trace-ns]
  users:
  - name: tr-tina
    groups: [tr-qa]
`

// auditEvent is the part of an audit event the test reads itself, apart
// from kubeaccess trace.
type auditEvent struct {
	AuditID string `json:"auditID"`
	Stage   string `json:"stage"`
	User    struct {
		Username string              `json:"username"`
		Extra    map[string][]string `json:"extra"`
	} `json:"user"`
}

// tracedEvent is the part of "trace -o json" the test reads.
type tracedEvent struct {
	AuditID    string `json:"auditID"`
	Stage      string `json:"stage"`
	User       string `json:"user"`
	Credential *struct {
		ID, How, IssuedBy string
	} `json:"credential"`
	CredentialID string   `json:"credentialID"`
	Flags        []string `json:"flags"`
}

// On a cluster that writes an audit log, credentials issued by grant,
// approve, sign (offline), token and a team file each make requests;
// kubeaccess trace attributes every event made with them to the right
// record and how it was issued, and no other event; a revoked
// credential's later request is flagged; and the role --suggest-role
// prints, applied, allows exactly the verbs and resources used.
func TestTraceAttributesEveryRequest(t *testing.T) {
	audited := testcluster.StartForTest(t, testcluster.Options{AuditLog: true})
	onCluster(t, audited)
	dir := t.TempDir()
	admin := cluster.AdminKubeconfig
	mustSucceed(t, "create namespace", kubectl(t, admin, "create", "namespace", "trace-ns"))
	access := []string{"-n", "trace-ns", "--verb", "get,list,create", "--resource", "pods,configmaps"}

	kc := map[string]string{}
	kc["grant"] = filepath.Join(dir, "tr-alice.kubeconfig")
	mustSucceed(t, "grant", kubeaccess(t, admin, append([]string{"grant", "tr-alice", "-g", "tr-devs", "--out", kc["grant"]}, access...)...))

	userDir := t.TempDir()
	key := requestKey(t, userDir, "tr-bob", "-g", "tr-devs")
	kc["approve"] = filepath.Join(dir, "tr-bob.kubeconfig")
	mustSucceed(t, "approve", kubeaccess(t, admin, append([]string{"approve", "--csr-file", filepath.Join(userDir, "tr-bob.csr"), "--out", kc["approve"]}, access...)...))
	mustSucceed(t, "complete", kubeaccess(t, "", "complete", kc["approve"], "--key", key))

	key = requestKey(t, userDir, "tr-carl", "-g", "tr-devs")
	kc["sign"] = filepath.Join(dir, "tr-carl.kubeconfig")
	mustSucceed(t, "sign", kubeaccess(t, admin, append([]string{"sign", filepath.Join(userDir, "tr-carl.csr"), "--ca-cert", cluster.CACert, "--ca-key", cluster.CAKey,
		"--out", kc["sign"]}, access...)...))
	mustSucceed(t, "complete", kubeaccess(t, "", "complete", kc["sign"], "--key", key))

	kc["token"] = filepath.Join(dir, "tr-bot.kubeconfig")
	mustSucceed(t, "token", kubeaccess(t, admin, append([]string{"token", "tr-bot", "--create", "--out", kc["token"]}, access...)...))

	team := filepath.Join(dir, "team.yaml")
	writeFile(t, team, traceTeam)
	mustSucceed(t, "apply", kubeaccess(t, admin, "apply", "-f", team, "--out-dir", filepath.Join(dir, "out")))
	kc["team trace-team"] = filepath.Join(dir, "out", "users", "tr-tina.kubeconfig")

	// Each credential's ID, as the API server names it, and its record.
	credentialOf := map[string]string{}
	recordOf := map[string]string{}
	for how, path := range kc {
		var who struct {
			Status struct {
				UserInfo struct{ Extra map[string][]string }
			}
		}
		r := kubectl(t, path, "auth", "whoami", "-o", "json")
		mustSucceed(t, "whoami "+how, r)
		if err := json.Unmarshal([]byte(r.stdout), &who); err != nil {
			t.Fatal(err)
		}
		id := who.Status.UserInfo.Extra[records.CredentialIDExtra][0]
		credentialOf[id] = how
		recs := decodeItems[struct{ ID string }](t, "list --credential", kubeaccess(t, admin, "list", "--credential", id, "-o", "json").stdout)
		recordOf[id] = recs[0].ID
	}

	// Each does things: allowed and denied.
	for how, path := range kc {
		mustSucceed(t, how+" lists pods", kubectl(t, path, "get", "pods", "-n", "trace-ns"))
		kubectl(t, path, "get", "secrets", "-n", "trace-ns")
		if how != "team trace-team" {
			mustSucceed(t, how+" creates a configmap", kubectl(t, path, "create", "configmap", "tr-"+strings.Fields(how)[0], "-n", "trace-ns"))
		}
	}
	// Bob only reads pods and makes configmaps, for --suggest-role.
	mustSucceed(t, "bob gets configmaps", kubectl(t, kc["approve"], "get", "configmap", "tr-approve", "-n", "trace-ns"))

	// A renewing credential, renewed once by the controller: each of its
	// certificates is attributed to its own record, the renewal as one,
	// and its renewal identity as such.
	ctl := startController(t, controllerKubeconfig(t), "trace-a", "trace-lease")
	waitUntil(t, "the replica leads", 30*time.Second, ctl.leading)
	rena := filepath.Join(dir, "tr-rena.kubeconfig")
	mustSucceed(t, "grant --renewing", kubeaccess(t, admin, "grant", "tr-rena", "-n", "trace-ns", "--verb", "get,list", "--resource", "pods",
		"--renewing", "--ttl", "10m", "--renew-before", "9m50s", "--out", rena))
	mustSucceed(t, "rena lists pods", kubectl(t, rena, "get", "pods", "-n", "trace-ns"))
	time.Sleep(11 * time.Second)
	mustSucceed(t, "rena lists pods, renewed", kubectl(t, rena, "get", "pods", "-n", "trace-ns"))
	renewals, renewing := 0, map[string]bool{}
	for _, r := range decodeItems[struct{ ID, User, SHA256, Replaces string }](t, "list --all", kubeaccess(t, admin, "list", "--all", "-o", "json").stdout) {
		how := ""
		switch {
		case r.User == "tr-rena" && r.Replaces == "":
			how = "grant"
		case r.User == "tr-rena":
			how, renewals = "renewal of grant", renewals+1
		case strings.HasPrefix(r.User, "kubeaccess:renewal:"):
			how = "renewal identity"
		default:
			continue
		}
		credentialOf["X509SHA256="+r.SHA256], recordOf["X509SHA256="+r.SHA256] = how, r.ID
		renewing[r.ID] = true
	}
	if renewals == 0 {
		t.Fatal("rena's credential was not renewed")
	}

	// Alice is revoked, and tries again.
	mustSucceed(t, "revoke alice", kubeaccess(t, admin, "revoke", "tr-alice"))
	kubectl(t, kc["grant"], "get", "pods", "-n", "trace-ns")
	mustSucceed(t, "the last request", kubectl(t, admin, "create", "configmap", "tr-last", "-n", "trace-ns"))
	waitUntil(t, "the audit log holds the last request", 10*time.Second, func() bool {
		data, _ := os.ReadFile(cluster.AuditLog)
		return strings.Contains(string(data), `"name":"tr-last"`)
	})

	// What the log says, read by the test itself.
	want := map[string]string{} // auditID/stage -> credential ID
	f, err := os.Open(cluster.AuditLog)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var e auditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		if ids := e.User.Extra[records.CredentialIDExtra]; len(ids) > 0 && credentialOf[ids[0]] != "" {
			want[e.AuditID+"/"+e.Stage] = ids[0]
		}
	}
	f.Close()

	r := kubeaccess(t, admin, "trace", cluster.AuditLog, "-o", "json")
	mustSucceed(t, "trace", r)
	got := decodeItems[tracedEvent](t, "trace", r.stdout)
	afterRevocation := 0
	for _, e := range got {
		key := e.AuditID + "/" + e.Stage
		id, ok := want[key]
		switch {
		case !ok:
			t.Errorf("trace attributed %s (user %s, credential %s) to %+v: it was not made with a credential of the test", key, e.User, e.CredentialID, e.Credential)
			continue
		case e.Credential == nil || e.CredentialID != id || e.Credential.ID != recordOf[id]:
			t.Errorf("%s made with %s (%s) attributed to %+v", key, id, credentialOf[id], e.Credential)
			continue
		case !strings.HasPrefix(e.Credential.How, credentialOf[id]):
			t.Errorf("%s: how = %q, want %q", key, e.Credential.How, credentialOf[id])
		}
		delete(want, key)
		if slices.Contains(e.Flags, "used-after-revocation") {
			afterRevocation++
			if credentialOf[id] != "grant" {
				t.Errorf("%s of %s flagged used-after-revocation", key, credentialOf[id])
			}
		}
	}
	t.Logf("trace attributed %d events, %d after a revocation", len(got), afterRevocation)
	if len(want) > 0 {
		t.Errorf("%d events made with the test's credentials were not attributed: %v", len(want), want)
	}
	if afterRevocation == 0 {
		t.Error("alice's request after her revocation was not flagged")
	}
	mustFailWith(t, "trace --fail-on-flag", kubeaccess(t, admin, "trace", cluster.AuditLog, "--fail-on-flag"), 1, "flagged")
	// The table says it too: alice's credential, revoked, used after it.
	summary := kubeaccess(t, admin, "trace", cluster.AuditLog, "--summary")
	mustSucceed(t, "trace --summary", summary)
	if !strings.Contains(summary.stdout, "used-after-revocation(") || !strings.Contains(summary.stdout, "revoked") {
		t.Errorf("trace --summary:\n%s", summary.stdout)
	}

	// The same from a saved copy of the records, with no cluster, and
	// the log through gzip on stdin.
	saved := filepath.Join(dir, "records.json")
	writeFile(t, saved, kubeaccess(t, admin, "list", "--all", "-o", "json").stdout)
	zipped := run(t, "", "bash", "-c", fmt.Sprintf("gzip -c %s | %s trace --records %s -o json", cluster.AuditLog, kubeaccessBin, saved))
	mustSucceed(t, "trace of gzip on stdin with --records", zipped)
	if n := len(decodeItems[tracedEvent](t, "trace --records", zipped.stdout)); n != len(got) {
		t.Errorf("trace --records attributed %d events, want %d", n, len(got))
	}

	// list --last-used: every credential was used by kubectl (the
	// renewing one's first certificate maybe not, if it was renewed before
	// its first use).
	used := map[string]bool{}
	for id := range credentialOf {
		used[recordOf[id]] = true
	}
	for _, e := range decodeItems[struct {
		ID       string
		LastUsed *time.Time
	}](t, "list --last-used", kubeaccess(t, admin, "list", "--all", "--last-used", cluster.AuditLog, "-o", "json").stdout) {
		if !renewing[e.ID] && used[e.ID] != (e.LastUsed != nil) {
			t.Errorf("list --last-used: %s was last used %v; want used: %v", e.ID, e.LastUsed, used[e.ID])
		}
	}

	auditUnused(t, dir)
	for id, how := range credentialOf {
		if how == "approve" {
			suggestRole(t, kc["approve"], dir, recordOf[id])
		}
	}
}

// suggestRole applies what trace --suggest-role prints for bob's
// credential, once his own access is revoked: he may then do exactly what
// he did (list pods, create and get configmaps in trace-ns), and no other
// verb on those or other resources, nor anything elsewhere.
func suggestRole(t *testing.T, kubeconfig, dir, recordID string) {
	t.Helper()
	admin := cluster.AdminKubeconfig
	r := kubeaccess(t, admin, "trace", cluster.AuditLog, "--suggest-role", recordID)
	mustSucceed(t, "trace --suggest-role", r)
	suggested := filepath.Join(dir, "suggested.yaml")
	writeFile(t, suggested, r.stdout)
	mustSucceed(t, "revoke bob", kubeaccess(t, admin, "revoke", "tr-bob"))
	waitUntil(t, "bob's access is gone", 10*time.Second, func() bool { return !canI(t, kubeconfig, "list", "pods", "-n", "trace-ns") })
	mustSucceed(t, "apply the suggestion", kubectl(t, admin, "apply", "-f", suggested))
	waitUntil(t, "the suggestion allows bob", 10*time.Second, func() bool { return canI(t, kubeconfig, "list", "pods", "-n", "trace-ns") })
	allowed := map[string]bool{"list pods": true, "create configmaps": true, "get configmaps": true}
	for _, ns := range []string{"trace-ns", "default"} {
		for _, verb := range []string{"get", "list", "watch", "create", "update", "patch", "delete"} {
			for _, res := range []string{"pods", "configmaps", "secrets", "deployments.apps"} {
				want := ns == "trace-ns" && allowed[verb+" "+res]
				if got := canI(t, kubeconfig, verb, res, "-n", ns); got != want {
					t.Errorf("with the suggested role, bob can %s %s in %s: %v, want %v\n%s", verb, res, ns, got, want, r.stdout)
				}
			}
		}
	}
	mustSucceed(t, "remove the suggestion", kubectl(t, admin, "delete", "-f", suggested))
}

// auditUnused: a credential granted and never used, and its binding, are
// what audit --unused reports from the log; the credentials and bindings
// the test used are not.
func auditUnused(t *testing.T, dir string) {
	t.Helper()
	admin := cluster.AdminKubeconfig
	mustSucceed(t, "grant dora", kubeaccess(t, admin, "grant", "tr-dora", "-n", "trace-ns", "--verb", "get", "--resource", "pods", "--out", filepath.Join(dir, "dora.kubeconfig")))
	dora := decodeItems[struct{ ID string }](t, "list --user tr-dora", kubeaccess(t, admin, "list", "--user", "tr-dora", "-o", "json").stdout)[0].ID
	r := kubeaccess(t, admin, "audit", "--unused", "30d", "--audit-log", cluster.AuditLog, "-o", "json")
	mustSucceed(t, "audit --unused", r)
	var credentials, bindings []string
	for _, f := range decodeItems[struct{ Check, Object, Detail string }](t, "audit --unused", r.stdout) {
		switch f.Check {
		case "unused-credential":
			credentials = append(credentials, f.Object)
		case "unused-binding":
			bindings = append(bindings, f.Object)
		}
	}
	if !slices.Equal(credentials, []string{dora}) {
		t.Errorf("audit --unused reports the credentials %q unused, want only dora's %s", credentials, dora)
	}
	joined := strings.Join(bindings, " ")
	if !strings.Contains(joined, "tr-dora") {
		t.Errorf("audit --unused does not report dora's binding: %q", bindings)
	}
	for _, used := range []string{"tr-bob", "tr-carl", "tr-bot", "tr-qa"} {
		if strings.Contains(joined, used) {
			t.Errorf("audit --unused reports a binding of %s, which the log shows used: %q", used, bindings)
		}
	}
}
