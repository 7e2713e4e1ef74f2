package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubeaccess/kubeaccess/internal/audit"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/testcluster"
)

// TestKubeconfigFromAUserIsData: class 7. renew and complete connect with
// the one entry they act on: a plugin in the file never runs, files it
// names are never read, its proxy is never used.
func TestKubeconfigFromAUserIsData(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "plugin-ran")
	for name, tc := range map[string]struct {
		change func(*clientcmdapi.Config, *clientcmdapi.AuthInfo)
		want   string
	}{
		"exec plugin": {func(_ *clientcmdapi.Config, a *clientcmdapi.AuthInfo) {
			a.Exec = &clientcmdapi.ExecConfig{Command: "/bin/sh", Args: []string{"-c", "touch " + marker}, APIVersion: "client.authentication.k8s.io/v1", InteractiveMode: clientcmdapi.NeverExecInteractiveMode}
		}, `runs an exec plugin ("/bin/sh"): kubeaccess does not run commands named in a kubeconfig handed to it`},
		"auth provider": {func(_ *clientcmdapi.Config, a *clientcmdapi.AuthInfo) {
			a.AuthProvider = &clientcmdapi.AuthProviderConfig{Name: "oidc", Config: map[string]string{"idp-issuer-url": "https://127.0.0.1:1"}}
		}, `uses the auth provider "oidc"`},
		"token file": {func(_ *clientcmdapi.Config, a *clientcmdapi.AuthInfo) { a.TokenFile = "/etc/shadow" }, "refers to credential files"},
		"CA file": {func(c *clientcmdapi.Config, _ *clientcmdapi.AuthInfo) {
			for _, cl := range c.Clusters {
				cl.CertificateAuthority = "/etc/shadow"
			}
		}, "refers to a CA file"},
		"plain http": {func(c *clientcmdapi.Config, _ *clientcmdapi.AuthInfo) {
			for _, cl := range c.Clusters {
				cl.Server = strings.Replace(cl.Server, "https://", "http://", 1)
			}
		}, "kubeaccess connects only to an https:// URL"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".kubeconfig")
			user := strings.ReplaceAll(name, " ", "-")
			grantJSON(t, cluster.AdminKubeconfig, user, "--ttl", "1h", "--out", path)
			tamper(t, path, tc.change)
			before, _ := os.ReadFile(path)
			for _, args := range [][]string{{"renew", path}, {"complete", path, "--key", path, "--force"}} {
				r := kubeaccess(t, cluster.AdminKubeconfig, args...)
				mustFailWith(t, args[0]+" of a kubeconfig with "+name, r, 2, tc.want)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Errorf("%s was changed", path)
			}
			if _, err := os.Stat(marker); !os.IsNotExist(err) {
				t.Fatal("the exec plugin of a kubeconfig handed to kubeaccess ran")
			}
		})
	}
	t.Run("proxy", func(t *testing.T) {
		ln, connections := countingListener(t)
		path := filepath.Join(dir, "proxied.kubeconfig")
		grantJSON(t, cluster.AdminKubeconfig, "proxied", "--ttl", "1h", "--out", path)
		tamper(t, path, func(c *clientcmdapi.Config, _ *clientcmdapi.AuthInfo) {
			for _, cl := range c.Clusters {
				cl.ProxyURL = "http://" + ln.Addr().String()
			}
		})
		mustSucceed(t, "renew of a kubeconfig naming a proxy", kubeaccess(t, cluster.AdminKubeconfig, "renew", path))
		if n := connections.Load(); n != 0 {
			t.Errorf("renew connected %d times through the proxy the file names", n)
		}
	})
}

// tamper changes a kubeconfig the way its holder could.
func tamper(t *testing.T, path string, change func(*clientcmdapi.Config, *clientcmdapi.AuthInfo)) {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	change(cfg, cfg.AuthInfos[cfg.Contexts[cfg.CurrentContext].AuthInfo])
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
}

