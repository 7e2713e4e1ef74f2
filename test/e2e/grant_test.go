package e2e

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/testcluster"
)

const nginxManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
spec:
  replicas: 1
  selector:
    matchLabels: {app: nginx}
  template:
    metadata:
      labels: {app: nginx}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
---
apiVersion: v1
kind: Service
metadata:
  name: nginx
spec:
  selector: {app: nginx}
  ports:
  - port: 80
`

// grantSummary is the part of "grant -o json" the tests read.
type grantSummary struct {
	User        string
	IssuedVia   string
	CSR         string `json:"certificateSigningRequest"`
	Certificate struct {
		Serial, SHA256      string
		NotBefore, NotAfter time.Time
	}
	Lifetime   string
	ExpiresIn  string
	Clamped    bool `json:"clampedBySigner"`
	Applied    []string
	Kubeconfig string
	Context    string
	Record     string
}

func grantJSON(t *testing.T, adminKubeconfig string, args ...string) grantSummary {
	t.Helper()
	r := kubeaccess(t, adminKubeconfig, append(append([]string{"grant"}, args...), "-o", "json")...)
	mustSucceed(t, "kubeaccess grant", r)
	var s grantSummary
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("grant -o json: %v\n%s", err, r.stdout)
	}
	return s
}

// expectForbidden runs kubectl and requires a Forbidden error from the server.
func expectForbidden(t *testing.T, kubeconfig string, args ...string) {
	t.Helper()
	r := kubectl(t, kubeconfig, args...)
	if r.code == 0 || !strings.Contains(strings.ToLower(r.stderr), "forbidden") {
		t.Errorf("kubectl %v: want Forbidden, got exit %d\nstdout:%s\nstderr:%s", args, r.code, r.stdout, r.stderr)
	}
}

func TestGrantSeedScenario(t *testing.T) {
	dir := t.TempDir()
	r := runIn(t, dir, cluster.AdminKubeconfig, kubeaccessBin, "grant", "dave", "-g", "dev", "-n", "development",
		"--verb", "create,get,update,list,delete", "--resource", "pods,services,deployments")
	mustSucceed(t, "grant dave", r)
	kc := filepath.Join(dir, "dave.kubeconfig")
	info, err := os.Stat(kc)
	if err != nil {
		t.Fatalf("default kubeconfig ./dave.kubeconfig: %v", err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("dave.kubeconfig mode %o, want 600", mode)
	}

	who := kubectl(t, kc, "auth", "whoami", "-o", "json")
	mustSucceed(t, "kubectl auth whoami as dave", who)
	var review struct {
		Status struct {
			UserInfo struct {
				Username string
				Groups   []string
			}
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(who.stdout), &review); err != nil {
		t.Fatal(err)
	}
	if u := review.Status.UserInfo; u.Username != "dave" || !strings.Contains(strings.Join(u.Groups, ","), "dev") {
		t.Errorf("kubectl auth whoami: %+v, want dave in dev", u)
	}
	if cur := kubectl(t, kc, "config", "view", "--minify", "-o", "jsonpath={.contexts[0].name} {.contexts[0].context.namespace}"); cur.stdout != "dave@kubeaccess-test development" {
		t.Errorf("current context and namespace = %q", cur.stdout)
	}

	manifest := filepath.Join(dir, "nginx.yaml")
	if err := os.WriteFile(manifest, []byte(nginxManifest), 0o644); err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, "dave applies nginx in development", kubectl(t, kc, "apply", "-f", manifest))
	mustSucceed(t, "dave lists deployments in development", kubectl(t, kc, "get", "deployment", "nginx"))
	mustSucceed(t, "dave lists services in development", kubectl(t, kc, "get", "service", "nginx"))
	expectForbidden(t, kc, "get", "pods", "-n", "default")
	expectForbidden(t, kc, "get", "nodes")
	expectForbidden(t, kc, "create", "secret", "generic", "dave-secret", "--from-literal=a=b")
}

func TestGrantBindsGroup(t *testing.T) {
	dir := t.TempDir()
	// The rules go to group "qa"; a second member with only a certificate
	// gets the same access through the group.
	grantJSON(t, cluster.AdminKubeconfig, "quinn", "-g", "qa", "-n", "qa", "--bind-group", "qa",
		"--verb", "get,list", "--resource", "configmaps", "--out", filepath.Join(dir, "quinn.kubeconfig"))
	binding, err := adminClient(t).RbacV1().RoleBindings("qa").Get(t.Context(), "kubeaccess:group:qa", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s := binding.Subjects; len(s) != 1 || s[0].Kind != "Group" || s[0].Name != "qa" {
		t.Errorf("binding subjects = %+v, want only Group qa", s)
	}
	s := grantJSON(t, cluster.AdminKubeconfig, "rosa", "-g", "qa", "-n", "qa", "--out", filepath.Join(dir, "rosa.kubeconfig"))
	if len(s.Applied) != 0 {
		t.Errorf("certificate-only grant applied %v", s.Applied)
	}
	mustSucceed(t, "rosa lists configmaps through group qa", kubectl(t, filepath.Join(dir, "rosa.kubeconfig"), "get", "configmaps"))
	expectForbidden(t, filepath.Join(dir, "rosa.kubeconfig"), "get", "pods")
}

func TestGrantClusterWideReadOnly(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "auditor.kubeconfig")
	grantJSON(t, cluster.AdminKubeconfig, "auditor", "--cluster-wide", "--verb", "get,list,watch", "--resource", "pods,namespaces", "--out", kc)
	mustSucceed(t, "auditor lists pods everywhere", kubectl(t, kc, "get", "pods", "--all-namespaces"))
	mustSucceed(t, "auditor lists namespaces", kubectl(t, kc, "get", "namespaces"))
	expectForbidden(t, kc, "get", "secrets", "-n", "kube-system")
	expectForbidden(t, kc, "delete", "namespace", "default")
	expectForbidden(t, kc, "run", "x", "--image=nginx", "-n", "default")
}

func TestGrantMergeKeepsOtherEntries(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "config")
	data, err := os.ReadFile(cluster.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(existing, data, 0o600); err != nil {
		t.Fatal(err)
	}
	grantJSON(t, cluster.AdminKubeconfig, "mia", "-n", "merge-test", "--verb", "get,list", "--resource", "pods", "--merge", existing)
	cfg, err := clientcmd.LoadFromFile(existing)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"admin@kubeaccess-test", "mia@kubeaccess-test"} {
		if cfg.Contexts[name] == nil {
			t.Errorf("merged kubeconfig lacks context %s (has %v)", name, slices.Sorted(maps.Keys(cfg.Contexts)))
		}
	}
	if cfg.CurrentContext != "admin@kubeaccess-test" {
		t.Errorf("merge changed the current context to %q", cfg.CurrentContext)
	}
	mustSucceed(t, "admin context still works", kubectl(t, existing, "get", "nodes"))
	mustSucceed(t, "mia's context works", kubectl(t, existing, "--context", "mia@kubeaccess-test", "get", "pods"))

	r := kubeaccess(t, cluster.AdminKubeconfig, "grant", "mia", "-n", "merge-test", "--merge", existing)
	mustFailWith(t, "merging the same user again", r, 2, "pass --force to replace them")
}

func TestGrantRefusalsCreateNothing(t *testing.T) {
	dir := t.TempDir()
	exists := filepath.Join(dir, "exists.kubeconfig")
	if err := os.WriteFile(exists, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		args []string
		want string
	}{
		"empty user":              {[]string{""}, "user name is empty"},
		"space around user":       {[]string{" zed"}, `user name " zed" has leading or trailing white space`},
		"control character":       {[]string{"zed\x07"}, "contains a control character"},
		"subject injection":       {[]string{"zed/O=system:masters"}, `user name "zed/O=system:masters" contains '/'`},
		"comma in group":          {[]string{"zed", "-g", "dev,system:masters"}, `group name "dev,system:masters" contains ','`},
		"too long":                {[]string{strings.Repeat("z", 254)}, "user name is 254 characters long; the limit is 253"},
		"system user":             {[]string{"system:kube-proxy"}, `user "system:kube-proxy" is in the reserved system: namespace`},
		"system:masters":          {[]string{"zed", "-g", "system:masters"}, `group "system:masters" has cluster-admin rights`},
		"kubeadm admins":          {[]string{"zed", "-g", "kubeadm:cluster-admins"}, `group "kubeadm:cluster-admins" has cluster-admin rights`},
		"group bound to admin":    {[]string{"zed", "-g", "platform-admins"}, `refusing to issue a credential to "zed": it would hold escalation-grade permissions`},
		"short ttl":               {[]string{"zed", "--ttl", "9m"}, "--ttl 9m0s is too short: the CSR API requires at least 10m0s"},
		"bad key type":            {[]string{"zed", "--key-type", "dsa"}, `--key-type: unknown key type "dsa"`},
		"conflicting access":      {[]string{"zed", "--role", "a", "--clusterrole", "b"}, "choose one of --verb/--resource, --role and --clusterrole"},
		"verb without resource":   {[]string{"zed", "--verb", "get"}, "--verb needs --resource"},
		"unknown verb":            {[]string{"zed", "--verb", "gte", "--resource", "pods"}, `unknown verb "gte"`},
		"unknown resource":        {[]string{"zed", "--verb", "get", "--resource", "deploymnets"}, `the server has no resource "deploymnets"; did you mean deployments?`},
		"bad namespace":           {[]string{"zed", "-n", "Not_Valid", "--verb", "get", "--resource", "pods"}, `namespace "Not_Valid" is not a valid name`},
		"namespace not created":   {[]string{"zed", "-n", "absent-ns", "--create-namespace=false", "--verb", "get", "--resource", "pods"}, `namespace "absent-ns" does not exist and --create-namespace=false`},
		"missing role":            {[]string{"zed", "--role", "no-such-role"}, `role "no-such-role" not found in namespace "default"`},
		"existing output":         {[]string{"zed", "--out", exists}, "already exists; pass --force to replace it"},
		"bind group not a member": {[]string{"zed", "-g", "dev", "--bind-group", "ops", "--verb", "get", "--resource", "pods"}, `--bind-group "ops" must be one of the user's groups`},
	}
	client := adminClient(t)
	bindPlatformAdmins(t, client)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := runIn(t, dir, cluster.AdminKubeconfig, kubeaccessBin, append([]string{"grant"}, tc.args...)...)
			mustFailWith(t, "grant "+strings.Join(tc.args, " "), r, 2, tc.want)
		})
	}
	csrs, err := client.CertificatesV1().CertificateSigningRequests().List(t.Context(), metav1.ListOptions{LabelSelector: "kubeaccess.io/user=zed"})
	if err != nil {
		t.Fatal(err)
	}
	if len(csrs.Items) != 0 {
		t.Errorf("refused grants left %d CertificateSigningRequests", len(csrs.Items))
	}
	if _, err := client.CoreV1().Namespaces().Get(t.Context(), "absent-ns", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace absent-ns: %v, want NotFound", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("refused grants wrote files: %v", entries)
	}
	if data, _ := os.ReadFile(exists); string(data) != "keep me" {
		t.Errorf("existing kubeconfig was changed to %q", data)
	}
	r := kubeaccess(t, cluster.AdminKubeconfig, "grant", "zed", "-g", "platform-admins", "--allow-privileged", "--out", filepath.Join(t.TempDir(), "zed.kubeconfig"))
	mustSucceed(t, "--allow-privileged lets a cluster-admin group through", r)
	// kube-apiserver itself never lets this signer issue system:masters.
	r = kubeaccess(t, cluster.AdminKubeconfig, "grant", "zed2", "-g", "system:masters", "--allow-privileged", "--out", filepath.Join(t.TempDir(), "zed2.kubeconfig"))
	mustFailWith(t, "system:masters even with --allow-privileged", r, 4, "use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed")
}

