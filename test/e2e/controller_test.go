package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubeaccess/kubeaccess/internal/cmd/list"
	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/labels"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

// controllerKubeconfig installs deploy/controller.yaml's service account
// and RBAC (not its Deployment: this control plane runs no pods) and
// returns a kubeconfig of that service account: what the controller runs
// as in the cluster, with the least it needs.
func controllerKubeconfig(t *testing.T) string {
	t.Helper()
	for _, f := range []string{"namespace.yaml", "crd-teamaccess.yaml", "controller.yaml"} {
		mustSucceed(t, "kubectl apply "+f, kubectl(t, cluster.AdminKubeconfig, "apply", "-f", filepath.Join(deployDir(t), f)))
	}
	// kubectl wait fails, rather than waits, on a CRD so new that it has
	// no conditions yet.
	waitUntil(t, "the TeamAccess CRD is established", 30*time.Second, func() bool {
		return kubectl(t, cluster.AdminKubeconfig, "wait", "--for", "condition=established", "--timeout", "30s", "crd/teamaccesses.kubeaccess.io").code == 0
	})
	mustSucceed(t, "delete the controller's Deployment", kubectl(t, cluster.AdminKubeconfig, "delete", "deployment,poddisruptionbudget", "kubeaccess-controller",
		"-n", "kubeaccess-system", "--ignore-not-found"))
	return serviceAccountKubeconfig(t, "kubeaccess-system", "kubeaccess-controller")
}

// controllerProcess is one replica of kubeaccess controller, run as a
// process.
type controllerProcess struct {
	identity        string
	health, metrics string
	cmd             *exec.Cmd
	stderr          *syncBuffer
	done            chan struct{}
}

// startController runs a replica under kubeconfig (with flags), contending
// for lease with a short lease so that failover is quick, and stops it (SIGTERM,
// then SIGKILL) when the test ends.
func startController(t *testing.T, kubeconfig, identity, lease string, flags ...string) *controllerProcess {
	t.Helper()
	p := &controllerProcess{identity: identity, health: freeAddr(t), metrics: freeAddr(t), stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(kubeaccessBin, append([]string{"controller", "--identity", identity, "--lease-name", lease,
		"--lease-duration", "4s", "--renew-deadline", "3s", "--retry-period", "500ms",
		"--health-addr", p.health, "--metrics-addr", p.metrics}, flags...)...)
	p.cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	p.cmd.Stdout, p.cmd.Stderr = p.stderr, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("controller %s said:\n%s", identity, p.stderr.String())
		}
	})
	waitUntil(t, "controller "+identity+" answers /healthz", 30*time.Second, func() bool { return p.get("health", "/healthz") == "ok\n" })
	return p
}