// TestNamesCannotCollide: class 8. A user named like a group gets its own
// binding and leaves the group's alone; an object of kubeaccess's name
// that kubeaccess did not make is never taken over.
func TestNamesCannotCollide(t *testing.T) {
	admin := adminClient(t)
	ctx := t.Context()
	dir := t.TempDir()
	grantJSON(t, cluster.AdminKubeconfig, "ops-member", "-g", "ops", "--bind-group", "ops", "-n", "names", "--verb", "get,list", "--resource", "configmaps", "--out", filepath.Join(dir, "member.kubeconfig"))
	groupRole, err := admin.RbacV1().Roles("names").Get(ctx, rbac.GroupObjectName("ops"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	groupBinding, err := admin.RbacV1().RoleBindings("names").Get(ctx, rbac.GroupObjectName("ops"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	grantJSON(t, cluster.AdminKubeconfig, "group:ops", "-n", "names", "--verb", "delete", "--resource", "pods", "--out", filepath.Join(dir, "impostor.kubeconfig"))
	role, err := admin.RbacV1().Roles("names").Get(ctx, rbac.GroupObjectName("ops"), metav1.GetOptions{})
	if err != nil || role.ResourceVersion != groupRole.ResourceVersion {
		t.Errorf("the group's Role changed when user group:ops was granted: %v", err)
	}
	binding, err := admin.RbacV1().RoleBindings("names").Get(ctx, rbac.GroupObjectName("ops"), metav1.GetOptions{})
	if err != nil || binding.ResourceVersion != groupBinding.ResourceVersion {
		t.Errorf("the group's RoleBinding changed when user group:ops was granted: %v", err)
	}
	if _, err := admin.RbacV1().RoleBindings("names").Get(ctx, "kubeaccess:user:group:ops", metav1.GetOptions{}); err != nil {
		t.Errorf("user group:ops has no binding of its own: %v", err)
	}

	squatted := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: rbac.UserObjectName("victim"), Namespace: "names"},
		Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}}}
	squatted, err = admin.RbacV1().Roles("names").Create(ctx, squatted, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "victim.kubeconfig")
	r := kubeaccess(t, cluster.AdminKubeconfig, "grant", "victim", "-n", "names", "--verb", "list", "--resource", "secrets", "--out", out)
	mustFailWith(t, "grant over a Role kubeaccess did not make", r, 2, "Role names/kubeaccess:user:victim exists and was not made by kubeaccess")
	mustHaveIssuedNothing(t, admin, "victim", out)
	if role, err := admin.RbacV1().Roles("names").Get(ctx, squatted.Name, metav1.GetOptions{}); err != nil || role.ResourceVersion != squatted.ResourceVersion {
		t.Errorf("the squatted Role was changed: %v", err)
	}
}

// TestAuditSeesWhatMatters: class 9. kubeaccess's own revocable requests
// are not findings; a binding that only claims to be bootstrap RBAC, a
// tampered record and someone who can write records are.
func TestAuditSeesWhatMatters(t *testing.T) {
	admin := adminClient(t)
	ctx := t.Context()
	dir := t.TempDir()
	grantJSON(t, cluster.AdminKubeconfig, "rev", "--revocable", "--out", filepath.Join(dir, "rev.kubeconfig"))
	mustSucceed(t, "request --revocable --submit", kubeaccess(t, cluster.AdminKubeconfig, "request", "pend", "--revocable", "--submit", "--dir", dir))
	_, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "sneaky-defaults", Labels: map[string]string{"kubernetes.io/bootstrapping": "rbac-defaults"}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "eve"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := grantJSON(t, cluster.AdminKubeconfig, "forged-in-audit", "--ttl", "1h", "--out", filepath.Join(dir, "f.kubeconfig"))
	id := records.CertificateID(s.Certificate.SHA256)
	forgeRecord(t, admin, id, func(r map[string]any) { r["groups"] = []string{"system:masters"} })
	bindRules(t, admin, "scribe-edits-records", records.DefaultNamespace, []rbacv1.PolicyRule{{Verbs: []string{"update"}, APIGroups: []string{""}, Resources: []string{"configmaps"}}},
		rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "scribe"})

	bindRules(t, admin, "robots-approve", "", []rbacv1.PolicyRule{
		{Verbs: []string{"update"}, APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests/approval"}},
		{Verbs: []string{"approve"}, APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"signers"}, ResourceNames: []string{"kubernetes.io/kube-apiserver-client"}},
	}, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "cert-robots"})

	findings, r := auditJSON(t, cluster.AdminKubeconfig)
	if r.code != 0 && r.code != 1 {
		t.Fatalf("audit: exit %d\n%s", r.code, r.stderr)
	}
	has := func(check, object, detail string) bool {
		return slices.ContainsFunc(findings, func(f audit.Finding) bool {
			return f.Check == check && strings.Contains(f.Object, object) && strings.Contains(f.Detail, detail)
		})
	}
	for _, f := range findings {
		if f.Check == "privileged-request" && (strings.Contains(f.Detail, "kubeaccess:credential:") || strings.Contains(f.Object, "kubeaccess-rev-") || strings.Contains(f.Object, "kubeaccess-pend-")) {
			t.Errorf("audit reports kubeaccess's own revocable request: %+v", f)
		}
	}
	for _, want := range []struct{ check, object, detail string }{
		{"cluster-admin", "ClusterRoleBinding sneaky-defaults", "User eve is bound to cluster-admin"},
		{"tampered-record", "credential " + id, `its certificate carries ["forged-in-audit" "kubeaccess:credential:`},
		{"records-writable", "RoleBinding kubeaccess-system/scribe-edits-records", "User scribe may update configmaps in namespace kubeaccess-system"},
		{"escalation", "Group cert-robots", `holds escalation-grade permissions (approve-client-certificates); for one, approve-client-certificates: update certificatesigningrequests/approval.certificates.k8s.io (cluster-wide), through ClusterRoleBinding robots-approve`},
	} {
		if want.check == "tampered-record" {
			want.detail = "says groups"
		}
		if !has(want.check, want.object, want.detail) {
			t.Errorf("audit does not report %s %s (%s); findings:\n%s", want.check, want.object, want.detail, dumpFindings(findings))
		}
	}
}

