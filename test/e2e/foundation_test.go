package e2e

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/utils/ptr"

	"github.com/kubeaccess/kubeaccess/internal/credential"
	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/testcluster"
)

// wantKubernetesVersion is the version of the control plane under test:
// KUBEACCESS_KUBERNETES_VERSION, which hack/test.sh and hack/test-compat.sh
// read from the tools module that built it.
var wantKubernetesVersion = cmp.Or(os.Getenv("KUBEACCESS_KUBERNETES_VERSION"), "v1.37.2")

// serverMinor is the minor version of the control plane under test.
func serverMinor(t *testing.T) int {
	t.Helper()
	parts := strings.Split(strings.TrimPrefix(wantKubernetesVersion, "v"), ".")
	minor, err := strconv.Atoi(parts[1])
	if err != nil {
		t.Fatalf("KUBEACCESS_KUBERNETES_VERSION=%q: %v", wantKubernetesVersion, err)
	}
	return minor
}

// credentialIDsForCertificates says whether the API server shows an X.509
// identity's credential ID (authentication.kubernetes.io/credential-id,
// X509SHA256=...): since v1.32 (kubernetes/kubernetes#125634).
func credentialIDsForCertificates(t *testing.T) bool { return serverMinor(t) >= 32 }

func TestAdminKubeconfigWorksWithKubectl(t *testing.T) {
	r := kubectl(t, cluster.AdminKubeconfig, "get", "namespaces", "-o", "name")
	mustSucceed(t, "kubectl get namespaces", r)
	for _, ns := range []string{"namespace/default", "namespace/kube-system"} {
		if !strings.Contains(r.stdout, ns) {
			t.Errorf("kubectl get namespaces: %q missing from\n%s", ns, r.stdout)
		}
	}
}

