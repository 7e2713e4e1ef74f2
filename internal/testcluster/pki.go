package testcluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// authority is the cluster CA: it signs the serving and client certificates
// of the control plane, and kube-controller-manager signs CSRs with it.
type authority struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newAuthority() (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	cert, err := certutil.NewSelfSignedCACert(certutil.Config{CommonName: "kubeaccess-testcluster-ca"}, key)
	if err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key}, nil
}

// issue signs a new key pair for subject, for client or server use.
func (a *authority) issue(subject pkix.Name, usage x509.ExtKeyUsage, ips []net.IP, dnsNames []string) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      subject,
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IPAddresses:  ips,
		DNSNames:     dnsNames,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, key.Public(), a.key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// writePair writes cert to dir/name.crt and key to dir/name.key (0600).
func writePair(dir, name string, cert *x509.Certificate, key crypto.Signer) (certPath, keyPath string, err error) {
	certPEM, err := certutil.EncodeCertificates(cert)
	if err != nil {
		return "", "", err
	}
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return "", "", err
	}
	certPath, keyPath = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return "", "", err
	}
	return certPath, keyPath, nil
}

// clusterPKI is every file the control plane needs.
type clusterPKI struct {
	caCert, caKey                        string
	servingCert, servingKey              string
	adminCert, adminKey                  string
	controllerCert, controllerKey        string
	serviceAccountKey, serviceAccountPub string
}

// writeClusterPKI creates a fresh CA and the certificates signed by it, and a
// service-account signing key, under dir.
func writeClusterPKI(dir string) (*clusterPKI, error) {
	ca, err := newAuthority()
	if err != nil {
		return nil, fmt.Errorf("creating CA: %w", err)
	}
	p := &clusterPKI{}
	if p.caCert, p.caKey, err = writePair(dir, "ca", ca.cert, ca.key); err != nil {
		return nil, err
	}
	pairs := []struct {
		name            string
		subject         pkix.Name
		usage           x509.ExtKeyUsage
		certOut, keyOut *string
		ips             []net.IP
		dns             []string
	}{
		{"apiserver", pkix.Name{CommonName: "kube-apiserver"}, x509.ExtKeyUsageServerAuth, &p.servingCert, &p.servingKey,
			[]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}, []string{"localhost", "kubernetes", "kubernetes.default.svc"}},
		{"admin", pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}}, x509.ExtKeyUsageClientAuth, &p.adminCert, &p.adminKey, nil, nil},
		{"controller-manager", pkix.Name{CommonName: "system:kube-controller-manager"}, x509.ExtKeyUsageClientAuth, &p.controllerCert, &p.controllerKey, nil, nil},
	}
	for _, pair := range pairs {
		cert, key, err := ca.issue(pair.subject, pair.usage, pair.ips, pair.dns)
		if err != nil {
			return nil, fmt.Errorf("issuing %s certificate: %w", pair.name, err)
		}
		if *pair.certOut, *pair.keyOut, err = writePair(dir, pair.name, cert, key); err != nil {
			return nil, err
		}
	}
	return p, writeServiceAccountKey(dir, p)
}

func writeServiceAccountKey(dir string, p *clusterPKI) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return err
	}
	p.serviceAccountKey, p.serviceAccountPub = filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")
	if err := os.WriteFile(p.serviceAccountKey, keyPEM, 0o600); err != nil {
		return err
	}
	return os.WriteFile(p.serviceAccountPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644)
}
