package e2e

// The adversarial suite: each test plays an attacker against the real
// control plane, for one class of issue "Trust nothing unverified", and
// asserts the exit code, the message, and that nothing was approved,
// issued, bound, modified or deleted.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/privilege"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// rulesFor is the narrowest set of rules that makes entry: the first
// alternative of each of its parts.
func rulesFor(e privilege.Entry) (rules []rbacv1.PolicyRule, namespace string) {
	for _, any := range e.Requires {
		rules = append(rules, verify.PermissionOf(any[0]).Rule())
		namespace = any[0].Namespace
	}
	return rules, namespace
}

// bindRules gives subject rules under an innocent role name, cluster-wide
// or in namespace, through a binding kubeaccess did not make.
func bindRules(t *testing.T, client kubernetes.Interface, name, namespace string, rules []rbacv1.PolicyRule, subject rbacv1.Subject) {
	t.Helper()
	ctx := t.Context()
	_, err := client.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}
	if namespace == "" {
		_, err = client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, RoleRef: ref, Subjects: []rbacv1.Subject{subject}}, metav1.CreateOptions{})
	} else {
		_, err = client.RbacV1().RoleBindings(namespace).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}, RoleRef: ref, Subjects: []rbacv1.Subject{subject}}, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// mustHaveIssuedNothing fails unless no CSR was made for user, no
// kubeconfig written at out, and no binding named for user exists.
func mustHaveIssuedNothing(t *testing.T, client kubernetes.Interface, user, out string) {
	t.Helper()
	ctx := t.Context()
	csrs, err := client.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{LabelSelector: "kubeaccess.io/user=" + csr.LabelValue(user)})
	if err != nil {
		t.Fatal(err)
	}
	if len(csrs.Items) != 0 {
		t.Errorf("a refused issuance for %s left %d CertificateSigningRequests", user, len(csrs.Items))
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused issuance for %s wrote %s", user, out)
	}
	crbs, err := client.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rbs, err := client.RbacV1().RoleBindings("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	base := rbac.UserObjectName(user)
	for _, b := range crbs.Items {
		if strings.HasPrefix(b.Name, base) {
			t.Errorf("a refused issuance for %s bound ClusterRoleBinding %s", user, b.Name)
		}
	}
	for _, b := range rbs.Items {
		if strings.HasPrefix(b.Name, base) {
			t.Errorf("a refused issuance for %s bound RoleBinding %s/%s", user, b.Namespace, b.Name)
		}
	}
}

// TestPrivilegeCatalogueHeld: class 2. For every catalogue entry, a user
// who holds it through a role of an innocent name, bound by someone else,
// is refused a credential, with the permission, binding and role named.
func TestPrivilegeCatalogueHeld(t *testing.T) {
	admin := adminClient(t)
	dir := t.TempDir()
	for i, e := range privilege.Catalogue {
		t.Run(e.ID, func(t *testing.T) {
			user := fmt.Sprintf("held-%d", i)
			role := fmt.Sprintf("innocent-helper-%d", i)
			rules, namespace := rulesFor(e)
			bindRules(t, admin, role, namespace, rules, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user})
			out := filepath.Join(dir, user+".kubeconfig")
			r := kubeaccess(t, cluster.AdminKubeconfig, "grant", user, "--out", out)
			mustFailWith(t, "grant to a holder of "+e.ID, r, 2, fmt.Sprintf("refusing to issue a credential to %q: it would hold escalation-grade permissions", user))
			for _, want := range []string{e.ID + ": ", e.Reason, fmt.Sprintf("(ClusterRole %q) to User %q", role, user), "pass --allow-privileged"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("the refusal does not say %q:\n%s", want, r.stderr)
				}
			}
			mustHaveIssuedNothing(t, admin, user, out)
		})
	}
}

// TestPrivilegeCatalogueGranted: class 2, the other side. Granting any
// catalogue entry to a user who holds nothing is refused, with the role
// and binding that would give it, and nothing is bound.
func TestPrivilegeCatalogueGranted(t *testing.T) {
	admin := adminClient(t)
	dir := t.TempDir()
	for i, e := range privilege.Catalogue {
		t.Run(e.ID, func(t *testing.T) {
			user := fmt.Sprintf("granted-%d", i)
			role := fmt.Sprintf("innocent-grant-%d", i)
			rules, namespace := rulesFor(e)
			if _, err := admin.RbacV1().ClusterRoles().Create(t.Context(), &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: role}, Rules: rules}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			args := []string{"grant", user, "--clusterrole", role, "--out", filepath.Join(dir, user+".kubeconfig")}
			if namespace == "" {
				args = append(args, "--cluster-wide")
			} else {
				args = append(args, "-n", namespace)
			}
			r := kubeaccess(t, cluster.AdminKubeconfig, args...)
			mustFailWith(t, "grant of "+e.ID, r, 2, fmt.Sprintf("refusing to issue a credential to %q: it would hold escalation-grade permissions", user))
			if !strings.Contains(r.stderr, e.ID+": ") || !strings.Contains(r.stderr, "(granted by ") || !strings.Contains(r.stderr, "+clusterrole:"+role) {
				t.Errorf("the refusal does not name %s and the binding that would give it:\n%s", e.ID, r.stderr)
			}
			mustHaveIssuedNothing(t, admin, user, filepath.Join(dir, user+".kubeconfig"))
		})
	}
}

