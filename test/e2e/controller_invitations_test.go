package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubeaccess/kubeaccess/internal/pki"
)

const invitingTeam = `apiVersion: kubeaccess.io/v1alpha1
kind: TeamAccess
metadata:
  name: %[1]s
spec:
  ttl: 24h
  roles:
    reader:
      rules:
      - verbs: [get, list]
        resources: [pods]
  groups:
    dev:
    - role: reader
      namespaces: [%[2]s]
  users:
%[3]s  invitations:
    expires: 1h
    secret:
      namespace: ctl-inv-leads
      name: %[1]s-links
    webhook:
      url: %[4]s
`

// notices records what the invitation webhook is posted.
type notices struct {
	mu  sync.Mutex
	got []map[string]string
}

func (n *notices) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var m map[string]string
	if json.Unmarshal(body, &m) != nil || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "not JSON", http.StatusBadRequest)
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, m)
}

func (n *notices) all() []map[string]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.got)
}

// links reads a team's links Secret as its readers do: user key → link.
func links(t *testing.T, namespace, name string) map[string]string {
	t.Helper()
	r := kubectl(t, cluster.AdminKubeconfig, "get", "secret", name, "-n", namespace, "-o", "jsonpath={.data}")
	if r.code != 0 {
		return nil
	}
	raw := map[string]string{}
	if r.stdout != "" {
		if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
			t.Fatalf("the links Secret's data: %v\n%s", err, r.stdout)
		}
	}
	out := map[string]string{}
	for k, v := range raw {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = string(b)
	}
	return out
}

// teamAccessStatus is a TeamAccess's status once it is about its generation.
func teamAccessStatus(t *testing.T, name string) map[string]any {
	t.Helper()
	r := kubectl(t, cluster.AdminKubeconfig, "get", "teamaccess", name, "-o", "json")
	var obj struct {
		Metadata struct{ Generation int64 }
		Status   map[string]any
	}
	if err := json.Unmarshal([]byte(r.stdout), &obj); err != nil {
		return nil
	}
	if g, _ := obj.Status["observedGeneration"].(float64); int64(g) != obj.Metadata.Generation {
		return nil
	}
	return obj.Status
}

// condition is a status's condition of type kind: status, reason, message.
func condition(st map[string]any, kind string) (string, string, string) {
	conds, _ := st["conditions"].([]any)
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == kind {
			return fmt.Sprint(m["status"]), fmt.Sprint(m["reason"]), fmt.Sprint(m["message"])
		}
	}
	return "", "", ""
}