// bindPlatformAdmins binds group platform-admins to cluster-admin, as a
// cluster might, so grant must treat it as privileged.
func bindPlatformAdmins(t *testing.T, client kubernetes.Interface) {
	t.Helper()
	_, err := client.RbacV1().ClusterRoleBindings().Create(t.Context(), &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "platform-admins"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "platform-admins"}},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func TestGrantDeniedByAnotherAdmin(t *testing.T) {
	client := adminClient(t)
	ctx := t.Context()
	w, err := client.CertificatesV1().CertificateSigningRequests().Watch(ctx, metav1.ListOptions{LabelSelector: "kubeaccess.io/user=denied-dan"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	denied := make(chan error, 1)
	go func() {
		for ev := range w.ResultChan() {
			req, ok := ev.Object.(*certificatesv1.CertificateSigningRequest)
			if !ok || ev.Type != watch.Added {
				continue
			}
			req.Status.Conditions = append(req.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
				Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue, Reason: "NotOnTheList", Message: "dan is not on the team",
			})
			_, err := client.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, req.Name, req, metav1.UpdateOptions{})
			denied <- err
			return
		}
	}()
	out := filepath.Join(t.TempDir(), "dan.kubeconfig")
	r := kubeaccess(t, cluster.AdminKubeconfig, "grant", "denied-dan", "--approve=false", "--out", out)
	if err := <-denied; err != nil {
		t.Fatalf("the other admin could not deny: %v", err)
	}
	mustFailWith(t, "grant denied by another admin", r, 4, "was denied: NotOnTheList: dan is not on the team")
	if !strings.Contains(r.stderr, "was deleted") {
		t.Errorf("error does not say the CSR was cleaned up:\n%s", r.stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a denied grant left %s: %v", out, err)
	}
}

func TestGrantWithoutSignerTimesOut(t *testing.T) {
	unsigned := testcluster.StartForTest(t, testcluster.Options{NoSigner: true})
	admin := clientFor(t, unsigned.AdminKubeconfig)
	// A Role of the name the grant uses exists already in default: the
	// failed grant updates it and must leave it; what it creates goes.
	existing := rbac.BuildRole(rbac.UserObjectName("nina"), "default", []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"configmaps"}}})
	if _, err := admin.RbacV1().Roles("default").Create(t.Context(), existing, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		namespace string
		deleted   []string
		kept      string
	}{
		"new namespace": {namespace: "nina-ns", deleted: []string{"RoleBinding nina-ns/kubeaccess:user:nina, Role nina-ns/kubeaccess:user:nina, Namespace nina-ns"}},
		"existing role": {namespace: "default", deleted: []string{"RoleBinding default/kubeaccess:user:nina"}, kept: "these existed before and were updated by this run: Role default/kubeaccess:user:nina"},
	} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "nina.kubeconfig")
			start := time.Now()
			r := kubeaccess(t, unsigned.AdminKubeconfig, "grant", "nina", "-n", tc.namespace, "--verb", "get,list", "--resource", "pods", "--timeout", "5s", "--out", out)
			mustFailWith(t, "grant on a cluster without a signer", r, 3,
				"certificate approved but not issued after 5s: no signer for kubernetes.io/kube-apiserver-client is running")
			if elapsed := time.Since(start); elapsed < 5*time.Second {
				t.Errorf("gave up after %s, before --timeout", elapsed)
			}
			for _, want := range append(tc.deleted, "deleted what this run created: ", tc.kept) {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("the error does not say %q:\n%s", want, r.stderr)
				}
			}
			csrs, err := admin.CertificatesV1().CertificateSigningRequests().List(t.Context(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(csrs.Items) != 0 {
				t.Errorf("the timed-out CSR was left behind: %d CSRs", len(csrs.Items))
			}
			if _, err := admin.RbacV1().RoleBindings(tc.namespace).Get(t.Context(), "kubeaccess:user:nina", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("the RoleBinding the failed grant created is still there (err %v)", err)
			}
			_, err = admin.RbacV1().Roles(tc.namespace).Get(t.Context(), "kubeaccess:user:nina", metav1.GetOptions{})
			if tc.kept == "" && !apierrors.IsNotFound(err) {
				t.Errorf("the Role the failed grant created is still there (err %v)", err)
			}
			if tc.kept != "" && err != nil {
				t.Errorf("the Role that existed before was removed: %v", err)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a failed grant left %s", out)
			}
		})
	}
	// This cluster runs no namespace controller, so the namespace the
	// failed grant created stays terminating rather than vanishing.
	ns, err := admin.CoreV1().Namespaces().Get(t.Context(), "nina-ns", metav1.GetOptions{})
	if err == nil && ns.DeletionTimestamp == nil {
		t.Errorf("the namespace the failed grant created was not deleted")
	}
}

