package e2e

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

// forgeRecord rewrites a record's JSON in place, as anyone allowed to
// update ConfigMaps in the records namespace can.
func forgeRecord(t *testing.T, client kubernetes.Interface, id string, change func(map[string]any)) {
	t.Helper()
	cms := client.CoreV1().ConfigMaps(records.DefaultNamespace)
	cm, err := cms.Get(t.Context(), "kubeaccess-"+id, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(cm.Data["record.json"]), &r); err != nil {
		t.Fatal(err)
	}
	change(r)
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["record.json"] = string(data)
	if _, err := cms.Update(t.Context(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// plantRecord writes a whole record of the attacker's making.
func plantRecord(t *testing.T, client kubernetes.Interface, r records.Record) {
	t.Helper()
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "kubeaccess-" + r.ID, Namespace: records.DefaultNamespace, Labels: map[string]string{
			"app.kubernetes.io/managed-by": "kubeaccess", "kubeaccess.io/user": csr.LabelValue(r.User), records.KindLabel: r.Kind}},
		Data: map[string]string{"record.json": string(data), "certificate.pem": r.Certificate},
	}
	if _, err := client.CoreV1().ConfigMaps(records.DefaultNamespace).Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// selfSignedCredential is a certificate and key for user in groups from a
// CA of the attacker's own, recorded as kubeaccess would record it.
func selfSignedCredential(t *testing.T, dir, user string, groups []string, access []rbac.Ref) (records.Record, []byte, []byte) {
	t.Helper()
	caCert, caKey := writeCA(t, dir, "attacker-ca-"+user)
	authority, err := pki.LoadAuthority(caCert, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.GenerateKey(pki.DefaultKeyType)
	if err != nil {
		t.Fatal(err)
	}
	request, err := pki.CreateRequest(key, pki.Subject(user, groups))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := pki.ParseRequest(request)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := authority.Sign(parsed, 24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.MarshalKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.ParseCertificate(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	info := pki.Describe(cert)
	return records.Record{ID: records.CertificateID(info.SHA256), User: user, Groups: groups, Kind: "certificate", IssuedVia: "csr-api",
		Serial: info.Serial, SHA256: info.SHA256, NotBefore: info.NotBefore, NotAfter: info.NotAfter, TTL: "24h0m0s",
		Access: access, Certificate: string(certPEM)}, certPEM, keyPEM
}

// kubeconfigWith writes a kubeconfig for the test cluster holding a
// credential of the caller's choosing.
func kubeconfigWith(t *testing.T, path string, auth func(*clientcmdapiAuth)) {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(cluster.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	a := &clientcmdapiAuth{}
	auth(a)
	cfg.AuthInfos = map[string]*clientcmdapiAuth{"victim": a}
	ctx.AuthInfo = "victim"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
}

// csrCount is how many CertificateSigningRequests exist.
func csrCount(t *testing.T, client kubernetes.Interface) int {
	t.Helper()
	list, err := client.CertificatesV1().CertificateSigningRequests().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return len(list.Items)
}

// TestRenewTrustsTheCredentialNotTheRecord: class 3 for renew. A forged
// record, a certificate from another CA or a token the API server never
// issued make renew refuse, issuing nothing and leaving the file as it was.
func TestRenewTrustsTheCredentialNotTheRecord(t *testing.T) {
	admin := adminClient(t)
	dir := t.TempDir()
	rhea := filepath.Join(dir, "rhea.kubeconfig")
	s := grantJSON(t, cluster.AdminKubeconfig, "rhea", "-g", "dev", "--ttl", "2h", "--out", rhea)
	forgeRecord(t, admin, records.CertificateID(s.Certificate.SHA256), func(r map[string]any) {
		r["user"], r["groups"] = "admin", []string{"system:masters"}
	})

	forged, certPEM, keyPEM := selfSignedCredential(t, dir, "kube-admin", []string{"ops"}, nil)
	plantRecord(t, admin, forged)
	own := filepath.Join(dir, "own-ca.kubeconfig")
	kubeconfigWith(t, own, func(a *clientcmdapiAuth) { a.ClientCertificateData, a.ClientKeyData = certPEM, keyPEM })

	claims := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"system:serviceaccount:kube-system:generic-garbage-collector","iss":"https://kubernetes.default.svc",` +
		`"aud":["https://kubernetes.default.svc"],"exp":` + jsonTime(time.Now().Add(time.Hour)) + `,"kubernetes.io":{"namespace":"kube-system","serviceaccount":{"name":"generic-garbage-collector"}}}`))
	fakeToken := "eyJhbGciOiJSUzI1NiJ9." + claims + ".c2lnbmF0dXJl"
	plantRecord(t, admin, records.Record{ID: records.TokenID(fakeToken), User: "system:serviceaccount:kube-system:generic-garbage-collector",
		Kind: "token", IssuedVia: "token-request", ServiceAccount: "kube-system/generic-garbage-collector", TTL: "720h0m0s",
		NotBefore: time.Now().UTC(), NotAfter: time.Now().Add(time.Hour).UTC()})
	unsigned := filepath.Join(dir, "forged-token.kubeconfig")
	kubeconfigWith(t, unsigned, func(a *clientcmdapiAuth) { a.Token = fakeToken })

	for name, tc := range map[string]struct {
		path string
		want string
	}{
		"record with another subject": {rhea, `refusing to renew: the record was tampered with: record ` + records.CertificateID(s.Certificate.SHA256) + ` says user "admin", but its certificate is for "rhea"`},
		"certificate of another CA":   {own, `refusing to renew: the certificate in ` + own + ` (issued by "attacker-ca-kube-admin") does not chain to the cluster's client CA`},
		"token never issued":          {unsigned, `refusing to renew: the API server does not accept the token in ` + unsigned},
	} {
		t.Run(name, func(t *testing.T) {
			before, err := os.ReadFile(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			csrs := csrCount(t, admin)
			r := kubeaccess(t, cluster.AdminKubeconfig, "renew", tc.path)
			mustFailWith(t, "renew "+name, r, 2, tc.want)
			if after, _ := os.ReadFile(tc.path); !bytes.Equal(before, after) {
				t.Errorf("a refused renew changed %s", tc.path)
			}
			if n := csrCount(t, admin); n != csrs {
				t.Errorf("a refused renew made %d CertificateSigningRequests", n-csrs)
			}
		})
	}
}

// TestRenewCapsARecordedLifetime: class 4 for renew: a record may say
// any TTL; the renewed certificate lives at most --max-ttl.
func TestRenewCapsARecordedLifetime(t *testing.T) {
	admin := adminClient(t)
	path := filepath.Join(t.TempDir(), "cap.kubeconfig")
	s := grantJSON(t, cluster.AdminKubeconfig, "cap", "--ttl", "2h", "--out", path)
	forgeRecord(t, admin, records.CertificateID(s.Certificate.SHA256), func(r map[string]any) { r["ttl"] = "87600h0m0s" })
	r := kubeaccess(t, cluster.AdminKubeconfig, "renew", path, "--max-ttl", "3h")
	mustSucceed(t, "renew with a recorded lifetime past --max-ttl", r)
	if !strings.Contains(r.stderr, "the recorded lifetime 87600h0m0s is longer than --max-ttl 3h; renewing for 3h0m0s") {
		t.Errorf("renew does not say it capped the lifetime:\n%s", r.stderr)
	}
	cert := certificateOf(t, path, "cap@kubeaccess-test")
	if got := cert.NotAfter.Sub(cert.NotBefore); got > 3*time.Hour+5*time.Minute || cert.SerialNumber.Text(16) == s.Certificate.Serial {
		t.Errorf("renewed certificate %s lives %s; want a new one living at most --max-ttl 3h", cert.SerialNumber.Text(16), got)
	}
}

// TestRevokeActsOnlyOnKubeaccessObjects: class 3 for revoke. A record
// planted to name the cluster's own admin binding, or a binding of
// kubeaccess's name that kubeaccess did not make, changes nothing.
func TestRevokeActsOnlyOnKubeaccessObjects(t *testing.T) {
	admin := adminClient(t)
	ctx := t.Context()
	dir := t.TempDir()
	subjects := []rbacv1.Subject{
		{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "kubeadm:cluster-admins"},
		{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "ops-lead"},
	}
	_, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "kubeadm:cluster-admins"},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"}, Subjects: subjects}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	forged, _, _ := selfSignedCredential(t, dir, "ops-lead", nil, []rbac.Ref{{Kind: "ClusterRoleBinding", Name: "kubeadm:cluster-admins"}})
	plantRecord(t, admin, forged)
	// A binding of kubeaccess's name for a user, made by someone else.
	squatter := subjects[1:]
	_, err = admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "kubeaccess:user:ops-lead"},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"}, Subjects: squatter}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	second, _, _ := selfSignedCredential(t, dir, "ops-lead", nil, []rbac.Ref{{Kind: "ClusterRoleBinding", Name: "kubeaccess:user:ops-lead"}})
	plantRecord(t, admin, second)

	r := kubeaccess(t, cluster.AdminKubeconfig, "revoke", "ops-lead")
	if r.code == 0 {
		t.Fatalf("revoke on planted records succeeded:\n%s", r.stdout)
	}
	for _, want := range []string{
		"tampered: record " + forged.ID + ` of "ops-lead" names ClusterRoleBinding kubeadm:cluster-admins, which is not a name kubeaccess gives`,
		"ClusterRoleBinding kubeaccess:user:ops-lead was not made by kubeaccess (it lacks kubeaccess's label or name); left as is",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("revoke does not warn %q on stderr:\n%s\n%s", want, r.stdout, r.stderr)
		}
	}
	for _, name := range []string{"kubeadm:cluster-admins", "kubeaccess:user:ops-lead"} {
		b, err := admin.RbacV1().ClusterRoleBindings().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("revoke deleted ClusterRoleBinding %s: %v", name, err)
		}
		want := subjects
		if name != "kubeadm:cluster-admins" {
			want = squatter
		}
		if !slices.Equal(b.Subjects, want) {
			t.Errorf("revoke changed the subjects of %s to %v", name, b.Subjects)
		}
	}
}

// TestRecordsNamespaceOfAnotherIsRefused: class 3: a records namespace
// created first by someone else is not written to, nor trusted.
func TestRecordsNamespaceOfAnotherIsRefused(t *testing.T) {
	admin := adminClient(t)
	if _, err := admin.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "squatted-records"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "rex.kubeconfig")
	r := kubeaccess(t, cluster.AdminKubeconfig, "grant", "rex", "--records-namespace", "squatted-records", "--out", out)
	mustFailWith(t, "grant into a squatted records namespace", r, 2, "the records namespace squatted-records exists but was not created by kubeaccess")
	mustHaveIssuedNothing(t, admin, "rex", out)
	cms, err := admin.CoreV1().ConfigMaps("squatted-records").List(t.Context(), metav1.ListOptions{LabelSelector: records.KindLabel})
	if err != nil || len(cms.Items) != 0 {
		t.Errorf("records written to the squatted namespace: %v %v", cms, err)
	}
}

func jsonTime(at time.Time) string {
	data, _ := json.Marshal(at.Unix())
	return string(data)
}

// clientcmdapiAuth is a kubeconfig user entry.
type clientcmdapiAuth = clientcmdapi.AuthInfo

// certificateOf reads the client certificate of a kubeconfig's user entry.
func certificateOf(t *testing.T, path, user string) *x509.Certificate {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	auth, ok := cfg.AuthInfos[user]
	if !ok {
		t.Fatalf("%s has no user %q", path, user)
	}
	cert, err := pki.ParseCertificate(auth.ClientCertificateData)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