// redeemAs uses link as the page does, with a key of its own, and returns
// a kubeconfig with that key and the certificate issued.
func redeemAs(t *testing.T, link, user string, groups ...string) string {
	t.Helper()
	key, req := keyAndRequest(t, user, groups...)
	if code, st := redeemOverHTTP(t, link, req); code != http.StatusAccepted {
		t.Fatalf("redeeming %s's link: %d %+v", user, code, st)
	}
	pollUntil(t, link, "issued", "failed")
	resp, err := insecureClient().Get(link + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct{ State, Message, Certificate string }
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.State != "issued" {
		t.Fatalf("%s's redemption: %v %+v", user, err, st)
	}
	keyPEM, err := pki.MarshalKey(key)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := clientcmd.LoadFromFile(cluster.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = admin.Clusters[admin.Contexts[admin.CurrentContext].Cluster]
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: []byte(st.Certificate), ClientKeyData: keyPEM}
	cfg.Contexts[user] = &clientcmdapi.Context{Cluster: "c", AuthInfo: user}
	cfg.CurrentContext = user
	path := filepath.Join(t.TempDir(), user+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// The users of a TeamAccess that asks for invitations are invited by the
// controller: one link each, in the Secret the team names and posted to
// its webhook, never twice (not after a failover either); a link used
// gives the member a certificate of their own key, which the controller
// then binds; a member removed before using theirs finds it revoked; the
// author must hold the invite permission, and the webhook must be one the
// controller was allowed.
func TestControllerInvitesATeamsUsers(t *testing.T) {
	admin := cluster.AdminKubeconfig
	kc := controllerKubeconfig(t)
	serveURL := startServe(t, portalKubeconfig(t), "https://localhost")
	hooks := &notices{}
	receiver := httptest.NewServer(hooks)
	t.Cleanup(receiver.Close)
	flags := []string{"--portal-url", serveURL, "--invitation-webhook-allow", receiver.URL + "/hooks/"}
	for _, ns := range []string{"ctl-inv", "ctl-inv-leads"} {
		mustSucceed(t, "create namespace "+ns, kubectl(t, admin, "create", "namespace", ns))
	}
	mustSucceed(t, "let the controller write links in ctl-inv-leads", kubectl(t, admin, "create", "rolebinding", "kubeaccess-invitation-links", "-n", "ctl-inv-leads",
		"--clusterrole", "kubeaccess-controller-invitation-links", "--serviceaccount", "kubeaccess-system:kubeaccess-controller"))
	first := startController(t, kc, "inv-a", "inv-lease", flags...)
	waitUntil(t, "the replica leads", 30*time.Second, first.leading)
	second := startController(t, kc, "inv-b", "inv-lease", flags...)

	dir := t.TempDir()
	write := func(users ...string) string {
		var b strings.Builder
		for _, u := range users {
			fmt.Fprintf(&b, "  - name: %s\n    groups: [dev]\n", u)
		}
		path := filepath.Join(dir, "team.yaml")
		writeFile(t, path, fmt.Sprintf(invitingTeam, "ctl-inv", "ctl-inv", b.String(), receiver.URL+"/hooks/team"))
		return authored(t, admin, path)
	}
	r := kubeaccess(t, admin, "apply", "-f", write("ctl-ivy", "ctl-jo"), "--out-dir", filepath.Join(dir, "out"), "--dry-run=client")
	mustSucceed(t, "apply -f --dry-run=client of a file with invitations", r)
	if !strings.Contains(r.stderr, "spec.invitations is kubeaccess controller's") {
		t.Errorf("apply -f does not say that it does not invite:\n%s", r.stderr)
	}
	mustSucceed(t, "apply a TeamAccess with invitations", kubectl(t, admin, "apply", "-f", write("ctl-ivy", "ctl-jo")))
	waitUntil(t, "both users are invited", 60*time.Second, func() bool {
		st := teamAccessStatus(t, "ctl-inv")
		status, _, _ := condition(st, "Invited")
		return st != nil && st["invited"] == float64(2) && status == "True"
	})
	waitUntil(t, "the status says where the links went", 30*time.Second, func() bool {
		open, _ := teamAccessStatus(t, "ctl-inv")["invitations"].([]any)
		for _, o := range open {
			m, _ := o.(map[string]any)
			if m["sentTo"] != "secret ctl-inv-leads/ctl-inv-links, webhook" {
				return false
			}
		}
		return len(open) == 2
	})
	sent := links(t, "ctl-inv-leads", "ctl-inv-links")
	if len(sent) != 2 || !strings.HasPrefix(sent["ctl-ivy"], serveURL+"/i/") || !strings.HasPrefix(sent["ctl-jo"], serveURL+"/i/") {
		t.Fatalf("the links Secret does not hold one link per user: %v", sent)
	}
	waitUntil(t, "the webhook is posted both links", 30*time.Second, func() bool { return len(hooks.all()) == 2 })
	for _, n := range hooks.all() {
		if n["link"] != sent[n["user"]] || n["team"] != "ctl-inv" || !strings.Contains(n["text"], n["link"]) {
			t.Errorf("the webhook's notice does not carry the user's link: %v", n)
		}
	}
	// Where a link must never go: the controller's log and the Events.
	events := kubectl(t, admin, "get", "events", "-A", "-o", "jsonpath={.items[*].message}").stdout
	for user, link := range sent {
		token := strings.TrimPrefix(link, serveURL+"/i/")
		if strings.Contains(first.stderr.String(), token) || strings.Contains(second.stderr.String(), token) || strings.Contains(events, token) {
			t.Errorf("%s's link token was logged or put in an Event", user)
		}
	}
	if !strings.Contains(kubectl(t, admin, "get", "teamaccess", "ctl-inv").stdout, "INVITED") {
		t.Errorf("kubectl get teamaccess does not show INVITED")
	}

	// A failover: the standby takes over and invites no one again.
	first.stop(syscall.SIGKILL)
	waitUntil(t, "the standby leads", 30*time.Second, second.leading)
	mustSucceed(t, "a spec change the new leader reconciles", kubectl(t, admin, "apply", "-f", write("ctl-jo", "ctl-ivy")))
	waitUntil(t, "the new leader reconciled", 30*time.Second, func() bool {
		st := teamAccessStatus(t, "ctl-inv")
		return st != nil && st["invited"] == float64(2)
	})
	invitations := func() []string {
		r := kubectl(t, admin, "get", "secrets", "-n", "kubeaccess-system", "-l", "kubeaccess.io/invite=true,kubeaccess.io/team=ctl-inv", "-o", "name")
		return strings.Fields(r.stdout)
	}
	if got := invitations(); len(got) != 2 {
		t.Errorf("after a failover the team has %d invitations, want 2 (nothing made twice): %v", len(got), got)
	}
	if again := links(t, "ctl-inv-leads", "ctl-inv-links"); !maps.Equal(again, sent) {
		t.Errorf("the links changed after a failover: %v, was %v", again, sent)
	}
	if n := len(hooks.all()); n != 2 {
		t.Errorf("the webhook was posted %d times after a failover, want 2", n)
	}

	// Ivy uses her link: her own key, a certificate of the team's, bound.
	ivy := redeemAs(t, sent["ctl-ivy"], "ctl-ivy", "dev")
	waitUntil(t, "ivy is bound", 30*time.Second, func() bool { return kubectl(t, ivy, "get", "pods", "-n", "ctl-inv").code == 0 })
	whoami := kubectl(t, ivy, "auth", "whoami")
	if !strings.Contains(whoami.stdout, "ctl-ivy") || !strings.Contains(whoami.stdout, "dev") {
		t.Errorf("ivy's certificate is not ctl-ivy of dev: %s", whoami.stdout)
	}
	if r := kubectl(t, ivy, "get", "pods", "-n", "default"); r.code == 0 || !strings.Contains(r.stderr, "Forbidden") {
		t.Errorf("ivy can list pods outside the team's namespace: %d %s", r.code, r.stderr)
	}
	waitUntil(t, "only jo's link is left", 30*time.Second, func() bool {
		l := links(t, "ctl-inv-leads", "ctl-inv-links")
		return len(l) == 1 && l["ctl-jo"] == sent["ctl-jo"]
	})
	if code, st := redeemOverHTTP(t, sent["ctl-ivy"], requestFor(t, "ctl-ivy", "dev")); code == http.StatusAccepted {
		t.Errorf("ivy's link worked twice: %+v", st)
	}
	records := kubectl(t, admin, "get", "configmaps", "-n", "kubeaccess-system", "-l", "kubeaccess.io/team=ctl-inv", "-o", "name")
	if n := len(strings.Fields(records.stdout)); n != 1 {
		t.Errorf("the team has %d records after one redemption: %s", n, records.stdout)
	}

	// Jo leaves before using hers: it is revoked, and the Secret empties.
	mustSucceed(t, "remove jo", kubectl(t, admin, "apply", "-f", write("ctl-ivy")))
	waitUntil(t, "jo's link is taken out", 30*time.Second, func() bool {
		l := links(t, "ctl-inv-leads", "ctl-inv-links")
		return l != nil && len(l) == 0
	})
	if code, st := redeemOverHTTP(t, sent["ctl-jo"], requestFor(t, "ctl-jo", "dev")); code == http.StatusAccepted || !strings.Contains(st.Message, "revoked") {
		t.Errorf("jo's link still works after she left the team: %d %+v", code, st)
	}

	// A webhook the controller was not allowed is refused, and says so.
	mustSucceed(t, "apply a TeamAccess posting elsewhere", kubectl(t, admin, "apply", "-f", func() string {
		path := filepath.Join(dir, "elsewhere.yaml")
		writeFile(t, path, fmt.Sprintf(invitingTeam, "ctl-inv-far", "ctl-inv", "  - name: ctl-kim\n    groups: [dev]\n", receiver.URL+"/other"))
		return authored(t, admin, path)
	}()))
	waitUntil(t, "the webhook is refused", 30*time.Second, func() bool {
		_, reason, message := condition(teamAccessStatus(t, "ctl-inv-far"), "Invited")
		return reason == "WebhookNotAllowed" && strings.Contains(message, "--invitation-webhook-allow")
	})
	if l := links(t, "ctl-inv-leads", "ctl-inv-far-links"); l != nil {
		t.Errorf("links were written for a team whose webhook is refused: %v", l)
	}

	// An author who may write TeamAccess objects and bind the team's
	// access, but not invite, has no one invited until they may.
	mustSucceed(t, "create lead", kubectl(t, admin, "create", "serviceaccount", "lead", "-n", "ctl-inv-leads"))
	mustSucceed(t, "let lead write TeamAccess objects", kubectl(t, admin, "create", "clusterrole", "ctl-inv-writer",
		"--verb", "get,list,create,update,patch", "--resource", "teamaccesses.kubeaccess.io"))
	mustSucceed(t, "bind it", kubectl(t, admin, "create", "clusterrolebinding", "ctl-inv-writer", "--clusterrole", "ctl-inv-writer",
		"--serviceaccount", "ctl-inv-leads:lead"))
	mustSucceed(t, "a team lead's role", kubectl(t, admin, "create", "role", "ctl-inv-lead", "-n", "ctl-inv",
		"--verb", "get,list,create,update,patch,delete", "--resource", "roles,rolebindings,pods"))
	mustSucceed(t, "bind it", kubectl(t, admin, "create", "rolebinding", "ctl-inv-lead", "-n", "ctl-inv", "--role", "ctl-inv-lead", "--serviceaccount", "ctl-inv-leads:lead"))
	mustSucceed(t, "lead may write Secrets in ctl-inv-leads", kubectl(t, admin, "create", "rolebinding", "ctl-inv-lead-secrets", "-n", "ctl-inv-leads",
		"--clusterrole", "kubeaccess-controller-invitation-links", "--serviceaccount", "ctl-inv-leads:lead"))
	lead := serviceAccountKubeconfig(t, "ctl-inv-leads", "lead")
	path := filepath.Join(dir, "lead.yaml")
	writeFile(t, path, fmt.Sprintf(invitingTeam, "ctl-inv-lead", "ctl-inv", "  - name: ctl-lou\n    groups: [dev]\n", receiver.URL+"/hooks/lead"))
	mustSucceed(t, "lead applies a TeamAccess", kubectl(t, lead, "apply", "-f", authored(t, lead, path)))
	waitUntil(t, "the invitation is refused", 30*time.Second, func() bool {
		st := teamAccessStatus(t, "ctl-inv-lead")
		ready, _, _ := condition(st, "Ready")
		_, reason, message := condition(st, "Invited")
		return ready == "True" && reason == "Unauthorized" && strings.Contains(message, "may not invite teamaccess")
	})
	if got := len(hooks.all()); got != 2 {
		t.Errorf("a link was posted for an author who may not invite: %d notices", got)
	}
	mustSucceed(t, "let lead invite (deploy/'s ClusterRole)", kubectl(t, admin, "create", "clusterrolebinding", "ctl-inv-inviter",
		"--clusterrole", "kubeaccess-teamaccess-inviter", "--serviceaccount", "ctl-inv-leads:lead"))
	// The controller looks again at a refused invitation within 30s.
	waitUntil(t, "lou is invited once lead may invite", 90*time.Second, func() bool {
		status, _, _ := condition(teamAccessStatus(t, "ctl-inv-lead"), "Invited")
		return status == "True" && len(hooks.all()) == 3
	})

	// The team deleted: its open invitations revoked, its links Secret
	// gone with it.
	lou := links(t, "ctl-inv-leads", "ctl-inv-lead-links")["ctl-lou"]
	mustSucceed(t, "delete lead's TeamAccess", kubectl(t, admin, "delete", "teamaccess", "ctl-inv-lead", "--timeout", "60s"))
	if code, st := redeemOverHTTP(t, lou, requestFor(t, "ctl-lou", "dev")); code == http.StatusAccepted || !strings.Contains(st.Message, "revoked") {
		t.Errorf("lou's link still works after the team was deleted: %d %+v", code, st)
	}
	waitUntil(t, "the links Secret goes with its TeamAccess", 60*time.Second, func() bool {
		return kubectl(t, admin, "get", "secret", "ctl-inv-lead-links", "-n", "ctl-inv-leads").code != 0
	})
}
