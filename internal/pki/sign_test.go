package pki

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// newCA writes a self-signed CA to dir and returns the paths of its files.
func newCA(t *testing.T, dir, name string) (certPath, keyPath string) {
	t.Helper()
	key, err := GenerateKey(ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := certutil.NewSelfSignedCACert(certutil.Config{CommonName: name}, key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := MarshalKey(key)
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

func request(t *testing.T, user string, groups ...string) (*x509.CertificateRequest, crypto.Signer) {
	t.Helper()
	key, err := GenerateKey(ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	pemData, err := CreateRequest(key, Subject(user, groups))
	if err != nil {
		t.Fatal(err)
	}
	req, err := ParseRequest(pemData)
	if err != nil {
		t.Fatal(err)
	}
	return req, key
}

func TestAuthoritySign(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadAuthority(newCA(t, dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	req, key := request(t, "dave", "dev", "ops")
	now := time.Now().Truncate(time.Second)
	pemData, err := ca.Sign(req, 36*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ParseCertificate(pemData)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckIssued(cert, key.Public(), "dave", []string{"dev", "ops"}); err != nil {
		t.Error(err)
	}
	if !cert.NotBefore.Equal(now.Add(-5*time.Minute)) || !cert.NotAfter.Equal(now.Add(36*time.Hour)) {
		t.Errorf("valid %s to %s; want %s to %s", cert.NotBefore, cert.NotAfter, now.Add(-5*time.Minute), now.Add(36*time.Hour))
	}
	if cert.IsCA || !cert.BasicConstraintsValid {
		t.Errorf("IsCA=%v BasicConstraintsValid=%v; want a leaf that says so", cert.IsCA, cert.BasicConstraintsValid)
	}
	if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || cert.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("usages %v / %v; want client auth and digital signature only", cert.ExtKeyUsage, cert.KeyUsage)
	}
	if bits := cert.SerialNumber.BitLen(); bits > 128 || bits < 64 {
		t.Errorf("serial has %d bits; want a random 128-bit number", bits)
	}
	again, err := ca.Sign(req, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	second, _ := ParseCertificate(again)
	if second.SerialNumber.Cmp(cert.SerialNumber) == 0 {
		t.Error("two certificates got the same serial")
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, CurrentTime: now}); err != nil {
		t.Errorf("does not chain to the CA for client auth: %v", err)
	}
}

func TestAuthorityRefuses(t *testing.T) {
	dir := t.TempDir()
	caCert, caKey := newCA(t, dir, "ca")
	_, otherKey := newCA(t, dir, "other")
	leafPath := filepath.Join(dir, "leaf.crt")
	ca, err := LoadAuthority(caCert, caKey)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := request(t, "dave")
	leaf, err := ca.Sign(req, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(leafPath, leaf, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		cert, key, wantErr string
	}{
		"key of another CA":   {cert: caCert, key: otherKey, wantErr: "does not belong to the CA certificate"},
		"not a CA":            {cert: leafPath, key: caKey, wantErr: "is not a CA certificate"},
		"missing certificate": {cert: filepath.Join(dir, "none.crt"), key: caKey, wantErr: "reading the CA certificate"},
		"certificate as key":  {cert: caCert, key: caCert, wantErr: "reading the CA key"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := LoadAuthority(tc.cert, tc.key)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v; want one containing %q", err, tc.wantErr)
			}
		})
	}
	t.Run("lifetime past the CA's", func(t *testing.T) {
		_, err := ca.Sign(req, 20*365*24*time.Hour, time.Now())
		if err == nil || !strings.Contains(err.Error(), "before the certificate would") {
			t.Errorf("error %v; want a refusal naming the CA's expiry", err)
		}
	})
	t.Run("tampered request", func(t *testing.T) {
		forged := *req
		forged.Subject.CommonName = "admin"
		forged.RawTBSCertificateRequest = append([]byte(nil), req.RawTBSCertificateRequest...)
		forged.RawTBSCertificateRequest[len(forged.RawTBSCertificateRequest)-1] ^= 1
		if _, err := ca.Sign(&forged, time.Hour, time.Now()); err == nil || !strings.Contains(err.Error(), "signature is invalid") {
			t.Errorf("error %v; want the signature refused", err)
		}
	})
}

func TestParseRequestTakesOneBlock(t *testing.T) {
	req, _ := request(t, "dave", "dev")
	one := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: req.Raw})
	if _, err := ParseRequest(append(one, '\n')); err != nil {
		t.Fatalf("one request: %v", err)
	}
	other, _ := request(t, "admin", "system:masters")
	two := append(one, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: other.Raw})...)
	if _, err := ParseRequest(two); err == nil || !strings.Contains(err.Error(), "more than one certificate request") {
		t.Errorf("two requests: %v, want a refusal", err)
	}
}
