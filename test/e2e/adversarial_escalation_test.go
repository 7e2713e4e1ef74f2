package e2e

// The second adversarial round (issue "No path to escalation through team
// files, the portal and invitations, or a workload's service account"):
// one test per class, each asserting the exit code or HTTP status, the
// message, and that nothing was issued, bound, changed or deleted.

import (
	"crypto"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	invitation "github.com/kubeaccess/kubeaccess/internal/invite"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/labels"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

// namespace creates a namespace for one test.
func namespace(t *testing.T, client kubernetes.Interface, name string) {
	t.Helper()
	_, err := client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// powerfulAccount makes namespace/name a service account bound to
// cluster-admin, as a CI deployer often is.
func powerfulAccount(t *testing.T, client kubernetes.Interface, ns, name string) {
	t.Helper()
	namespace(t, client, ns)
	if _, err := client.CoreV1().ServiceAccounts(ns).Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := client.RbacV1().ClusterRoleBindings().Create(t.Context(), &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-" + name + "-admin"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// TestEscalationWorkloadRunsAsItsServiceAccounts: class 1. Whoever may run
// pods in a namespace holds what its service accounts hold: grant, token,
// invite and apply refuse such access, held or granted, naming the account
// and what it holds; the portal's own namespace is one such.
func TestEscalationWorkloadRunsAsItsServiceAccounts(t *testing.T) {
	admin := adminClient(t)
	dir := t.TempDir()
	powerfulAccount(t, admin, "wl-apps", "deployer")
	const because = `runs as service account wl-apps/deployer, which holds all-resources`

	out := filepath.Join(dir, "wl-bob.kubeconfig")
	r := kubeaccess(t, cluster.AdminKubeconfig, "grant", "wl-bob", "-n", "wl-apps", "--clusterrole", "edit", "--out", out)
	mustFailWith(t, "grant edit where a powerful account runs", r, 2, `refusing to issue a credential to "wl-bob": it would hold escalation-grade permissions`)
	if !strings.Contains(r.stderr, because) || !strings.Contains(r.stderr, "runs-as-serviceaccount: ") {
		t.Errorf("the refusal does not name the account and what it holds:\n%s", r.stderr)
	}
	mustHaveIssuedNothing(t, admin, "wl-bob", out)

	// Held, through a binding someone else made: exec alone is enough.
	bindRules(t, admin, "wl-exec", "wl-apps", []rbacv1.PolicyRule{{Verbs: []string{"create"}, APIGroups: []string{""}, Resources: []string{"pods/exec"}}},
		rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "wl-held"})
	out = filepath.Join(dir, "wl-held.kubeconfig")
	r = kubeaccess(t, cluster.AdminKubeconfig, "grant", "wl-held", "--out", out)
	mustFailWith(t, "grant to a user who may exec where a powerful account runs", r, 2, because)
	if !strings.Contains(r.stderr, `held through RoleBinding wl-apps/"wl-exec"`) {
		t.Errorf("the refusal does not name the binding that gives exec:\n%s", r.stderr)
	}
	mustHaveIssuedNothing(t, admin, "wl-held", out)

	// A token for another account of the namespace that may create pods.
	if _, err := admin.CoreV1().ServiceAccounts("wl-apps").Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bindRules(t, admin, "wl-builder", "wl-apps", []rbacv1.PolicyRule{{Verbs: []string{"create"}, APIGroups: []string{"batch"}, Resources: []string{"jobs"}}},
		rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: "wl-apps", Name: "builder"})
	out = filepath.Join(dir, "builder.kubeconfig")
	r = kubeaccess(t, cluster.AdminKubeconfig, "token", "builder", "-n", "wl-apps", "--out", out)
	mustFailWith(t, "token for an account that may create Jobs beside a powerful one", r, 2, because)
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Error("the refused token was written")
	}

	// An invitation, checked when it is made.
	r = kubeaccess(t, cluster.AdminKubeconfig, "invite", "wl-inv", "-n", "wl-apps", "--verb", "create", "--resource", "deployments")
	mustFailWith(t, "invite with Deployments where a powerful account runs", r, 2, because)
	if secrets := invitationsOf(t, admin, "wl-inv"); secrets != 0 {
		t.Errorf("the refused invitation was stored (%d)", secrets)
	}

	// A team file.
	file := filepath.Join(dir, "team.yaml")
	writeFile(t, file, `apiVersion: kubeaccess.io/v1alpha1
kind: TeamAccess
metadata:
  name: wl-team
spec:
  roles:
    runner:
      rules:
      - verbs: [create]
        resources: [pods]
  groups:
    dev:
    - role: runner
      namespaces: [wl-apps]
  users:
  - name: wl-dev
    groups: [dev]
`)
	r = kubeaccess(t, cluster.AdminKubeconfig, "apply", "-f", file, "--out-dir", filepath.Join(dir, "team"))
	if r.code == 0 || !strings.Contains(r.stderr+r.stdout, because) {
		t.Errorf("apply of a team that runs pods where a powerful account runs: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	mustHaveIssuedNothing(t, admin, "wl-dev", filepath.Join(dir, "team", "users", "wl-dev.kubeconfig"))

	// The portal's own namespace, once deploy/ is installed.
	portalKubeconfig(t)
	out = filepath.Join(dir, "wl-portal.kubeconfig")
	r = kubeaccess(t, cluster.AdminKubeconfig, "grant", "wl-portal", "-n", "kubeaccess-system", "--clusterrole", "edit", "--out", out)
	mustFailWith(t, "grant edit in the portal's namespace", r, 2, "runs as service account kubeaccess-system/kubeaccess-portal, which holds")
	mustHaveIssuedNothing(t, admin, "wl-portal", out)

	// Two namespaces away: wl-chain's account may run Jobs in wl-apps, so
	// whoever runs pods in wl-chain runs as wl-apps/deployer.
	namespace(t, admin, "wl-chain")
	if _, err := admin.CoreV1().ServiceAccounts("wl-chain").Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "ci"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bindRules(t, admin, "wl-chain-ci", "wl-apps", []rbacv1.PolicyRule{{Verbs: []string{"create"}, APIGroups: []string{"batch"}, Resources: []string{"jobs"}}},
		rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: "wl-chain", Name: "ci"})
	out = filepath.Join(dir, "wl-chained.kubeconfig")
	r = kubeaccess(t, cluster.AdminKubeconfig, "grant", "wl-chained", "-n", "wl-chain", "--verb", "create", "--resource", "pods", "--out", out)
	mustFailWith(t, "grant to run pods as an account that runs Jobs beside a powerful one", r, 2,
		"runs as service account wl-chain/ci, which runs as service account wl-apps/deployer, which holds all-resources")
	mustHaveIssuedNothing(t, admin, "wl-chained", out)

	// Ordinary power where no account is powerful is still granted.
	namespace(t, admin, "wl-plain")
	mustSucceed(t, "grant edit in a namespace of weak accounts",
		kubeaccess(t, cluster.AdminKubeconfig, "grant", "wl-plain", "-n", "wl-plain", "--clusterrole", "edit", "--out", filepath.Join(dir, "wl-plain.kubeconfig")))
}

// TestEscalationCatalogueGapsClosed: class 2, beyond the catalogue tests
// that run every entry: a token for a controller's service account, whose
// built-in role creates ReplicaSets everywhere, is refused.
func TestEscalationCatalogueGapsClosed(t *testing.T) {
	admin := adminClient(t)
	if _, err := admin.CoreV1().ServiceAccounts("kube-system").Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "deployment-controller"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "dc.kubeconfig")
	r := kubeaccess(t, cluster.AdminKubeconfig, "token", "deployment-controller", "-n", "kube-system", "--out", out)
	mustFailWith(t, "token for the deployment controller", r, 2, "kube-system-workloads: ")
	if !strings.Contains(r.stderr, `held through ClusterRoleBinding "system:controller:deployment-controller"`) || !strings.Contains(r.stderr, "deployments.apps in namespace kube-system") {
		t.Errorf("the refusal does not name what the controller may do:\n%s", r.stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Error("the refused token was written")
	}
}

// TestEscalationApplyActsOnlyOnVerifiedRecords: class 3. A record planted
// with the team's label that names another Secret, and one that cannot be
// read, are reported and left alone; the team's apply goes on, and the
// Secret they name is not deleted.
func TestEscalationApplyActsOnlyOnVerifiedRecords(t *testing.T) {
	admin := adminClient(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "team.yaml")
	writeFile(t, file, `apiVersion: kubeaccess.io/v1alpha1
kind: TeamAccess
metadata:
  name: rec-team
spec:
  roles:
    reader:
      clusterRole: view
  groups:
    dev:
    - role: reader
      namespaces: [rec-ns]
  users:
  - name: rec-una
    groups: [dev]
`)
	mustSucceed(t, "first apply", kubeaccess(t, cluster.AdminKubeconfig, "apply", "-f", file, "--out-dir", dir))
	// The Secret the attacker wants gone: kubeaccess's, in the records namespace.
	victim := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "rec-victim", Namespace: records.DefaultNamespace, Labels: labels.Managed()}, Type: corev1.SecretTypeOpaque}
	if _, err := admin.CoreV1().Secrets(records.DefaultNamespace).Create(t.Context(), victim, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	planted := records.Record{ID: "t-0123456789abcdef", Kind: "token", User: "system:serviceaccount:kubeaccess-system:gone", ServiceAccount: "kubeaccess-system/gone",
		BoundSecret: "rec-victim", Team: "rec-team", IssuedAt: now, NotBefore: now, NotAfter: now.Add(time.Hour)}
	if err := (records.Store{Client: admin, Namespace: records.DefaultNamespace}).Save(t.Context(), planted); err != nil {
		t.Fatal(err)
	}
	garbage := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kubeaccess-c-garbage", Namespace: records.DefaultNamespace,
		Labels: map[string]string{labels.ManagedBy: labels.Kubeaccess, records.KindLabel: "certificate", labels.Team: "rec-team"}},
		Data: map[string]string{"record.json": "{not json"}}
	if _, err := admin.CoreV1().ConfigMaps(records.DefaultNamespace).Create(t.Context(), garbage, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	r := kubeaccess(t, cluster.AdminKubeconfig, "apply", "-f", file, "--out-dir", dir)
	mustSucceed(t, "apply with planted records", r)
	for _, want := range []string{"record kubeaccess-t-0123456789abcdef of team rec-team is not trusted", `names bound Secret "rec-victim"`,
		"record kubeaccess-c-garbage of team rec-team is not trusted"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("apply does not say %q:\n%s", want, r.stderr)
		}
	}
	if _, err := admin.CoreV1().Secrets(records.DefaultNamespace).Get(t.Context(), "rec-victim", metav1.GetOptions{}); err != nil {
		t.Errorf("the Secret a planted record named was deleted: %v", err)
	}
	got, err := (records.Store{Client: admin, Namespace: records.DefaultNamespace}).Get(t.Context(), planted.ID)
	if err != nil || got.Revoked != nil {
		t.Errorf("the planted record was acted on: %v %+v", err, got)
	}
	mustSucceed(t, "the team's member still reads", kubectl(t, filepath.Join(dir, "users", "rec-una.kubeconfig"), "get", "pods", "-n", "rec-ns"))
	// Nor does the unreadable record stop the commands that list records.
	l := kubeaccess(t, cluster.AdminKubeconfig, "list", "--all")
	mustSucceed(t, "list beside an unreadable record", l)
	if !strings.Contains(l.stderr, "warning: record kubeaccess-system/kubeaccess-c-garbage cannot be read") || !strings.Contains(l.stdout, "tampered") {
		t.Errorf("list does not name the unreadable record:\n%s%s", l.stdout, l.stderr)
	}
}