func TestKubectlVersionIsPinned(t *testing.T) {
	r := kubectl(t, cluster.AdminKubeconfig, "version", "-o", "json")
	mustSucceed(t, "kubectl version", r)
	var v struct {
		ClientVersion struct{ GitVersion string } `json:"clientVersion"`
		ServerVersion struct{ GitVersion string } `json:"serverVersion"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("kubectl version -o json: %v\n%s", err, r.stdout)
	}
	if v.ClientVersion.GitVersion != wantKubernetesVersion || v.ServerVersion.GitVersion != wantKubernetesVersion {
		t.Errorf("kubectl version: client %q, server %q; want both %q", v.ClientVersion.GitVersion, v.ServerVersion.GitVersion, wantKubernetesVersion)
	}
	r = kubeaccess(t, cluster.AdminKubeconfig, "version")
	mustSucceed(t, "kubeaccess version", r)
	if !strings.Contains(r.stdout, "server: Kubernetes "+wantKubernetesVersion) || strings.Contains(r.stderr, "warning") {
		t.Errorf("kubeaccess version does not show server %s without a warning:\n%s%s", wantKubernetesVersion, r.stdout, r.stderr)
	}
}

func TestWhoAmIShowsAdmin(t *testing.T) {
	r := kubeaccess(t, cluster.AdminKubeconfig, "whoami")
	mustSucceed(t, "kubeaccess whoami", r)
	adminCerts, err := certutil.CertsFromFile(adminCertPath())
	if err != nil {
		t.Fatal(err)
	}
	fingerprint := sha256.Sum256(adminCerts[0].Raw)
	for _, want := range []string{
		`(?m)^Username\s+admin$`,
		`(?m)^Groups\s+\[system:masters system:authenticated\]$`,
	} {
		if !regexp.MustCompile(want).MatchString(r.stdout) {
			t.Errorf("kubeaccess whoami: no line matches %s in\n%s", want, r.stdout)
		}
	}
	credentialID := regexp.MustCompile(`(?m)^Extra: authentication.kubernetes.io/credential-id\s+\[X509SHA256=` + hex.EncodeToString(fingerprint[:]) + `\]$`)
	if got := credentialID.MatchString(r.stdout); got != credentialIDsForCertificates(t) {
		t.Errorf("kubeaccess whoami on %s shows the certificate's credential ID: %v, want %v\n%s", wantKubernetesVersion, got, !got, r.stdout)
	}
	// Where the server does not show it, kubeaccess says so and gives it.
	note := "note: this API server does not show credential IDs (it is older than Kubernetes v1.32); the certificate's is X509SHA256=" + hex.EncodeToString(fingerprint[:])
	if got := strings.Contains(r.stderr, note); got == credentialIDsForCertificates(t) {
		t.Errorf("kubeaccess whoami on %s notes the missing credential ID: %v\n%s", wantKubernetesVersion, got, r.stderr)
	}

	r = kubeaccess(t, cluster.AdminKubeconfig, "whoami", "-o", "json")
	mustSucceed(t, "kubeaccess whoami -o json", r)
	var review authenticationv1.SelfSubjectReview
	if err := json.Unmarshal([]byte(r.stdout), &review); err != nil {
		t.Fatalf("whoami -o json is not one JSON document: %v\n%s", err, r.stdout)
	}
	if review.Kind != "SelfSubjectReview" || review.APIVersion != "authentication.k8s.io/v1" {
		t.Errorf("whoami -o json: kind %q apiVersion %q, want SelfSubjectReview authentication.k8s.io/v1", review.Kind, review.APIVersion)
	}
	user := review.Status.UserInfo
	if user.Username != "admin" || !slices.Contains(user.Groups, "system:masters") {
		t.Errorf("whoami -o json: user %q groups %v, want admin in system:masters", user.Username, user.Groups)
	}
}

func TestApprovedCSRIsSignedByControllerManager(t *testing.T) {
	client := adminClient(t)
	csr := submitAndApproveCSR(t, client, "foundation-signed", "signed-user")
	issued, err := waitForCertificate(t.Context(), client, csr, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := certutil.ParseCertsPEM(issued)
	if err != nil {
		t.Fatalf("issued certificate: %v", err)
	}
	if got := certs[0].Subject.CommonName; got != "signed-user" {
		t.Errorf("issued certificate CN = %q, want signed-user", got)
	}
	caCerts, err := certutil.CertsFromFile(cluster.CACert)
	if err != nil {
		t.Fatal(err)
	}
	if err := certs[0].CheckSignatureFrom(caCerts[0]); err != nil {
		t.Errorf("issued certificate is not signed by the cluster CA: %v", err)
	}
}

func TestNoSignerLeavesApprovedCSRUnsigned(t *testing.T) {
	unsigned := testcluster.StartForTest(t, testcluster.Options{NoSigner: true})
	client := clientFor(t, unsigned.AdminKubeconfig)
	csr := submitAndApproveCSR(t, client, "foundation-unsigned", "unsigned-user")
	// The cluster with a signer issues within a second or two (see the test
	// above); here nothing may issue while we watch for ten.
	issued, err := waitForCertificate(t.Context(), client, csr, 10*time.Second)
	if err == nil {
		t.Fatalf("a cluster without csrsigning issued a certificate (%d bytes)", len(issued))
	}
	got, err := client.CertificatesV1().CertificateSigningRequests().Get(t.Context(), csr.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !isApproved(got) || len(got.Status.Certificate) != 0 {
		t.Errorf("CSR approved=%v with %d certificate bytes; want approved and unsigned", isApproved(got), len(got.Status.Certificate))
	}
}

func TestTokenRequestReturnsAWorkingToken(t *testing.T) {
	client := adminClient(t)
	ctx := t.Context()
	sa, err := client.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "foundation-bot"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := client.CoreV1().ServiceAccounts("default").CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest: %v", err)
	}
	claims, err := credential.ParseToken(tr.Status.Token)
	if err != nil {
		t.Fatal(err)
	}
	if want := "system:serviceaccount:default:foundation-bot"; claims.Subject != want {
		t.Errorf("token subject = %q, want %q", claims.Subject, want)
	}
	kubeconfig := tokenKubeconfig(t, tr.Status.Token)
	r := kubectl(t, kubeconfig, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
	mustSucceed(t, "kubectl auth whoami with the token", r)
	if r.stdout != "system:serviceaccount:default:foundation-bot" {
		t.Errorf("kubectl auth whoami with the token = %q", r.stdout)
	}
}

// submitAndApproveCSR creates a kube-apiserver-client CSR for cn and approves it as admin.
func submitAndApproveCSR(t *testing.T, client kubernetes.Interface, name, cn string) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	request, err := certutil.MakeCSR(key, &pkix.Name{CommonName: cn, Organization: []string{"testers"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	csrs := client.CertificatesV1().CertificateSigningRequests()
	csr, err := csrs.Create(t.Context(), &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:           request,
			SignerName:        certificatesv1.KubeAPIServerClientSignerName,
			Usages:            []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth, certificatesv1.UsageDigitalSignature},
			ExpirationSeconds: ptr.To[int32](3600),
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating CSR: %v", err)
	}
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "E2ETest", Message: "approved by the foundation test",
	})
	csr, err = csrs.UpdateApproval(t.Context(), csr.Name, csr, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("approving CSR: %v", err)
	}
	return csr
}

// waitForCertificate waits up to timeout for the CSR's certificate.
func waitForCertificate(ctx context.Context, client kubernetes.Interface, req *certificatesv1.CertificateSigningRequest, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	outcome, err := csr.WaitForCertificate(ctx, client, req)
	return outcome.Certificate, err
}

func isApproved(csr *certificatesv1.CertificateSigningRequest) bool {
	for _, c := range csr.Status.Conditions {
		if c.Type == certificatesv1.CertificateApproved && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func adminClient(t *testing.T) kubernetes.Interface {
	t.Helper()
	return clientFor(t, cluster.AdminKubeconfig)
}

func clientFor(t *testing.T, kubeconfigPath string) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	// Tests ask many access reviews; client-go's default of 5 a second
	// would make them wait, not the API server.
	cfg.QPS, cfg.Burst = 200, 400
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// adminCertPath is the admin client certificate the test cluster wrote.
func adminCertPath() string { return filepath.Join(cluster.Dir, "admin.crt") }

// tokenKubeconfig writes a kubeconfig for the test cluster that holds only token.
func tokenKubeconfig(t *testing.T, token string) string {
	t.Helper()
	ca, err := os.ReadFile(cluster.CACert)
	if err != nil {
		t.Fatal(err)
	}
	entry := kubeconfig.Entry{ClusterName: "test", Server: cluster.Server, CA: ca, UserName: "bot", Token: token, ContextName: "bot@test"}
	path := filepath.Join(t.TempDir(), "token.kubeconfig")
	if err := kubeconfig.Write(path, entry.Config(), false); err != nil {
		t.Fatal(err)
	}
	return path
}