// TestPrivilegeEveryPath: class 2 on each issuing path, and through a
// group: an identity holding cluster-admin under another name is refused
// by grant, approve, sign and token; the wildcard signer name counts.
func TestPrivilegeEveryPath(t *testing.T) {
	admin := adminClient(t)
	dir := t.TempDir()
	everything := []rbacv1.PolicyRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}}
	bindRules(t, admin, "platform-operators", "", everything, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "operators"})
	bindRules(t, admin, "cert-robot", "", []rbacv1.PolicyRule{
		{Verbs: []string{"update"}, APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests/approval"}},
		{Verbs: []string{"approve"}, APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"signers"}, ResourceNames: []string{"kubernetes.io/*"}},
	}, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "robot"})
	bindRules(t, admin, "ci-deployer-everything", "", everything, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: "default", Name: "deployer"})
	if _, err := admin.CoreV1().ServiceAccounts("default").Create(t.Context(), rbac.BuildServiceAccount("deployer", "default"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	csrPath := func(user string, groups ...string) string {
		args := []string{}
		for _, g := range groups {
			args = append(args, "-g", g)
		}
		requestKey(t, dir, user, args...)
		return filepath.Join(dir, user+".csr")
	}
	for name, tc := range map[string]struct {
		args []string
		user string
	}{
		"grant through a group":      {[]string{"grant", "gina", "-g", "operators"}, "gina"},
		"grant, wildcard signer":     {[]string{"grant", "robot"}, "robot"},
		"approve a request file":     {[]string{"approve", "--csr-file", csrPath("olaf", "operators")}, "olaf"},
		"sign with the CA key":       {[]string{"sign", csrPath("sven", "operators"), "--ca-cert", cluster.CACert, "--ca-key", cluster.CAKey}, "sven"},
		"token of a powerful SA":     {[]string{"token", "deployer", "-n", "default"}, "system:serviceaccount:default:deployer"},
		"token granted too much":     {[]string{"token", "quiet-bot", "-n", "default", "--create", "--clusterrole", "cluster-admin", "--cluster-wide"}, "system:serviceaccount:default:quiet-bot"},
		"grant of kube-system admin": {[]string{"grant", "kia", "-n", "kube-system", "--clusterrole", "admin"}, "kia"},
	} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".kubeconfig")
			r := kubeaccess(t, cluster.AdminKubeconfig, append(tc.args, "--out", out)...)
			mustFailWith(t, name, r, 2, fmt.Sprintf("refusing to issue a credential to %q: it would hold escalation-grade permissions", tc.user))
			mustHaveIssuedNothing(t, admin, tc.user, out)
		})
	}
	if _, err := admin.CoreV1().ServiceAccounts("default").Get(t.Context(), "quiet-bot", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the refused token created its ServiceAccount (err %v)", err)
	}
	// Deliberately allowed, the same grant goes through.
	r := kubeaccess(t, cluster.AdminKubeconfig, "grant", "gina", "-g", "operators", "--allow-privileged", "--out", filepath.Join(dir, "gina-allowed.kubeconfig"))
	mustSucceed(t, "grant --allow-privileged", r)
	if !strings.Contains(r.stderr, `"gina" was not checked for escalation-grade permissions`) {
		t.Errorf("--allow-privileged does not say the check was skipped:\n%s", r.stderr)
	}
}

// TestPrivilegeOrdinaryNamespacedPowerIsGranted: admin or edit in an
// application namespace, RoleBindings included, is not escalation.
func TestPrivilegeOrdinaryNamespacedPowerIsGranted(t *testing.T) {
	dir := t.TempDir()
	for _, role := range []string{"admin", "edit"} {
		user := "app-" + role
		out := filepath.Join(dir, user+".kubeconfig")
		mustSucceed(t, "grant "+role+" in an application namespace",
			kubeaccess(t, cluster.AdminKubeconfig, "grant", user, "-n", "shop", "--clusterrole", role, "--out", out))
		can := kubectl(t, out, "auth", "can-i", "create", "rolebindings", "-n", "shop")
		if role == "admin" && strings.TrimSpace(can.stdout) != "yes" {
			t.Errorf("%s cannot create rolebindings in shop: %s", user, can.stdout)
		}
		expectForbidden(t, out, "get", "secrets", "-n", "kube-system")
	}
}

// TestPrivilegeFailsClosed: an admin whose SubjectAccessReviews are
// refused cannot issue without --allow-privileged.
func TestPrivilegeFailsClosed(t *testing.T) {
	admin := adminClient(t)
	dir := t.TempDir()
	// Everything a certificate-only grant needs, without access reviews
	// of others.
	rules := []rbacv1.PolicyRule{
		{Verbs: []string{"create", "watch", "list", "get", "delete"}, APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests"}},
		{Verbs: []string{"update"}, APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests/approval"}},
		{Verbs: []string{"approve"}, APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"signers"}, ResourceNames: []string{"kubernetes.io/kube-apiserver-client"}},
	}
	bindRules(t, admin, "blind-issuer", "", rules, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "blind"})
	blind := impersonatingKubeconfig(t, "blind")
	out := filepath.Join(dir, "fay.kubeconfig")
	r := kubeaccess(t, blind, "grant", "fay", "--no-record", "--out", out)
	mustFailWith(t, "grant by an admin who may not ask about others", r, 2,
		`refusing to issue a credential to "fay": cannot tell whether it holds escalation-grade permissions, since you may not create subjectaccessreviews.authorization.k8s.io (cluster-wide)`)
	mustHaveIssuedNothing(t, admin, "fay", out)
	mustSucceed(t, "the same grant with --allow-privileged", kubeaccess(t, blind, "grant", "fay", "--no-record", "--allow-privileged", "--out", out))
}

// impersonatingKubeconfig writes a copy of the admin's kubeconfig that
// acts as user, so a test can play an admin with fewer rights.
func impersonatingKubeconfig(t *testing.T, user string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(cluster.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, auth := range cfg.AuthInfos {
		auth.Impersonate = user
	}
	path := filepath.Join(t.TempDir(), user+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}