// TestEscalationPruneOnlyTheTeamsOwn: class 8. An object labelled with the
// team but named as kubeaccess names another's (a user's binding) is not
// pruned; the team's own are, and the bound Secrets of two teams whose
// names once ran together are apart.
func TestEscalationPruneOnlyTheTeamsOwn(t *testing.T) {
	admin := adminClient(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "team.yaml")
	team := `apiVersion: kubeaccess.io/v1alpha1
kind: TeamAccess
metadata:
  name: prune-team
spec:
  roles:
    reader:
      clusterRole: view
  groups:
    dev:
    - role: reader
      namespaces: [prune-ns]
  users:
  - name: prune-una
    groups: [dev]
`
	writeFile(t, file, team)
	mustSucceed(t, "first apply", kubeaccess(t, cluster.AdminKubeconfig, "apply", "-f", file, "--out-dir", dir))
	// Someone who may label bindings marks a user's binding as the team's.
	namespace(t, admin, "prune-ns")
	other := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "kubeaccess:user:prune-ivan", Namespace: "prune-ns", Labels: map[string]string{labels.ManagedBy: labels.Kubeaccess, labels.Team: "prune-team"}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "prune-ivan"}},
	}
	if _, err := admin.RbacV1().RoleBindings("prune-ns").Create(t.Context(), other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The team drops its group's access: its own binding goes, the other stays.
	writeFile(t, file, strings.Replace(team, "    - role: reader\n      namespaces: [prune-ns]\n", "    - role: reader\n      namespaces: [prune-other]\n", 1))
	r := kubeaccess(t, cluster.AdminKubeconfig, "apply", "-f", file, "--out-dir", dir)
	mustSucceed(t, "apply that prunes", r)
	if _, err := admin.RbacV1().RoleBindings("prune-ns").Get(t.Context(), "kubeaccess:user:prune-ivan", metav1.GetOptions{}); err != nil {
		t.Errorf("a binding that is not the team's was pruned: %v\n%s", err, r.stdout)
	}
	if strings.Contains(r.stdout, "kubeaccess:user:prune-ivan") {
		t.Errorf("the plan names a binding that is not the team's:\n%s", r.stdout)
	}
	bindings, err := admin.RbacV1().RoleBindings("prune-ns").List(t.Context(), metav1.ListOptions{LabelSelector: labels.Team + "=prune-team"})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bindings.Items {
		if strings.HasPrefix(b.Name, "kubeaccess:team:prune-team:") {
			t.Errorf("the team's own binding %s was not pruned", b.Name)
		}
	}
}