func dumpFindings(findings []audit.Finding) string {
	data, _ := json.MarshalIndent(findings, "", "  ")
	return string(data)
}

// TestUndoLeavesWhatOthersChanged: class 10. A failed grant deletes what
// it created only as it created it: a binding someone changed meanwhile
// stays, and the error says so.
func TestUndoLeavesWhatOthersChanged(t *testing.T) {
	unsigned := testcluster.StartForTest(t, testcluster.Options{NoSigner: true})
	admin := clientFor(t, unsigned.AdminKubeconfig)
	cmd := exec.CommandContext(t.Context(), kubeaccessBin, "grant", "nico", "-n", "undo", "--verb", "get", "--resource", "pods", "--timeout", "6s",
		"--out", filepath.Join(t.TempDir(), "nico.kubeconfig"))
	cmd.Env = append(os.Environ(), "KUBECONFIG="+unsigned.AdminKubeconfig)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	name := rbac.UserObjectName("nico")
	err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
		b, err := admin.RbacV1().RoleBindings("undo").Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		b.Annotations = map[string]string{"changed-by": "another admin"}
		_, err = admin.RbacV1().RoleBindings("undo").Update(ctx, b, metav1.UpdateOptions{})
		return err == nil, err
	})
	if err != nil {
		t.Fatalf("changing the grant's RoleBinding while it waits: %v", err)
	}
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Fatalf("grant without a signer: exit %d, want 3\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "RoleBinding undo/"+name+" could not be deleted: it was changed since this run created it, so it was left") {
		t.Errorf("the failed grant does not say it left the changed binding:\n%s", stderr.String())
	}
	if _, err := admin.RbacV1().RoleBindings("undo").Get(t.Context(), name, metav1.GetOptions{}); err != nil {
		t.Errorf("undo deleted a binding another admin changed: %v", err)
	}
	if _, err := admin.RbacV1().Roles("undo").Get(t.Context(), name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("undo left the Role it created and nobody changed: %v", err)
	}
}

