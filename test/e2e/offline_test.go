package e2e

import (
	"bytes"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"

	"github.com/kubeaccess/kubeaccess/internal/pki"
)

func TestGrantSignsOfflineWithTheClusterCA(t *testing.T) {
	keyBefore, err := os.ReadFile(cluster.CAKey)
	if err != nil {
		t.Fatal(err)
	}
	statBefore, _ := os.Stat(cluster.CAKey)
	out := filepath.Join(t.TempDir(), "olga.kubeconfig")
	start := time.Now().Truncate(time.Second)
	s := grantJSON(t, cluster.AdminKubeconfig, "olga", "-g", "dev", "-n", "offline", "--verb", "get,list", "--resource", "pods",
		"--ttl", "2h", "--ca-cert", cluster.CACert, "--ca-key", cluster.CAKey, "--out", out)
	end := time.Now()
	if s.IssuedVia != "offline-ca" || s.CSR != "" {
		t.Errorf("issued via %q with CSR %q; want offline-ca and no CSR", s.IssuedVia, s.CSR)
	}
	notAfter := s.Certificate.NotAfter
	if notAfter.Before(start.Add(2*time.Hour)) || notAfter.After(end.Add(2*time.Hour)) {
		t.Errorf("expires %s; want exactly 2h after signing, between %s and %s", notAfter, start.Add(2*time.Hour), end.Add(2*time.Hour))
	}
	if got := notAfter.Sub(s.Certificate.NotBefore); got != 2*time.Hour+5*time.Minute {
		t.Errorf("valid for %s; want 2h plus the 5m backdating", got)
	}
	r := kubectl(t, out, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
	mustSucceed(t, "kubectl auth whoami", r)
	if r.stdout != "olga" {
		t.Errorf("whoami = %q, want olga", r.stdout)
	}
	mustSucceed(t, "kubectl get pods -n offline", kubectl(t, out, "get", "pods", "-n", "offline"))
	expectForbidden(t, out, "get", "pods", "-n", "default")
	csrs, err := adminClient(t).CertificatesV1().CertificateSigningRequests().List(t.Context(), metav1.ListOptions{LabelSelector: "kubeaccess.io/user=olga"})
	if err != nil {
		t.Fatal(err)
	}
	if len(csrs.Items) != 0 {
		t.Errorf("offline signing created %d CSRs", len(csrs.Items))
	}
	keyAfter, _ := os.ReadFile(cluster.CAKey)
	statAfter, _ := os.Stat(cluster.CAKey)
	if !bytes.Equal(keyBefore, keyAfter) || !statAfter.ModTime().Equal(statBefore.ModTime()) || statAfter.Mode() != statBefore.Mode() {
		t.Error("the CA key file was changed")
	}
}

func TestGrantOfflineMakesNoRequest(t *testing.T) {
	// The admin kubeconfig points at a listener that counts connections;
	// the new kubeconfig gets the real server through --server-url.
	ln, connections := countingListener(t)
	ca, err := os.ReadFile(cluster.CACert)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	admin := filepath.Join(dir, "unreachable.kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubeaccess-test"] = &clientcmdapi.Cluster{Server: "https://" + ln.Addr().String(), CertificateAuthorityData: ca}
	cfg.AuthInfos["nobody"] = &clientcmdapi.AuthInfo{Token: "not-used"}
	cfg.Contexts["nobody"] = &clientcmdapi.Context{Cluster: "kubeaccess-test", AuthInfo: "nobody"}
	cfg.CurrentContext = "nobody"
	if err := clientcmd.WriteToFile(*cfg, admin); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "oscar.kubeconfig")
	r := kubeaccess(t, admin, "grant", "oscar", "-g", "dev", "--offline", "--allow-privileged", "--ca-cert", cluster.CACert, "--ca-key", cluster.CAKey,
		"--server-url", cluster.Server, "--out", out)
	mustSucceed(t, "grant --offline", r)
	if n := connections.Load(); n != 0 {
		t.Errorf("grant --offline connected to the API server %d times", n)
	}
	if !strings.Contains(r.stderr, `"oscar" was not checked for escalation-grade permissions`) {
		t.Errorf("grant --offline did not warn that privileged groups go unchecked:\n%s", r.stderr)
	}
	who := kubectl(t, out, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
	mustSucceed(t, "kubectl auth whoami", who)
	if who.stdout != "oscar" {
		t.Errorf("whoami = %q, want oscar", who.stdout)
	}
}

// writeCA writes a new CA that the cluster does not know, returning its files.
func writeCA(t *testing.T, dir, name string) (certPath, keyPath string) {
	t.Helper()
	key, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := certutil.NewSelfSignedCACert(certutil.Config{CommonName: name}, key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.MarshalKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := certutil.WriteCert(certPath, pem.EncodeToMemory(&pem.Block{Type: certutil.CertificateBlockType, Bytes: cert.Raw})); err != nil {
		t.Fatal(err)
	}
	if err := keyutil.WriteKey(keyPath, keyPEM); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

func TestGrantWithAnUntrustedCAFailsVerification(t *testing.T) {
	dir := t.TempDir()
	caCert, caKey := writeCA(t, dir, "untrusted-ca")
	r := kubeaccess(t, cluster.AdminKubeconfig, "grant", "ursula", "--ca-cert", caCert, "--ca-key", caKey, "--out", filepath.Join(dir, "u.kubeconfig"))
	mustFailWith(t, "grant signed by an untrusted CA", r, 1,
		`the API server rejects its certificate: it does not trust the CA "untrusted-ca" (--ca-cert) for client certificates`)
}

func TestGrantOfflineRefusals(t *testing.T) {
	dir := t.TempDir()
	_, otherKey := writeCA(t, dir, "other-ca")
	for name, tc := range map[string]struct {
		args    []string
		wantErr string
	}{
		"key of another CA":     {[]string{"--ca-cert", cluster.CACert, "--ca-key", otherKey}, "does not belong to the CA certificate"},
		"CA certificate as key": {[]string{"--ca-cert", cluster.CACert, "--ca-key", cluster.CACert}, "reading the CA key"},
	} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(dir, "refused.kubeconfig")
			r := kubeaccess(t, cluster.AdminKubeconfig, append([]string{"grant", "rita", "--out", out}, tc.args...)...)
			mustFailWith(t, name, r, 2, tc.wantErr)
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a refused grant wrote %s", out)
			}
		})
	}
}
