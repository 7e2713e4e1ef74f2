package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/testcluster"
)

// TestGrantDiagnosesASignerThatDoesNotSign: on a cluster whose API takes
// client-certificate requests but never issues them, while another
// signer's requests are issued (as on EKS), grant says so after a few
// seconds instead of waiting out --timeout, and points to the ways on.
func TestGrantDiagnosesASignerThatDoesNotSign(t *testing.T) {
	c := testcluster.StartForTest(t, testcluster.Options{NoSigner: true})
	admin := clientFor(t, c.AdminKubeconfig)
	ctx := t.Context()
	// Another signer at work: a request of example.com/robots, approved and
	// issued by "it" (this test).
	key, err := pki.GenerateKey(pki.DefaultKeyType)
	if err != nil {
		t.Fatal(err)
	}
	request, err := pki.CreateRequest(key, pki.Subject("robot", nil))
	if err != nil {
		t.Fatal(err)
	}
	other, err := admin.CertificatesV1().CertificateSigningRequests().Create(ctx, &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "other-signer"},
		Spec:       certificatesv1.CertificateSigningRequestSpec{Request: request, SignerName: "example.com/robots", Usages: []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	other.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Test"}}
	if other, err = admin.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, other.Name, other, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(c.CACert)
	if err != nil {
		t.Fatal(err)
	}
	other.Status.Certificate = ca
	if _, err := admin.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, other, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(t.TempDir(), "nobody.kubeconfig")
	start := time.Now()
	r := kubeaccess(t, c.AdminKubeconfig, "grant", "eks-user", "--timeout", "60s", "--out", out)
	elapsed := time.Since(start)
	mustFailWith(t, "grant where client certificates are never signed", r, 3,
		"certificate approved but not issued: this cluster issues certificates for example.com/robots, but has issued none for kubernetes.io/kube-apiserver-client")
	token, offline := strings.Index(r.stderr, "kubeaccess token NAME"), strings.Index(r.stderr, "sign offline with --ca-cert and --ca-key")
	if token < 0 || offline < 0 || token > offline {
		t.Errorf("the diagnosis does not point to kubeaccess token first, then to signing offline:\n%s", r.stderr)
	}
	if elapsed > 30*time.Second {
		t.Errorf("the diagnosis took %s: it should come after a few seconds, not at --timeout", elapsed)
	}
	mustHaveIssuedNothing(t, admin, "eks-user", out)
}
