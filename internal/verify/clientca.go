package verify

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	certutil "k8s.io/client-go/util/cert"
)

// ClientCA reads the CAs the API server trusts for client certificates,
// which it publishes in kube-system/extension-apiserver-authentication.
func ClientCA(ctx context.Context, client kubernetes.Interface) ([]*x509.Certificate, error) {
	cm, err := client.CoreV1().ConfigMaps("kube-system").Get(ctx, "extension-apiserver-authentication", metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading the cluster's client CA: %w", err)
	}
	pem := cm.Data["client-ca-file"]
	if pem == "" {
		return nil, errors.New("the cluster publishes no client CA (kube-system/extension-apiserver-authentication has no client-ca-file)")
	}
	return certutil.ParseCertsPEM([]byte(pem))
}

// Chains reports whether cert is a client certificate issued by one of roots.
// It is checked as of the end of its validity, so that an expiring
// certificate can still be told apart from a forged one.
func Chains(cert *x509.Certificate, roots []*x509.Certificate) error {
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	_, err := cert.Verify(x509.VerifyOptions{
		Roots:       pool,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		CurrentTime: cert.NotAfter.Add(-time.Second),
	})
	return err
}
