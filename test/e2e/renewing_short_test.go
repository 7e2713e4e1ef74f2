package e2e

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/renewing"
	"github.com/kubeaccess/kubeaccess/internal/testcluster"
)

// onCluster makes c the cluster this package's helpers act on until the
// test ends (its tests run one at a time, never in parallel).
func onCluster(t *testing.T, c *testcluster.Cluster) {
	t.Helper()
	shared := cluster
	cluster = c
	t.Cleanup(func() { cluster = shared })
}

// On a cluster whose signer issues certificates of 40 seconds, as a short
// --cluster-signing-duration makes it: a renewing credential keeps a
// renewal identity, which renews it once its certificate has expired (a
// laptop back from a trip); revoked, its renewals are denied, by whichever
// identity it asks, and once its last certificate expires it is refused
// everywhere, through a binding someone else made to its group too. No
// request that reached the API server carried a private key.
func TestRenewingCredentialEndsWithItsShortCertificate(t *testing.T) {
	short := testcluster.StartForTest(t, testcluster.Options{SigningDuration: 40 * time.Second, AuditLog: true})
	onCluster(t, short)
	// Renewed records are deleted 20s after they expired.
	ctl := startController(t, controllerKubeconfig(t), "short-a", "short-lease", "--keep-renewed-records", "20s")
	waitUntil(t, "the replica leads", 30*time.Second, ctl.leading)
	admin := adminClient(t)
	ctx := t.Context()
	dir := t.TempDir()
	kc := filepath.Join(dir, "sam.kubeconfig")
	file := renewing.PathFor(kc)
	// Renewed 2s before it expires, so that the test can let it expire.
	granted := grantJSON(t, cluster.AdminKubeconfig, "sam", "-g", "short-devs", "-n", "short-ns", "--verb", "get,list", "--resource", "pods",
		"--renewing", "--ttl", "10m", "--renew-before", "2s", "--offline-for", "1h", "--out", kc)
	if !granted.Clamped {
		t.Fatalf("the signer did not shorten the certificate: %+v", granted)
	}
	// Someone else lets sam's group read pods everywhere.
	mustSucceed(t, "someone binds group short-devs", kubectl(t, cluster.AdminKubeconfig, "create", "clusterrolebinding", "short-devs-view",
		"--clusterrole", "view", "--group", "short-devs"))

	read := func() *renewing.File {
		t.Helper()
		f, err := renewing.Read(file)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	certOf := func(data []byte) *x509.Certificate {
		t.Helper()
		c, err := pki.ParseCertificate(data)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	idOf := func(data []byte) string { return records.CertificateID(pki.Describe(certOf(data)).SHA256) }
	store := records.Store{Client: admin, Namespace: records.DefaultNamespace}
	getPods := func() result { return kubectl(t, kc, "get", "pods", "-n", "short-ns") }

	// The first use asks for the renewal identity: its own key, a user
	// that is not sam's, and the one group that may ask for certificates.
	mustSucceed(t, "kubectl with the renewing kubeconfig", getPods())
	f := read()
	if f.Identity == nil || len(f.Identity.Certificate) == 0 {
		t.Fatalf("the first use asked for no renewal identity: %+v", f.Identity)
	}
	identity := certOf(f.Identity.Certificate)
	if !pki.IsRenewalIdentity(identity.Subject.CommonName, identity.Subject.Organization) || bytes.Equal(f.Identity.Key, f.Key) {
		t.Fatalf("the renewal identity is %v, with its own key %v", identity.Subject, !bytes.Equal(f.Identity.Key, f.Key))
	}
	rec, err := store.Get(ctx, idOf(f.Identity.Certificate))
	if err != nil || rec.RenewalIdentityOf != strings.TrimPrefix(granted.Record, records.DefaultNamespace+"/") {
		t.Fatalf("the renewal identity's record: %+v %v", rec, err)
	}
	mustFailWith(t, "the renewal identity reads pods", kubectl(t, plainKubeconfig(t, short, f.Identity.Certificate, f.Identity.Key), "get", "pods", "-n", "short-ns"),
		1, "forbidden")

	// The identity is replaced while the certificate is valid, a third of
	// its life before it ends.
	waitUntil(t, "the renewal identity is due", 40*time.Second, func() bool { return read().IdentityDue(time.Now()) })
	if due, _, _ := read().Due(time.Now()); due {
		t.Fatal("the certificate fell due before the renewal identity (the test's timing)")
	}
	before := read()
	mustSucceed(t, "kubectl when the renewal identity is due", getPods())
	f = read()
	if bytes.Equal(f.Identity.Certificate, before.Identity.Certificate) || !bytes.Equal(f.Certificate, before.Certificate) {
		t.Fatal("the renewal identity was not replaced, or the certificate was renewed early")
	}

	// Left alone: the renewal identity asking for a wider subject, and
	// the credential asking for a renewal identity not named for its
	// subject (as a record others may write could claim it is).
	forged := map[string]*certificatesv1.CertificateSigningRequest{
		"the renewal identity, for sam with a group more": submitRequest(t, plainKubeconfig(t, short, f.Identity.Certificate, f.Identity.Key),
			"sam", []string{"short-devs", "admins"}),
		"sam, for a renewal identity of another subject": submitRequest(t, plainKubeconfig(t, short, f.Certificate, f.Key),
			pki.RenewalIdentityPrefix+"0123456789abcdef:00", []string{pki.RenewalIdentityGroup}),
	}

	// Away: the certificate expires unused. The next use renews it
	// through the renewal identity, as the same credential.
	expired := certOf(f.Certificate)
	time.Sleep(time.Until(expired.NotAfter) + time.Second)
	r := getPods()
	mustSucceed(t, "kubectl after the certificate expired", r)
	after := read()
	if bytes.Equal(after.Certificate, f.Certificate) {
		t.Fatalf("the expired certificate was not renewed:\n%s", r.stderr)
	}
	old, err := store.Get(ctx, idOf(f.Certificate))
	if err != nil || old.ReplacedBy != idOf(after.Certificate) {
		t.Fatalf("the expired certificate's record is not replaced by the renewal's: %+v %v", old, err)
	}
	for what, req := range forged {
		got, err := admin.CertificatesV1().CertificateSigningRequests().Get(ctx, req.Name, metav1.GetOptions{})
		if err != nil || len(got.Status.Conditions) > 0 {
			t.Errorf("%s: the controller decided a request it should leave alone: %+v %v", what, got.Status.Conditions, err)
		}
	}
	renewed, err := store.Get(ctx, old.ReplacedBy)
	if err != nil {
		t.Fatal(err)
	}
	req, err := admin.CertificatesV1().CertificateSigningRequests().Get(ctx, renewed.CSR, metav1.GetOptions{})
	if err != nil || req.Spec.Username != certOf(f.Identity.Certificate).Subject.CommonName || renewed.User != "sam" {
		t.Fatalf("the renewal was not asked for by the renewal identity: %v %v", req.Spec.Username, err)
	}

	// A fresh renewal identity again, so that one is valid after the
	// certificate expires.
	waitUntil(t, "the renewal identity is due", 40*time.Second, func() bool { return read().IdentityDue(time.Now()) })
	mustSucceed(t, "kubectl when the renewal identity is due", getPods())
	f = read()
	last := certOf(f.Certificate)
	if !certOf(f.Identity.Certificate).NotAfter.After(last.NotAfter) {
		t.Fatal("the renewal identity does not outlive the certificate (the test's timing)")
	}

	// Revoked: revoke says when all of it ends. Until then, the binding
	// someone else made still works; kubeaccess cannot take that away.
	r = kubeaccess(t, cluster.AdminKubeconfig, "revoke", "sam")
	end := last.NotAfter.UTC().Format(time.RFC3339)
	if !strings.Contains(r.stderr, "renews itself, and is not renewed again: at "+end) ||
		r.code != 1 || !strings.Contains(r.stderr, "through a binding of one of their groups (listed above), until "+end+": then the certificate, no longer renewed, expires") {
		t.Errorf("revoke does not say when the renewing credential ends:\n%s%s", r.stdout, r.stderr)
	}
	mustSucceed(t, "kubectl through the group's binding, before the certificate expires", getPods())
	time.Sleep(time.Until(last.NotAfter) + time.Second)
	r = getPods()
	if r.code == 0 || !strings.Contains(r.stderr, "renewal was refused") || !strings.Contains(r.stderr, "revoked") {
		t.Errorf("after the revoked credential's certificate expired, kubectl: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !bytes.Equal(read().Certificate, f.Certificate) {
		t.Error("a revoked credential was renewed")
	}
	// Its last certificate, used as it is: nothing, anywhere.
	plain := plainKubeconfig(t, short, f.Certificate, f.Key)
	for _, args := range [][]string{{"get", "pods", "-n", "short-ns"}, {"get", "pods", "-A"}, {"auth", "whoami"}} {
		if r := kubectl(t, plain, args...); r.code == 0 || !strings.Contains(r.stderr, "Unauthorized") && !strings.Contains(r.stderr, "must be logged in") {
			t.Errorf("kubectl %v with the expired certificate: %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
	}
	denied := 0
	csrs, err := admin.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range csrs.Items {
		for _, c := range req.Status.Conditions {
			if c.Type == "Denied" && strings.Contains(c.Message, "revoked") && strings.HasPrefix(req.Spec.Username, pki.RenewalIdentityPrefix) {
				denied++
			}
		}
	}
	if denied != 1 {
		t.Errorf("want the revoked credential's renewal through its renewal identity denied once, found %d", denied)
	}

	// The record of the certificate that expired away was deleted 20s
	// after it expired (the credential was renewed, and refused, by its
	// lineage since).
	if _, err := store.Get(ctx, records.CertificateID(pki.Describe(expired).SHA256)); !apierrors.IsNotFound(err) {
		t.Errorf("the renewed, expired certificate's record is still there: %v", err)
	}

	// On the wire: no request the API server received carried either
	// private key, in any encoding; and the log did record the bodies
	// (the renewal identity's request is there).
	log, err := os.ReadFile(short.AuditLog)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(log, []byte(certOf(f.Identity.Certificate).Subject.CommonName)) || !bytes.Contains(log, []byte(`"requestObject"`)) {
		t.Fatal("the audit log does not hold the requests' bodies")
	}
	for what, key := range map[string][]byte{"the credential's key": f.Key, "the renewal identity's key": f.Identity.Key} {
		if leaked := keyIn(t, log, key); leaked != "" {
			t.Errorf("%s went to the API server, %s", what, leaked)
		}
	}
}

// plainKubeconfig is a kubeconfig of c with a client certificate and key
// (no plugin), to use a certificate as it is.
func plainKubeconfig(t *testing.T, c *testcluster.Cluster, certPEM, keyPEM []byte) string {
	t.Helper()
	ca, err := os.ReadFile(c.CACert)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "plain.kubeconfig")
	e := kubeconfig.Entry{ClusterName: "short", Server: c.Server, CA: ca, UserName: "plain", ContextName: "plain", Certificate: certPEM, Key: keyPEM}
	if err := kubeconfig.Write(path, e.Config(), false); err != nil {
		t.Fatal(err)
	}
	return path
}

// keyIn says how the private key keyPEM appears in data, or "": its PEM
// lines, its DER in base64 (at any byte alignment), or the PEM itself in
// base64, as a []byte field of a JSON body would carry it.
func keyIn(t *testing.T, data, keyPEM []byte) string {
	t.Helper()
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		t.Fatal("no PEM key")
	}
	for _, line := range strings.Split(string(keyPEM), "\n") {
		if len(line) >= 32 && !strings.HasPrefix(line, "-----") && bytes.Contains(data, []byte(line)) {
			return "as a line of its PEM"
		}
	}
	for what, raw := range map[string][]byte{"DER": block.Bytes, "PEM": keyPEM} {
		for shift := range 3 {
			enc := base64.StdEncoding.EncodeToString(raw[shift:])
			// Past the first characters, which depend on what came before.
			if probe := enc[4:36]; bytes.Contains(data, []byte(probe)) {
				return "as its " + what + " in base64"
			}
		}
	}
	return ""
}