// invitationsOf counts the invitations stored for user.
func invitationsOf(t *testing.T, client kubernetes.Interface, user string) int {
	t.Helper()
	list, err := client.CoreV1().Secrets(records.DefaultNamespace).List(t.Context(), metav1.ListOptions{LabelSelector: invitation.Label + "=true," + labels.User + "=" + user})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	if list == nil {
		return 0
	}
	return len(list.Items)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// portalStatus is what the portal answers a redemption's calls.
type portalStatus struct {
	State   string `json:"state"`
	Message string `json:"message"`
	CSR     string `json:"certificateSigningRequest"`
}

// requestFor is a PKCS#10 request for user in groups with a fresh P-256
// key, as the page makes it.
func requestFor(t *testing.T, user string, groups ...string) string {
	t.Helper()
	_, req := keyAndRequest(t, user, groups...)
	return req
}

// keyAndRequest is requestFor with its key.
func keyAndRequest(t *testing.T, user string, groups ...string) (crypto.Signer, string) {
	t.Helper()
	key, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	req, err := pki.CreateRequest(key, pki.Subject(user, groups))
	if err != nil {
		t.Fatal(err)
	}
	return key, string(req)
}

// redeemOverHTTP sends body to link's request endpoint as the page does,
// and returns the HTTP status and answer.
func redeemOverHTTP(t *testing.T, link, body string) (int, portalStatus) {
	t.Helper()
	data, _ := json.Marshal(map[string]string{"request": body})
	resp, err := insecureClient().Post(link+"/request", "application/json", strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st portalStatus
	_ = json.NewDecoder(resp.Body).Decode(&st)
	return resp.StatusCode, st
}

// pollUntil polls link's status until it is one of states.
func pollUntil(t *testing.T, link string, states ...string) portalStatus {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := insecureClient().Get(link + "/status")
		if err != nil {
			t.Fatal(err)
		}
		var st portalStatus
		_ = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		for _, s := range states {
			if st.State == s {
				return st
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s never reached %v", link, states)
	return portalStatus{}
}

// sealInvitation stores an invitation of the test's making, sealed with
// the cluster's key (as only a key holder can), and returns its link.
func sealInvitation(t *testing.T, serveURL string, inv *invitation.Invite) string {
	t.Helper()
	store := invitation.Store{Client: adminClient(t), Namespace: records.DefaultNamespace}
	key, err := store.Key(t.Context(), true)
	if err != nil {
		t.Fatal(err)
	}
	token, hash, err := invitation.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	inv.ID, inv.TokenHash, inv.State, inv.CreatedAt, inv.ExpiresAt, inv.TTL, inv.Approval = invitation.IDOf(hash), hash, invitation.StateOpen, now, now.Add(time.Hour), "1h", invitation.ApprovalAuto
	inv.CreatedBy = inv.Creator.Username
	if _, err := store.Create(t.Context(), key, inv); err != nil {
		t.Fatal(err)
	}
	link := serveURL + "/i/" + token
	// serve knows invitations from a watch, which sees this one a moment
	// after it was stored: wait for that, as no person clicks faster.
	waitUntil(t, "serve sees the invitation", 10*time.Second, func() bool {
		resp, err := insecureClient().Get(link + "/status")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode != http.StatusNotFound
	})
	return link
}

// TestEscalationServeDecidesOnCurrentRBAC: class 4. A binding made after
// serve started, and after it redeemed a first link, is seen when the
// next link is used: the user it names already has access, and the
// redemption is refused with nothing issued.
func TestEscalationServeDecidesOnCurrentRBAC(t *testing.T) {
	admin := adminClient(t)
	serveURL := startServe(t, cluster.AdminKubeconfig, "https://127.0.0.1:1")
	first := strings.Replace(invite(t, "https://127.0.0.1:1", "rbac-first", "-n", "rbac-ns", "--clusterrole", "view"), "https://127.0.0.1:1", serveURL, 1)
	if code, st := redeemOverHTTP(t, first, requestFor(t, "rbac-first")); code != http.StatusAccepted {
		t.Fatalf("the first redemption: %d %+v", code, st)
	}
	pollUntil(t, first, "issued")

	link := strings.Replace(invite(t, "https://127.0.0.1:1", "rbac-sven", "-n", "rbac-ns", "--clusterrole", "view"), "https://127.0.0.1:1", serveURL, 1)
	namespace(t, admin, "rbac-other")
	bindRules(t, admin, "rbac-sven-admin", "rbac-other", []rbacv1.PolicyRule{{Verbs: []string{"*"}, APIGroups: []string{""}, Resources: []string{"configmaps"}}},
		rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "rbac-sven"})
	if code, st := redeemOverHTTP(t, link, requestFor(t, "rbac-sven")); code != http.StatusAccepted {
		t.Fatalf("the redemption was not taken: %d %+v", code, st)
	}
	st := pollUntil(t, link, "failed", "issued")
	if st.State != "failed" || !strings.Contains(st.Message, "already has access through bindings kubeaccess did not make") || !strings.Contains(st.Message, "rbac-sven-admin") {
		t.Errorf("a user bound since serve started was issued: %+v", st)
	}
	mustHaveIssuedNothing(t, admin, "rbac-sven", filepath.Join(t.TempDir(), "none"))
}

// TestEscalationInviterAuthority: class 5. Someone who may make
// invitations but not bind the access is refused when inviting, and an
// invitation sealed as theirs is refused when used, with nothing bound.
func TestEscalationInviterAuthority(t *testing.T) {
	admin := adminClient(t)
	namespace(t, admin, "auth-ns")
	namespace(t, admin, records.DefaultNamespace)
	// ivy may do everything making an invitation takes, and hold view in
	// auth-ns, but not bind admin there.
	bindRules(t, admin, "auth-ivy-inviter", "", []rbacv1.PolicyRule{
		{Verbs: []string{"create"}, APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}},
		{Verbs: []string{"list", "get"}, APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"roles", "rolebindings", "clusterroles", "clusterrolebindings"}},
		{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"serviceaccounts"}},
		{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"namespaces"}},
	}, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "auth-ivy"})
	bindRules(t, admin, "auth-ivy-secrets", records.DefaultNamespace, []rbacv1.PolicyRule{
		{Verbs: []string{"get", "create"}, APIGroups: []string{""}, Resources: []string{"secrets"}},
	}, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "auth-ivy"})
	ivy := impersonatingKubeconfig(t, "auth-ivy")

	r := kubeaccess(t, ivy, "invite", "auth-victim", "-n", "auth-ns", "--clusterrole", "admin")
	mustFailWith(t, "invite by someone who may not bind the access", r, 4, `this is done on "auth-ivy"'s behalf, and "auth-ivy" could not make this access themselves`)
	if !strings.Contains(r.stderr, "may not create RoleBinding auth-ns/") || !strings.Contains(r.stderr, "may not bind clusterroles.rbac.authorization.k8s.io") {
		t.Errorf("the refusal does not say what ivy lacks:\n%s", r.stderr)
	}
	if n := invitationsOf(t, admin, "auth-victim"); n != 0 {
		t.Errorf("the refused invitation was stored (%d)", n)
	}

	// Sealed as ivy's by a key holder, it is refused when used.
	serveURL := startServe(t, cluster.AdminKubeconfig, "https://127.0.0.1:1")
	link := sealInvitation(t, serveURL, &invitation.Invite{User: "auth-victim", Namespace: "auth-ns", Access: accessOf("admin"),
		Creator: &authenticationv1.UserInfo{Username: "auth-ivy", Groups: []string{"system:authenticated"}}})
	if code, st := redeemOverHTTP(t, link, requestFor(t, "auth-victim")); code != http.StatusAccepted {
		t.Fatalf("the redemption was not taken: %d %+v", code, st)
	}
	st := pollUntil(t, link, "failed", "issued")
	if st.State != "failed" || !strings.Contains(st.Message, `"auth-ivy" could not make this access themselves`) {
		t.Errorf("an invitation sealed as someone who may not bind its access was redeemed: %+v", st)
	}
	mustHaveIssuedNothing(t, admin, "auth-victim", filepath.Join(t.TempDir(), "none"))
}