// stop sends sig and waits for the process to end (killing it after 15s).
func (p *controllerProcess) stop(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// get reads a path of the replica's health or metrics endpoint; "" when
// it does not answer 200.
func (p *controllerProcess) get(which, path string) string {
	addr := p.health
	if which == "metrics" {
		addr = p.metrics
	}
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	return string(body)
}

// leading reports whether the replica says (kubeaccess_leader) that it
// reconciles.
func (p *controllerProcess) leading() bool {
	return strings.Contains(p.get("metrics", "/metrics"), "\nkubeaccess_leader 1\n")
}

// metric is the value of a metric line (name with labels) as exported.
func (p *controllerProcess) metric(line string) string {
	for _, l := range strings.Split(p.get("metrics", "/metrics"), "\n") {
		if v, ok := strings.CutPrefix(l, line+" "); ok {
			return v
		}
	}
	return ""
}

// waitUntil polls cond until it holds or timeout passes.
func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A grant --for ends by itself: the controller, running under its own
// service account, takes the access away when its time comes, marks the
// record revoked, and records an Event and a metric.
func TestControllerEndsTimeBoundAccess(t *testing.T) {
	ctl := startController(t, controllerKubeconfig(t), "expiry-a", "expiry-lease")
	waitUntil(t, "the only replica leads and is ready", 30*time.Second, func() bool { return ctl.leading() && ctl.get("health", "/readyz") == "ok\n" })

	out := filepath.Join(t.TempDir(), "tina.kubeconfig")
	start := time.Now()
	s := grantJSON(t, cluster.AdminKubeconfig, "tina", "-g", "dev", "-n", "ctl-expiry", "--verb", "get,list", "--resource", "pods", "--for", "20s", "--out", out)
	if !strings.Contains(s.Record, "c-") {
		t.Fatalf("grant --for kept no record: %+v", s)
	}
	// The certificate lives no longer than the CSR API's minimum, 10m.
	if life := s.Certificate.NotAfter.Sub(start); life > 11*time.Minute {
		t.Errorf("grant --for 20s issued a certificate for %s", life)
	}
	mustSucceed(t, "tina lists pods before her time is up", kubectl(t, out, "get", "pods", "-n", "ctl-expiry"))
	l := kubeaccess(t, cluster.AdminKubeconfig, "list", "--user", "tina", "-o", "json")
	entries := decodeItems[list.Entry](t, "list", l.stdout)
	if len(entries) != 1 || entries[0].Until == nil || entries[0].Until.Sub(start) > 25*time.Second {
		t.Fatalf("list does not show when tina's access ends: %s", l.stdout)
	}
	if table := kubeaccess(t, cluster.AdminKubeconfig, "list", "--user", "tina"); !strings.Contains(table.stdout, "ACCESS-UNTIL") ||
		!strings.Contains(table.stdout, entries[0].Until.Format(time.RFC3339)) {
		t.Errorf("list's table does not show the deadline:\n%s", table.stdout)
	}

	waitUntil(t, "tina is Forbidden once her access has ended", 60*time.Second, func() bool {
		r := kubectl(t, out, "get", "pods", "-n", "ctl-expiry")
		return r.code != 0 && strings.Contains(strings.ToLower(r.stderr), "forbidden")
	})
	if ended := time.Since(start); ended < 20*time.Second {
		t.Errorf("tina's access ended after %s, before its 20s", ended)
	}
	l = kubeaccess(t, cluster.AdminKubeconfig, "list", "--all", "--user", "tina", "-o", "json")
	entries = decodeItems[list.Entry](t, "list", l.stdout)
	if len(entries) != 1 || entries[0].Status != "revoked" || !strings.Contains(entries[0].RevokedBy, "kubeaccess controller") {
		t.Errorf("tina's record after expiry: %s", l.stdout)
	}
	if got := ctl.metric("kubeaccess_expiries_total"); got != "1" {
		t.Errorf("kubeaccess_expiries_total = %q, want 1", got)
	}
	ev := kubectl(t, cluster.AdminKubeconfig, "get", "events", "-n", "kubeaccess-system", "--field-selector", "reason=AccessExpired", "-o", "jsonpath={.items[*].message}")
	if !strings.Contains(ev.stdout, "tina") {
		t.Errorf("no AccessExpired Event for tina: %q %s", ev.stdout, ev.stderr)
	}
	for _, m := range []string{`kubeaccess_credentials{state="active"}`, `kubeaccess_credentials_expiring{within_days="7"}`, "kubeaccess_reconcile_duration_seconds_count{loop=\"expiry\"}"} {
		if ctl.metric(m) == "" {
			t.Errorf("/metrics has no %s", m)
		}
	}
}

// Two replicas, one leader: killed with SIGKILL, the standby takes over
// within the lease's duration; stopped with SIGTERM, the leader releases
// the Lease and the next takes over at once.
func TestControllerFailsOver(t *testing.T) {
	kc := controllerKubeconfig(t)
	a, b := startController(t, kc, "replica-a", "failover-lease"), startController(t, kc, "replica-b", "failover-lease")
	var leader, standby *controllerProcess
	waitUntil(t, "one of two replicas leads", 30*time.Second, func() bool {
		switch {
		case a.leading() && !b.leading():
			leader, standby = a, b
		case b.leading() && !a.leading():
			leader, standby = b, a
		default:
			return false
		}
		return true
	})
	if standby.get("health", "/readyz") != "ok\n" {
		t.Errorf("the standby is not ready")
	}
	killed := time.Now()
	leader.stop(syscall.SIGKILL)
	waitUntil(t, "the standby takes over from a killed leader", 15*time.Second, standby.leading)
	if took := time.Since(killed); took > 4*time.Second+3*time.Second {
		t.Errorf("the standby took over %s after the leader was killed; the lease lasts 4s", took)
	}

	c := startController(t, kc, "replica-c", "failover-lease")
	time.Sleep(time.Second)
	if c.leading() {
		t.Fatal("a third replica leads while another holds the lease")
	}
	stopped := time.Now()
	standby.stop(syscall.SIGTERM)
	if !strings.Contains(standby.stderr.String(), "released the Lease") {
		t.Errorf("the leader stopped by SIGTERM does not say it released the Lease:\n%s", standby.stderr.String())
	}
	waitUntil(t, "the last replica takes over from a leader that stepped down", 10*time.Second, c.leading)
	if took := time.Since(stopped); took >= 4*time.Second {
		t.Errorf("taking over from a leader that released the lease took %s, as long as a lease", took)
	}
}

// The controller approves a renewal only when its requester is the very
// certificate it renews, and leaves alone a request for the same user
// made by anyone else, by a certificate renewed already, or by another
// kubeaccess user for someone else's name.
func TestControllerAnswersRenewals(t *testing.T) {
	ctl := startController(t, controllerKubeconfig(t), "renewals-a", "renewals-lease")
	waitUntil(t, "the replica leads", 30*time.Second, ctl.leading)
	dir := t.TempDir()
	ctx := t.Context()
	admin := adminClient(t)
	renaKC, malloryKC := filepath.Join(dir, "rena.kubeconfig"), filepath.Join(dir, "mallory.kubeconfig")
	rena := grantJSON(t, cluster.AdminKubeconfig, "ctl-rena", "-g", "dev", "-n", "ctl-renew", "--verb", "get", "--resource", "pods", "--out", renaKC)
	grantJSON(t, cluster.AdminKubeconfig, "ctl-mallory", "-g", "dev", "-n", "ctl-renew", "--verb", "get", "--resource", "pods", "--out", malloryKC)
	eveKC := filepath.Join(dir, "eve.kubeconfig")
	grantJSON(t, cluster.AdminKubeconfig, "ctl-eve", "-n", "ctl-renew", "--verb", "get", "--resource", "pods", "--out", eveKC)
	allowRequests(t, "ctl-renew-request", "ctl-rena", "ctl-mallory", "ctl-eve")
	submit := func(kubeconfig, user string, groups []string) *certificatesv1.CertificateSigningRequest {
		return submitRequest(t, kubeconfig, user, groups)
	}
	decided := func(name string) *certificatesv1.CertificateSigningRequest {
		got, err := admin.CertificatesV1().CertificateSigningRequests().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	renewal := submit(renaKC, "ctl-rena", []string{"dev"})
	waitUntil(t, "the renewal is approved and signed", 30*time.Second, func() bool { return len(decided(renewal.Name).Status.Certificate) > 0 })
	got := decided(renewal.Name)
	if c := got.Status.Conditions; len(c) == 0 || c[0].Type != certificatesv1.CertificateApproved || !strings.Contains(c[0].Message, "kubeaccess controller") {
		t.Errorf("the renewal's conditions: %+v", c)
	}
	oldID := strings.TrimPrefix(rena.Record, "kubeaccess-system/")
	store := records.Store{Client: admin, Namespace: "kubeaccess-system"}
	waitUntil(t, "the old record names its successor", 10*time.Second, func() bool {
		old, err := store.Get(ctx, oldID)
		return err == nil && old.ReplacedBy != ""
	})
	old, _ := store.Get(ctx, oldID)
	fresh, err := store.Get(ctx, old.ReplacedBy)
	if err != nil || fresh.Replaces != oldID || fresh.User != "ctl-rena" || len(fresh.Access) == 0 {
		t.Errorf("the renewed record: %+v %v", fresh, err)
	}

	forged := map[string]*certificatesv1.CertificateSigningRequest{
		"the admin, for rena":                      submit(cluster.AdminKubeconfig, "ctl-rena", []string{"dev"}),
		"rena's old certificate, renewed already":  submit(renaKC, "ctl-rena", []string{"dev"}),
		"mallory, for rena's name":                 submit(malloryKC, "ctl-rena", []string{"dev"}),
		"mallory, for herself with an added group": submit(malloryKC, "ctl-mallory", []string{"dev", "admins"}),
	}
	// A request approved after these proves the controller looked at them.
	control := submit(malloryKC, "ctl-mallory", []string{"dev"})
	waitUntil(t, "mallory's own renewal is approved", 30*time.Second, func() bool { return len(decided(control.Name).Status.Conditions) > 0 })
	time.Sleep(2 * time.Second)
	for what, req := range forged {
		if c := decided(req.Name).Status.Conditions; len(c) > 0 {
			t.Errorf("%s: the controller decided a request it should leave alone: %+v", what, c)
		}
	}
	// Eve came to hold an escalation-grade permission after her
	// certificate was issued: the renewal's privilege review, as every
	// issuance's, refuses it.
	mustSucceed(t, "a role reading kube-system's secrets", kubectl(t, cluster.AdminKubeconfig, "-n", "kube-system", "create", "role", "ctl-eve-secrets", "--verb", "get", "--resource", "secrets"))
	mustSucceed(t, "bound to eve", kubectl(t, cluster.AdminKubeconfig, "-n", "kube-system", "create", "rolebinding", "ctl-eve-secrets", "--role", "ctl-eve-secrets", "--user", "ctl-eve"))
	kubectlPath, adminKC := cluster.Kubectl(), cluster.AdminKubeconfig
	t.Cleanup(func() {
		_ = exec.Command(kubectlPath, "--kubeconfig", adminKC, "-n", "kube-system", "delete", "role,rolebinding", "ctl-eve-secrets").Run()
	})
	escalated := submit(eveKC, "ctl-eve", nil)
	waitUntil(t, "eve's renewal is refused by the privilege review", 30*time.Second, func() bool {
		return strings.Contains(ctl.stderr.String(), `refusing to issue a credential to "ctl-eve": it would hold escalation-grade permissions`)
	})
	if c := decided(escalated.Name).Status.Conditions; len(c) > 0 && c[0].Type == certificatesv1.CertificateApproved {
		t.Errorf("eve's renewal was approved although she may read kube-system's secrets: %+v", c)
	}
	if log := ctl.stderr.String(); !strings.Contains(log, "kube-system-secrets-get") || ctl.metric(`kubeaccess_refusals_total{loop="renewal",reason="checks"}`) == "" {
		t.Errorf("the controller does not say eve's renewal would hold kube-system-secrets-get, or counts no refusal:\n%s", grepLines(log, "ctl-eve"))
	}
	forged["eve, escalated"] = escalated
	if ctl.metric(`kubeaccess_renewals_total{result="approved"}`) != "2" || ctl.metric(`kubeaccess_renewals_total{result="refused"}`) == "" ||
		ctl.metric(`kubeaccess_renewals_total{result="ignored"}`) == "" {
		t.Errorf("renewal metrics:\n%s", grepLines(ctl.get("metrics", "/metrics"), "kubeaccess_renewals_total"))
	}
	for _, req := range append([]*certificatesv1.CertificateSigningRequest{renewal, control}, valuesOf(forged)...) {
		_ = admin.CertificatesV1().CertificateSigningRequests().Delete(context.Background(), req.Name, metav1.DeleteOptions{})
	}
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func valuesOf[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// allowRequests lets users submit CertificateSigningRequests of their
// own, as asking for a renewal takes, through ClusterRole and binding name.
func allowRequests(t *testing.T, name string, users ...string) {
	t.Helper()
	ctx, admin := t.Context(), adminClient(t)
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{{Verbs: []string{"create", "get"}, APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var subjects []rbacv1.Subject
	for _, u := range users {
		subjects = append(subjects, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: u})
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}, Subjects: subjects}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = admin.RbacV1().ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{})
		_ = admin.RbacV1().ClusterRoles().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}

// submitRequest submits, as kubeconfig's user, a request for a new key's
// certificate for user in groups, for an hour.
func submitRequest(t *testing.T, kubeconfig, user string, groups []string) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	req := []byte(requestFor(t, user, groups...))
	obj := csr.Build(user, req, time.Hour)
	obj.Spec.ExpirationSeconds = ptr.To(int32(3600))
	created, err := clientFor(t, kubeconfig).CertificatesV1().CertificateSigningRequests().Create(t.Context(), obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("submitting a request for %s: %v", user, err)
	}
	return created
}

// A renewal approved by a leader that died before it recorded the new
// certificate is recorded by the next leader, once, as replacing the
// credential that asked; an approval that only claims to be the
// controller's, of a request the credential did not make, is not.
func TestControllerRecordsARenewalApprovedBeforeAFailover(t *testing.T) {
	kc := controllerKubeconfig(t)
	dir := t.TempDir()
	ctx, admin := t.Context(), adminClient(t)
	path := filepath.Join(dir, "crash.kubeconfig")
	first := grantJSON(t, cluster.AdminKubeconfig, "ctl-crash", "-g", "dev", "-n", "ctl-crash", "--verb", "get", "--resource", "pods", "--out", path)
	oldID := strings.TrimPrefix(first.Record, "kubeaccess-system/")
	allowRequests(t, "ctl-crash-request", "ctl-crash")
	// What the dead leader did: approve the credential's own request, in
	// its words; the signer then issues the certificate.
	approved := submitRequest(t, path, "ctl-crash", []string{"dev"})
	forged := submitRequest(t, cluster.AdminKubeconfig, "ctl-crash", []string{"dev"})
	for _, req := range []*certificatesv1.CertificateSigningRequest{approved, forged} {
		if err := csr.Approve(ctx, admin, req, "approved by kubeaccess controller: renewal of credential "+oldID+" of ctl-crash"); err != nil {
			t.Fatal(err)
		}
	}
	store := records.Store{Client: admin, Namespace: "kubeaccess-system"}
	ctl := startController(t, kc, "crash-b", "crash-lease")
	waitUntil(t, "the next leader records the renewal", 30*time.Second, func() bool {
		old, err := store.Get(ctx, oldID)
		return err == nil && old.ReplacedBy != ""
	})
	old, _ := store.Get(ctx, oldID)
	got, err := admin.CertificatesV1().CertificateSigningRequests().Get(ctx, approved.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.ParseCertificate(got.Status.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	if want := records.CertificateID(pki.Describe(cert).SHA256); old.ReplacedBy != want {
		t.Errorf("the old record names %s as its successor, want the approved certificate's %s", old.ReplacedBy, want)
	}
	waitUntil(t, "the forged approval is looked at", 10*time.Second, func() bool {
		return ctl.metric(`kubeaccess_refusals_total{loop="renewal",reason="unrecognised-approval"}`) != ""
	})
	recs, err := store.List(ctx, "ctl-crash")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Errorf("ctl-crash has %d records, want the first and the one renewal: %+v", len(recs), recs)
	}
}

// invite --for: the invitation fixes a group of the certificate's own, the
// browser's request carries it, the access is bound to it, and the
// controller takes the access away that long after the link was used.
func TestControllerEndsAnInvitationsTimeBoundAccess(t *testing.T) {
	ctl := startController(t, controllerKubeconfig(t), "invite-expiry", "invite-expiry-lease")
	waitUntil(t, "the replica leads", 30*time.Second, ctl.leading)
	serveURL := startServe(t, cluster.AdminKubeconfig, "https://localhost")
	r := kubeaccess(t, cluster.AdminKubeconfig, "invite", "ctl-ivan", "-g", "dev", "-n", "ctl-invite", "--verb", "get,list", "--resource", "pods",
		"--for", "15s", "--public-url", serveURL, "-o", "json")
	mustSucceed(t, "invite --for", r)
	var inv struct {
		Link            string   `json:"link"`
		Groups          []string `json:"groups"`
		CredentialGroup string   `json:"credentialGroup"`
		For             string   `json:"for"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &inv); err != nil {
		t.Fatalf("invite -o json: %v\n%s", err, r.stdout)
	}
	if inv.CredentialGroup == "" || !slices.Contains(inv.Groups, inv.CredentialGroup) || inv.For != "15s" {
		t.Fatalf("invite --for does not fix a group of the certificate's own: %s", r.stdout)
	}
	used := time.Now()
	if code, st := redeemOverHTTP(t, inv.Link, requestFor(t, "ctl-ivan", inv.Groups...)); code != http.StatusAccepted {
		t.Fatalf("redeeming: %d %+v", code, st)
	}
	pollUntil(t, inv.Link, "issued")
	can := func() string {
		args := []string{"auth", "can-i", "list", "pods", "-n", "ctl-invite", "--as", "ctl-ivan"}
		for _, g := range inv.Groups {
			args = append(args, "--as-group", g)
		}
		return strings.TrimSpace(kubectl(t, cluster.AdminKubeconfig, args...).stdout)
	}
	if got := can(); got != "yes" {
		t.Fatalf("the redeemed access does not allow listing pods: %q", got)
	}
	waitUntil(t, "the invitation's access ends by itself", 60*time.Second, func() bool { return can() == "no" })
	if ended := time.Since(used); ended < 15*time.Second {
		t.Errorf("the access ended %s after the link was used, before its 15s", ended)
	}
}

const controllerTeam = `apiVersion: kubeaccess.io/v1alpha1
kind: TeamAccess
metadata:
  name: ctl-team
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
      namespaces: [ctl-team]
  users:
%s  serviceAccounts:
  - name: ctl-team/bot
    access:
    - role: reader
      namespaces: [ctl-team]
`

// authored writes a copy of file annotated with its author: whoever
// kubeconfig authenticates, as the admission policy asks of a TeamAccess
// written with kubectl.
func authored(t *testing.T, kubeconfig, file string) string {
	t.Helper()
	r := kubectl(t, kubeconfig, "auth", "whoami", "-o", "json")
	mustSucceed(t, "kubectl auth whoami", r)
	var review struct {
		Status struct{ UserInfo authenticationv1.UserInfo }
	}
	if err := json.Unmarshal([]byte(r.stdout), &review); err != nil {
		t.Fatal(err)
	}
	who := review.Status.UserInfo
	r = kubectl(t, kubeconfig, "annotate", "--local", "-f", file, "-o", "yaml",
		labels.Author+"="+who.Username, labels.AuthorGroups+"="+strings.Join(who.Groups, ","))
	mustSucceed(t, "kubectl annotate --local", r)
	out := strings.TrimSuffix(file, ".yaml") + ".authored.yaml"
	writeFile(t, out, r.stdout)
	return out
}

// teamFile writes the controller test's team file with users.
func teamFile(t *testing.T, dir string, users ...string) string {
	t.Helper()
	var b strings.Builder
	for _, u := range users {
		fmt.Fprintf(&b, "  - name: %s\n    groups: [dev]\n", u)
	}
	path := filepath.Join(dir, "team.yaml")
	writeFile(t, path, fmt.Sprintf(controllerTeam, b.String()))
	return path
}

// A TeamAccess object is kept by the controller as apply -f keeps a team
// file: its roles and bindings made, its service account bound, a member
// removed from it Forbidden within one reconcile, someone else's change to
// its bindings put back and reported, and its status saying who is bound
// and who still needs a credential.
func TestControllerKeepsATeamAccess(t *testing.T) {
	kc := controllerKubeconfig(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	file := teamFile(t, dir, "ctl-tom", "ctl-uma")
	// The members' certificates come from apply -f, as before.
	mustSucceed(t, "kubeaccess apply -f", kubeaccess(t, cluster.AdminKubeconfig, "apply", "-f", file, "--out-dir", out))
	uma := filepath.Join(out, "users", "ctl-uma.kubeconfig")
	mustSucceed(t, "uma lists pods", kubectl(t, uma, "get", "pods", "-n", "ctl-team"))

	ctl := startController(t, kc, "team-a", "team-lease")
	waitUntil(t, "the replica leads", 30*time.Second, ctl.leading)
	mustSucceed(t, "kubectl apply the TeamAccess", kubectl(t, cluster.AdminKubeconfig, "apply", "-f", authored(t, cluster.AdminKubeconfig, file)))
	status := func() map[string]any { return teamAccessStatus(t, "ctl-team") }
	waitUntil(t, "the TeamAccess is reconciled", 30*time.Second, func() bool { return status() != nil })
	st := status()
	if st["members"] != float64(3) || st["bound"] != float64(3) || st["pending"] != float64(0) {
		t.Errorf("status of a team whose users hold credentials: %v", st)
	}
	table := kubectl(t, cluster.AdminKubeconfig, "get", "teamaccess")
	for _, col := range []string{"READY", "MEMBERS", "BOUND", "PENDING", "ctl-team", "True"} {
		if !strings.Contains(table.stdout, col) {
			t.Errorf("kubectl get teamaccess does not show %s:\n%s", col, table.stdout)
		}
	}
	canBot := func() string {
		return strings.TrimSpace(kubectl(t, cluster.AdminKubeconfig, "auth", "can-i", "list", "pods", "-n", "ctl-team", "--as", "system:serviceaccount:ctl-team:bot").stdout)
	}
	if got := canBot(); got != "yes" {
		t.Errorf("the team's service account may not list pods: %q", got)
	}

	// Drift: someone takes the members out of the team's binding.
	binding := "kubeaccess:team:ctl-team:dev:reader"
	r := kubectl(t, cluster.AdminKubeconfig, "get", "rolebinding", "-n", "ctl-team", "-l", "kubeaccess.io/team=ctl-team", "-o", "jsonpath={.items[*].metadata.name}")
	for _, name := range strings.Fields(r.stdout) {
		if strings.Contains(name, ":dev") || strings.Contains(name, "group") {
			binding = name
		}
	}
	mustSucceed(t, "someone empties the team's binding", kubectl(t, cluster.AdminKubeconfig, "patch", "rolebinding", binding, "-n", "ctl-team", "--type", "json",
		"-p", `[{"op":"replace","path":"/subjects","value":[{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"intruder"}]}]`))
	waitUntil(t, "the drift is put back", 30*time.Second, func() bool {
		got := kubectl(t, cluster.AdminKubeconfig, "get", "rolebinding", binding, "-n", "ctl-team", "-o", "jsonpath={.subjects[*].name}").stdout
		return strings.Contains(got, "ctl-uma") && !strings.Contains(got, "intruder")
	})
	waitUntil(t, "the drift is reported as an Event", 10*time.Second, func() bool {
		ev := kubectl(t, cluster.AdminKubeconfig, "get", "events", "-A", "--field-selector", "reason=DriftCorrected", "-o", "jsonpath={.items[*].message}")
		return strings.Contains(ev.stdout, binding)
	})

	// uma leaves the team: Forbidden within one reconcile, her record revoked.
	// The change goes through apply --server-side, which hands the file to
	// the controller and waits for its status.
	teamFile(t, dir, "ctl-tom", "ctl-vic")
	removed := time.Now()
	r = kubeaccess(t, cluster.AdminKubeconfig, "apply", "--server-side", "-f", file, "--timeout", "30s")
	mustSucceed(t, "kubeaccess apply --server-side", r)
	if !strings.Contains(r.stdout, "teamaccess.kubeaccess.io/ctl-team applied") || !strings.Contains(r.stdout, "reconciled: 3 members, 2 bound; waiting for a credential: [ctl-vic]") {
		t.Errorf("apply --server-side does not say what the controller made of it:\n%s\n%s", r.stdout, r.stderr)
	}
	waitUntil(t, "uma is Forbidden", 30*time.Second, func() bool {
		r := kubectl(t, uma, "get", "pods", "-n", "ctl-team")
		return r.code != 0 && strings.Contains(strings.ToLower(r.stderr), "forbidden")
	})
	t.Logf("a member removed was Forbidden %s after the change", time.Since(removed).Round(time.Millisecond))
	waitUntil(t, "the changed TeamAccess is reconciled", 30*time.Second, func() bool { return status() != nil })
	st = status()
	if st["members"] != float64(3) || st["bound"] != float64(2) || st["pending"] != float64(1) || !strings.Contains(fmt.Sprint(st["pendingMembers"]), "ctl-vic") {
		t.Errorf("status after uma left and vic (no credential yet) joined: %v", st)
	}
	l := kubeaccess(t, cluster.AdminKubeconfig, "list", "--all", "--user", "ctl-uma", "-o", "json")
	for _, e := range decodeItems[list.Entry](t, "list", l.stdout) {
		if e.Status != "revoked" {
			t.Errorf("uma's record after she left the TeamAccess: %+v", e)
		}
	}
	if ctl.metric("kubeaccess_drift_corrected_total") == "" || ctl.metric("kubeaccess_drift_corrected_total") == "0" {
		t.Errorf("no drift counted")
	}
	tom := filepath.Join(out, "users", "ctl-tom.kubeconfig")
	mustSucceed(t, "tom still lists pods", kubectl(t, tom, "get", "pods", "-n", "ctl-team"))

	// The TeamAccess deleted: its finalizer holds it until what it made is
	// gone and its members' credentials are revoked.
	if got := kubectl(t, cluster.AdminKubeconfig, "get", "teamaccess", "ctl-team", "-o", "jsonpath={.metadata.finalizers}").stdout; !strings.Contains(got, "kubeaccess.io/prune") {
		t.Errorf("the TeamAccess has no finalizer: %q", got)
	}
	mustSucceed(t, "kubectl delete teamaccess", kubectl(t, cluster.AdminKubeconfig, "delete", "teamaccess", "ctl-team", "--timeout", "30s"))
	if got := kubectl(t, cluster.AdminKubeconfig, "get", "rolebindings,roles,clusterrolebindings,clusterroles", "-A", "-l", "kubeaccess.io/team=ctl-team", "-o", "name").stdout; got != "" {
		t.Errorf("the deleted team's objects remain:\n%s", got)
	}
	if r := kubectl(t, tom, "get", "pods", "-n", "ctl-team"); r.code == 0 || !strings.Contains(strings.ToLower(r.stderr), "forbidden") {
		t.Errorf("tom may list pods after his team was deleted: %d %s", r.code, r.stderr)
	}
	l = kubeaccess(t, cluster.AdminKubeconfig, "list", "--all", "--user", "ctl-tom", "-o", "json")
	for _, e := range decodeItems[list.Entry](t, "list", l.stdout) {
		if e.Status != "revoked" {
			t.Errorf("tom's record after his team was deleted: %+v", e)
		}
	}
	if got := canBot(); got != "no" {
		t.Errorf("the deleted team's service account may still list pods: %q", got)
	}
	waitUntil(t, "the pruning is an Event", 10*time.Second, func() bool {
		return strings.Contains(kubectl(t, cluster.AdminKubeconfig, "get", "events", "-A", "--field-selector", "reason=Pruned", "-o", "jsonpath={.items[*].message}").stdout, "ctl-tom")
	})
}
