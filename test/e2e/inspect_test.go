package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/kubeaccess/kubeaccess/internal/inspect"
	"github.com/kubeaccess/kubeaccess/internal/pki"
)

// inspectJSON runs "inspect -o json" on path ("-" with stdin) and decodes it.
func inspectJSON(t *testing.T, path string, stdin []byte) inspect.Report {
	t.Helper()
	r := runWithStdin(t, stdin, kubeaccessBin, "inspect", path, "-o", "json")
	mustSucceed(t, "kubeaccess inspect "+path, r)
	return decodeSummary[inspect.Report](t, "inspect", []byte(r.stdout))
}

func TestInspectWhatWasIssued(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "ivy.kubeconfig")
	s := grantJSON(t, cluster.AdminKubeconfig, "ivy", "-g", "dev", "--out", out)

	t.Run("kubeconfig", func(t *testing.T) {
		k := inspectJSON(t, out, nil).Kubeconfig
		if k == nil || len(k.Users) != 1 {
			t.Fatalf("got %+v", k)
		}
		u := k.Users[0]
		if u.Certificate.User != "ivy" || u.Certificate.Serial != s.Certificate.Serial || u.Certificate.SHA256 != s.Certificate.SHA256 {
			t.Errorf("certificate %+v; grant said serial %s sha256 %s", u.Certificate, s.Certificate.Serial, s.Certificate.SHA256)
		}
		if !u.HasKey || u.KeyMatches == nil || !*u.KeyMatches || u.ChainsToClusterCA == nil || !*u.ChainsToClusterCA {
			t.Errorf("hasKey %v keyMatches %v chains %v; want all true", u.HasKey, u.KeyMatches, u.ChainsToClusterCA)
		}
	})
	cfg, err := clientcmd.LoadFromFile(out)
	if err != nil {
		t.Fatal(err)
	}
	auth := cfg.AuthInfos[cfg.Contexts[cfg.CurrentContext].AuthInfo]

	t.Run("certificate from stdin", func(t *testing.T) {
		r := inspectJSON(t, "-", auth.ClientCertificateData)
		if r.Kind != "certificate" || r.Certificates[0].User != "ivy" || strings.Join(r.Certificates[0].Usages, ",") != "digital signature,client auth" {
			t.Errorf("got %+v", r)
		}
	})
	t.Run("private key, never its content", func(t *testing.T) {
		keyFile := filepath.Join(dir, "ivy.key")
		if err := os.WriteFile(keyFile, auth.ClientKeyData, 0o600); err != nil {
			t.Fatal(err)
		}
		r := runWithStdin(t, nil, kubeaccessBin, "inspect", keyFile)
		mustSucceed(t, "inspect key", r)
		if !strings.Contains(r.stdout, "ECDSA P-256 (content not shown)") {
			t.Errorf("inspect of a key printed:\n%s", r.stdout)
		}
		body := strings.Join(strings.Split(strings.TrimSpace(string(auth.ClientKeyData)), "\n")[1:2], "")
		if strings.Contains(r.stdout, body[:20]) {
			t.Error("inspect printed key material")
		}
	})
	t.Run("certificate request", func(t *testing.T) {
		key, err := pki.GenerateKey(pki.RSA2048)
		if err != nil {
			t.Fatal(err)
		}
		csrPEM, err := pki.CreateRequest(key, pki.Subject("jo", []string{"qa", "ops"}))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "jo.csr")
		if err := os.WriteFile(path, csrPEM, 0o644); err != nil {
			t.Fatal(err)
		}
		q := inspectJSON(t, path, nil).Request
		if q == nil || q.User != "jo" || strings.Join(q.Groups, ",") != "qa,ops" || q.KeyType != "RSA 2048" || !q.SignatureValid {
			t.Errorf("got %+v", q)
		}
	})
	t.Run("token kubeconfig", func(t *testing.T) {
		client := adminClient(t)
		sa, err := client.CoreV1().ServiceAccounts("default").Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{GenerateName: "inspect-"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tr, err := client.CoreV1().ServiceAccounts("default").CreateToken(t.Context(), sa.Name, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](900)},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		u := inspectJSON(t, tokenKubeconfig(t, tr.Status.Token), nil).Kubeconfig.Users[0]
		if u.Credential != "bearer token" || u.Token.Subject != "system:serviceaccount:default:"+sa.Name || !u.Token.ExpiresAt.Equal(tr.Status.ExpirationTimestamp.UTC()) {
			t.Errorf("got %+v, token %+v; TokenRequest said expires %s", u, u.Token, tr.Status.ExpirationTimestamp)
		}
	})
	t.Run("malformed input", func(t *testing.T) {
		r := runWithStdin(t, []byte("-----BEGIN CERTIFICATE-----\nnope\n"), kubeaccessBin, "inspect", "-")
		mustFailWith(t, "inspect of broken PEM", r, 1, "error: standard input: the PEM data is malformed")
	})
}