// TestNoSecretInLogs: class 10. At the most verbose -v, neither a token
// nor a private key reaches the logs.
func TestNoSecretInLogs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "chatty.kubeconfig")
	r := kubeaccess(t, cluster.AdminKubeconfig, "token", "chatty", "-n", "default", "--create", "--out", path, "-v=10")
	mustSucceed(t, "token -v=10", r)
	_, token := userEntry(t, path, "system:serviceaccount:default:chatty@kubeaccess-test")
	if token == "" || !strings.Contains(r.stderr, "Response Body") {
		t.Fatalf("no token written, or -v=10 logged no bodies at all (the check would prove nothing):\n%.2000s", r.stderr)
	}
	if logged(r.stderr, token) {
		t.Error("token -v=10 logged the token")
	}
	r = kubeaccess(t, cluster.AdminKubeconfig, "renew", path, "-v=10")
	mustSucceed(t, "renew of a token -v=10", r)
	_, renewed := userEntry(t, path, "system:serviceaccount:default:chatty@kubeaccess-test")
	for _, secret := range []string{token, renewed} {
		if logged(r.stderr, secret) {
			t.Error("renew -v=10 logged a token")
		}
	}
	// A legacy token Secret, which audit lists: its data is a token.
	admin := adminClient(t)
	legacy := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "chatty-legacy", Namespace: "default",
		Annotations: map[string]string{corev1.ServiceAccountNameKey: "chatty"}}, Type: corev1.SecretTypeServiceAccountToken}
	if _, err := admin.CoreV1().Secrets("default").Create(t.Context(), legacy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var legacyToken string
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		s, err := admin.CoreV1().Secrets("default").Get(ctx, "chatty-legacy", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		legacyToken = string(s.Data[corev1.ServiceAccountTokenKey])
		return legacyToken != "", nil
	})
	if err != nil {
		t.Fatalf("the token controller never filled the legacy Secret: %v", err)
	}
	r = kubeaccess(t, cluster.AdminKubeconfig, "audit", "-v=10")
	if r.code > 1 || !strings.Contains(r.stdout, "Secret default/chatty-legacy") {
		t.Fatalf("audit -v=10 (exit %d) does not report the legacy token Secret:\n%s", r.code, r.stdout)
	}
	if logged(r.stderr, legacyToken) {
		t.Error("audit -v=10 logged a legacy token Secret's token")
	}
	r = kubeaccess(t, cluster.AdminKubeconfig, "grant", "chatty-user", "--out", filepath.Join(dir, "u.kubeconfig"), "-v=10")
	mustSucceed(t, "grant -v=10", r)
	if logged(r.stderr, "PRIVATE KEY") {
		t.Error("grant -v=10 logged a private key")
	}
}

// logged reports whether a secret's signature (or the secret itself)
// appears in logs, as text or inside the hex dump client-go prints for a
// protobuf body.
func logged(logs, secret string) bool {
	needle := secret
	if parts := strings.Split(secret, "."); len(parts) == 3 {
		needle = parts[2][:32]
	}
	var dumped strings.Builder
	for _, line := range strings.Split(logs, "\n") {
		if i, j := strings.Index(line, "|"), strings.LastIndex(line, "|"); i >= 0 && j > i && hexDumpLine.MatchString(line) {
			dumped.WriteString(line[i+1 : j])
		}
	}
	return strings.Contains(logs, needle) || strings.Contains(dumped.String(), needle)
}

// hexDumpLine is a line of encoding/hex.Dump: an offset, then bytes.
var hexDumpLine = regexp.MustCompile(`[0-9a-f]{8}  ([0-9a-f]{2} ){8}`)

// TestNoEscapeSequenceReachesTheTerminal: class 6 for names others choose
// in the cluster. RBAC names may hold control characters; audit, approve
// and revoke print such names quoted.
func TestNoEscapeSequenceReachesTheTerminal(t *testing.T) {
	admin := adminClient(t)
	dir := t.TempDir()
	evil := "\x1b]0;owned\x07\x1b[2Jreader"
	_, err := admin.RbacV1().ClusterRoleBindings().Create(t.Context(), &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: evil},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "esc-user"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// One that audit reports.
	_, err = admin.RbacV1().ClusterRoleBindings().Create(t.Context(), &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: evil + "-admin"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "esc-admin"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	grantJSON(t, cluster.AdminKubeconfig, "esc-user", "-n", "esc", "--verb", "get", "--resource", "pods", "--out", filepath.Join(dir, "esc.kubeconfig"))
	requestKey(t, dir, "esc-user")
	for name, args := range map[string][]string{
		"audit":   {"audit"},
		"approve": {"approve", "--csr-file", filepath.Join(dir, "esc-user.csr"), "--out", filepath.Join(dir, "approved.kubeconfig")},
		"revoke":  {"revoke", "esc-user"},
	} {
		r := kubeaccess(t, cluster.AdminKubeconfig, args...)
		if !strings.Contains(r.stdout+r.stderr, `\x1b]0;owned\a\x1b[2Jreader`) {
			t.Errorf("%s does not name the binding, quoted:\n%s\n%s", name, r.stdout, r.stderr)
		}
		if strings.ContainsAny(r.stdout+r.stderr, "\x1b\x07") {
			t.Errorf("%s printed an escape sequence from a binding's name: %q", name, r.stdout+r.stderr)
		}
	}
}
