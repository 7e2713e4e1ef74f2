package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubeaccess/kubeaccess/internal/cmd/list"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/testcluster"
)

func TestListShowsWhatWasIssued(t *testing.T) {
	dir := t.TempDir()
	lia := grantJSON(t, cluster.AdminKubeconfig, "lia", "-g", "dev", "-n", "records", "--verb", "get", "--resource", "pods", "--ttl", "2h", "--out", filepath.Join(dir, "lia.kubeconfig"))
	lou := grantJSON(t, cluster.AdminKubeconfig, "lou", "--ttl", "3h", "--out", filepath.Join(dir, "lou.kubeconfig"))
	botKubeconfig := filepath.Join(dir, "bot.kubeconfig")
	bot := tokenJSON(t, "list-bot", "-n", "records", "--create", "--duration", "30m", "--out", botKubeconfig)
	unrecorded := kubeaccess(t, cluster.AdminKubeconfig, "grant", "nora", "--no-record", "--out", filepath.Join(dir, "nora.kubeconfig"))
	mustSucceed(t, "grant --no-record", unrecorded)
	if !strings.Contains(unrecorded.stderr, "warning: --no-record: list, renew and revoke will not know of this credential") {
		t.Errorf("--no-record gave no warning:\n%s", unrecorded.stderr)
	}

	r := kubeaccess(t, cluster.AdminKubeconfig, "list", "-o", "json")
	mustSucceed(t, "kubeaccess list", r)
	entries := decodeItems[list.Entry](t, "list", r.stdout)
	byUser := map[string]list.Entry{}
	for _, e := range entries {
		byUser[e.User] = e
	}
	if _, ok := byUser["nora"]; ok {
		t.Error("a --no-record grant is listed")
	}
	for _, want := range []struct {
		user, kind, via string
		notAfter        string
		access          string
	}{
		{"lia", "certificate", "csr-api", lia.Certificate.NotAfter.String(), "Role records/kubeaccess:user:lia"},
		{"lou", "certificate", "csr-api", lou.Certificate.NotAfter.String(), ""},
		{"system:serviceaccount:records:list-bot", "token", "token-request", bot.ExpiresAt.String(), ""},
	} {
		e, ok := byUser[want.user]
		switch {
		case !ok:
			t.Errorf("%s is not listed:\n%s", want.user, r.stdout)
		case e.Kind != want.kind || e.IssuedVia != want.via || e.IssuedBy != "admin" || e.Status != "active":
			t.Errorf("%s listed as %s via %s by %q, %s", want.user, e.Kind, e.IssuedVia, e.IssuedBy, e.Status)
		case e.NotAfter.String() != want.notAfter:
			t.Errorf("%s expires %s in the list, %s as issued", want.user, e.NotAfter, want.notAfter)
		case want.access != "" && !slices.ContainsFunc(e.Access, func(r rbac.Ref) bool { return r.String() == want.access }):
			t.Errorf("%s's access %v lacks %s", want.user, e.Access, want.access)
		}
	}
	if e := byUser["lia"]; e.SHA256 != lia.Certificate.SHA256 || e.Serial != lia.Certificate.Serial {
		t.Errorf("lia's record has serial %s sha256 %s; grant issued %s %s", e.Serial, e.SHA256, lia.Certificate.Serial, lia.Certificate.SHA256)
	}

	// The records hold no secret: neither a key nor the token.
	cfg, err := clientcmd.LoadFromFile(botKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	token := cfg.AuthInfos[cfg.Contexts[cfg.CurrentContext].AuthInfo].Token
	cms, err := adminClient(t).CoreV1().ConfigMaps("kubeaccess-system").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range cms.Items {
		for _, v := range cm.Data {
			if strings.Contains(v, "PRIVATE KEY") || strings.Contains(v, token) {
				t.Errorf("record %s holds a secret", cm.Name)
			}
		}
	}

	// Someone who may not read the records is told which permission is missing.
	denied := kubeaccess(t, filepath.Join(dir, "lou.kubeconfig"), "list")
	mustFailWith(t, "list without permission", denied, 4, "reading the records needs permission to list configmaps in namespace kubeaccess-system")
}

func TestRecordsNamespaceCreationIsCheckedUpFront(t *testing.T) {
	c := testcluster.StartForTest(t, testcluster.Options{})
	admin := clientFor(t, c.AdminKubeconfig)
	// An admin who may do everything a certificate-only grant needs, and
	// keep records, but not create namespaces; no records namespace yet.
	// Approving client certificates is escalation-grade: granting it takes
	// --allow-privileged.
	rules := []rbacv1.PolicyRule{
		{Verbs: []string{"create", "watch", "list"}, APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests"}},
		{Verbs: []string{"update"}, APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests/approval"}},
		{Verbs: []string{"approve"}, APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"signers"}, ResourceNames: []string{"kubernetes.io/kube-apiserver-client"}},
		{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"namespaces"}},
		{Verbs: []string{"create"}, APIGroups: []string{""}, Resources: []string{"configmaps"}},
		// What the privilege review reads.
		{Verbs: []string{"list"}, APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterrolebindings", "rolebindings", "clusterroles", "roles"}},
		{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"serviceaccounts"}},
		{Verbs: []string{"create"}, APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}},
	}
	if _, err := admin.RbacV1().ClusterRoles().Create(t.Context(), &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "issuer"}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	issuer := filepath.Join(dir, "issuer.kubeconfig")
	mustSucceed(t, "grant the issuer", kubeaccess(t, c.AdminKubeconfig, "grant", "issuer", "--clusterrole", "issuer", "--cluster-wide", "--no-record", "--allow-privileged", "--out", issuer))

	out := filepath.Join(dir, "kim.kubeconfig")
	r := kubeaccess(t, issuer, "grant", "kim", "--out", out)
	mustFailWith(t, "grant whose record would need a namespace the admin may not create", r, 4, "create namespaces (cluster-wide)")
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Error("the refused grant wrote a kubeconfig")
	}
	csrs, err := admin.CertificatesV1().CertificateSigningRequests().List(t.Context(), metav1.ListOptions{LabelSelector: "kubeaccess.io/user=kim"})
	if err != nil || len(csrs.Items) != 0 {
		t.Errorf("the refused grant left CSRs: %v %v", csrs, err)
	}
	mustSucceed(t, "the same grant with --no-record", kubeaccess(t, issuer, "grant", "kim", "--no-record", "--out", out))
}