// TestEscalationInvitationCannotBeRolledBack: class 6. A copy of an open
// invitation, written back after use where a ConfigMap writer can write
// it, works no more; and a ConfigMap writer cannot write the invitation.
func TestEscalationInvitationCannotBeRolledBack(t *testing.T) {
	admin := adminClient(t)
	serveURL := startServe(t, cluster.AdminKubeconfig, "https://127.0.0.1:1")
	link := strings.Replace(invite(t, "https://127.0.0.1:1", "roll-rita", "-n", "roll-ns", "--clusterrole", "view"), "https://127.0.0.1:1", serveURL, 1)
	id := invitation.IDOf(invitation.HashToken(link[strings.LastIndex(link, "/")+1:]))
	saved, err := admin.CoreV1().Secrets(records.DefaultNamespace).Get(t.Context(), "kubeaccess-"+id, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the invitation is not a Secret: %v", err)
	}
	if code, st := redeemOverHTTP(t, link, requestFor(t, "roll-rita")); code != http.StatusAccepted {
		t.Fatalf("the redemption: %d %+v", code, st)
	}
	pollUntil(t, link, "issued")
	before := csrCount(t, admin)

	// The copy, written back as a ConfigMap writer can: a ConfigMap of
	// the same name and content.
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: saved.Name, Namespace: saved.Namespace, Labels: saved.Labels},
		Data: map[string]string{"invite.json": string(saved.Data["invite.json"]), "seal": string(saved.Data["seal"])}}
	if _, err := admin.CoreV1().ConfigMaps(records.DefaultNamespace).Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	code, st := redeemOverHTTP(t, link, requestFor(t, "roll-rita"))
	if code != http.StatusGone || !strings.Contains(st.Message, "already used") {
		t.Errorf("the link worked again after a copy was written back: %d %+v", code, st)
	}
	if after := csrCount(t, admin); after != before {
		t.Errorf("a second request was made: %d CSRs, was %d", after, before)
	}
	r := kubeaccess(t, cluster.AdminKubeconfig, "invite", "list")
	if !strings.Contains(r.stdout+r.stderr, "ConfigMap "+saved.Name+" (kept by an older kubeaccess") {
		t.Errorf("invite list does not name the ConfigMap copy as not honoured:\n%s%s", r.stdout, r.stderr)
	}

	// A ConfigMap writer of the records namespace may not touch the invitation.
	bindRules(t, admin, "roll-cm-writer", records.DefaultNamespace, []rbacv1.PolicyRule{{Verbs: []string{"get", "create", "update"}, APIGroups: []string{""}, Resources: []string{"configmaps"}}},
		rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "roll-writer"})
	writer := asUser(t, "roll-writer")
	saved.ResourceVersion = ""
	if _, err := writer.CoreV1().Secrets(records.DefaultNamespace).Update(t.Context(), saved, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("a ConfigMap writer updating the invitation: %v, want Forbidden", err)
	}
}