func TestGrantReportsClampedLifetime(t *testing.T) {
	short := testcluster.StartForTest(t, testcluster.Options{SigningDuration: time.Hour})
	r := kubeaccess(t, short.AdminKubeconfig, "grant", "olga", "--ttl", "48h", "--out", filepath.Join(t.TempDir(), "olga.kubeconfig"), "-o", "json")
	mustSucceed(t, "grant --ttl 48h on a 1h signer", r)
	var s grantSummary
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatal(err)
	}
	if !s.Clamped || s.ExpiresIn != "1h0m0s" {
		t.Errorf("clampedBySigner=%v expiresIn=%q, want true and 1h0m0s", s.Clamped, s.ExpiresIn)
	}
	if !strings.Contains(r.stderr, "shortened the certificate's lifetime: it expires in 1h0m0s (asked for 48h0m0s)") {
		t.Errorf("no clamping warning on stderr:\n%s", r.stderr)
	}
}

func TestGrantNamesMissingPermissions(t *testing.T) {
	dir := t.TempDir()
	weak := filepath.Join(dir, "pat.kubeconfig")
	grantJSON(t, cluster.AdminKubeconfig, "pat", "--out", weak)
	r := kubeaccess(t, weak, "grant", "mallory", "-n", "development", "--verb", "get", "--resource", "pods", "--out", filepath.Join(dir, "m.kubeconfig"))
	mustFailWith(t, "grant by a user without permissions", r, 4, "you lack permissions this grant needs; nothing was created:")
	for _, want := range []string{
		`approve signers.certificates.k8s.io "kubernetes.io/kube-apiserver-client" (cluster-wide)`,
		"create certificatesigningrequests.certificates.k8s.io (cluster-wide)",
		"create rolebindings.rbac.authorization.k8s.io in namespace development",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("missing permission %q not named in:\n%s", want, r.stderr)
		}
	}
	csrs, err := adminClient(t).CertificatesV1().CertificateSigningRequests().List(t.Context(), metav1.ListOptions{LabelSelector: "kubeaccess.io/user=mallory"})
	if err != nil {
		t.Fatal(err)
	}
	if len(csrs.Items) != 0 {
		t.Errorf("a refused grant created %d CSRs", len(csrs.Items))
	}
}