// TestEscalationManualApprovalOfTheVeryRequest: class 7. A portal request
// deleted and made again under its name, with an extra group, while the
// invitation still waits for it (its server died mid-wait), is not
// approved; the genuine one is.
func TestEscalationManualApprovalOfTheVeryRequest(t *testing.T) {
	admin := adminClient(t)
	dying, cmd, _ := launchServe(t, cluster.AdminKubeconfig)
	link := strings.Replace(invite(t, "https://127.0.0.1:1", "man-mia", "-g", "man-dev", "-n", "man-ns", "--clusterrole", "view", "--approval", "manual"), "https://127.0.0.1:1", dying, 1)
	if code, st := redeemOverHTTP(t, link, requestFor(t, "man-mia", "man-dev")); code != http.StatusAccepted {
		t.Fatalf("the redemption: %d %+v", code, st)
	}
	st := pollUntil(t, link, "waiting")
	name := st.CSR
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	genuine, err := admin.CertificatesV1().CertificateSigningRequests().Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Deleted (as the cleaner does after a day) and made again, wider.
	if err := admin.CertificatesV1().CertificateSigningRequests().Delete(t.Context(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	forged := genuine.DeepCopy()
	forged.ObjectMeta = metav1.ObjectMeta{Name: name, Annotations: genuine.Annotations, Labels: genuine.Labels}
	forged.Spec.Request = []byte(requestFor(t, "man-mia", "man-dev", "man-admins"))
	forged.Spec.Username, forged.Spec.UID, forged.Spec.Groups, forged.Spec.Extra = "", "", nil, nil
	forged.Status = certificatesv1.CertificateSigningRequestStatus{}
	if _, err := admin.CertificatesV1().CertificateSigningRequests().Create(t.Context(), forged, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := kubeaccess(t, cluster.AdminKubeconfig, "approve", name)
	mustFailWith(t, "approve of a request made again under the portal request's name", r, 2, "it is not the request the invitation's redemption made")
	if !strings.Contains(r.stderr, "deleted and made again") || !strings.Contains(r.stderr, "nothing was approved") {
		t.Errorf("the refusal does not say why:\n%s", r.stderr)
	}
	mustStayPending(t, admin, name)
	// The forged request is the attacker's; with it gone, nothing else was made.
	if err := admin.CertificatesV1().CertificateSigningRequests().Delete(t.Context(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	mustHaveIssuedNothing(t, admin, "man-mia", filepath.Join(t.TempDir(), "none"))

	// The genuine path still works: a fresh invitation, approved as made.
	serveURL := startServe(t, cluster.AdminKubeconfig, "https://127.0.0.1:1")
	link = strings.Replace(invite(t, "https://127.0.0.1:1", "man-noa", "-n", "man-ns", "--clusterrole", "view", "--approval", "manual"), "https://127.0.0.1:1", serveURL, 1)
	if code, st := redeemOverHTTP(t, link, requestFor(t, "man-noa")); code != http.StatusAccepted {
		t.Fatalf("the redemption: %d %+v", code, st)
	}
	st = pollUntil(t, link, "waiting")
	mustSucceed(t, "approve of the very request", kubeaccess(t, cluster.AdminKubeconfig, "approve", st.CSR))
	if st = pollUntil(t, link, "issued", "failed"); st.State != "issued" {
		t.Errorf("the approved redemption: %+v", st)
	}
}

// TestEscalationPortalSmallerPoints: class 9. A body with a second PEM
// block is refused; serve with --approval=manual redeems no invitation
// made for automatic approval; an unknown link is refused.
func TestEscalationPortalSmallerPoints(t *testing.T) {
	serveURL := startServe(t, cluster.AdminKubeconfig, "https://127.0.0.1:1")
	link := strings.Replace(invite(t, "https://127.0.0.1:1", "small-sam", "-n", "small-ns", "--clusterrole", "view"), "https://127.0.0.1:1", serveURL, 1)
	two := requestFor(t, "small-sam") + requestFor(t, "admin", "system:masters")
	code, st := redeemOverHTTP(t, link, two)
	if code != http.StatusBadRequest || !strings.Contains(st.Message, "more than one certificate request") {
		t.Errorf("a body with two requests: %d %+v", code, st)
	}
	code, st = redeemOverHTTP(t, serveURL+"/i/"+strings.Repeat("A", 43), requestFor(t, "small-sam"))
	if code != http.StatusNotFound || !strings.Contains(st.Message, "names no invitation") {
		t.Errorf("an unknown link: %d %+v", code, st)
	}

	manual := startServeWith(t, cluster.AdminKubeconfig, "--approval=manual")
	code, st = redeemOverHTTP(t, strings.Replace(link, serveURL, manual, 1), requestFor(t, "small-sam"))
	if code != http.StatusForbidden || !strings.Contains(st.Message, "redeems only invitations an admin approves") {
		t.Errorf("an automatic invitation at a manual-only server: %d %+v", code, st)
	}
	mustHaveIssuedNothing(t, adminClient(t), "small-sam", filepath.Join(t.TempDir(), "none"))
}

// accessOf is an invitation's access to ClusterRole role in its namespace.
func accessOf(role string) issue.AccessSpec { return issue.AccessSpec{ClusterRole: role} }
