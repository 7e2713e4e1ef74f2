package pki

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"

	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// Backdate is how far before signing a certificate becomes valid, as with
// kube-controller-manager's signer, so that clocks a little behind accept it.
const Backdate = 5 * time.Minute

// Authority signs client certificates offline with a CA's key, as kubeadm
// does, for clusters whose API does not sign them or cannot be reached.
type Authority struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// LoadAuthority reads a CA certificate and its private key from PEM files.
// The files are only read.
func LoadAuthority(certPath, keyPath string) (*Authority, error) {
	certs, err := certutil.CertsFromFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("reading the CA certificate %s: %w", certPath, err)
	}
	cert := certs[0]
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return nil, fmt.Errorf("%s is not a CA certificate (its basic constraints do not say CA)", certPath)
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%s is a CA certificate whose key usage does not allow signing certificates", certPath)
	}
	parsed, err := keyutil.PrivateKeyFromFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("reading the CA key %s: %w", keyPath, err)
	}
	key, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("the CA key %s cannot sign", keyPath)
	}
	if pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(key.Public()) {
		return nil, fmt.Errorf("the CA key %s does not belong to the CA certificate %s", keyPath, certPath)
	}
	return &Authority{Cert: cert, Key: key}, nil
}

// ParseRequest reads a PEM certificate request and checks its signature,
// which proves the requester holds the private key.
func ParseRequest(pemData []byte) (*x509.CertificateRequest, error) {
	block, rest := pem.Decode(pemData)
	if block == nil {
		return nil, errors.New("no PEM data found")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		// What follows would be read by no one who reviews the request.
		return nil, errors.New("the PEM data holds more than one certificate request")
	}
	if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("PEM block is a %q, not a CERTIFICATE REQUEST", block.Type)
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing the certificate request: %w", err)
	}
	if err := req.CheckSignature(); err != nil {
		return nil, fmt.Errorf("the certificate request's signature is invalid: %w", err)
	}
	return req, nil
}

// Sign issues a PEM client certificate for the request's user (CN) and
// groups (O), valid from now-Backdate until exactly now+ttl, with a random
// 128-bit serial. Only the CN and O of the request are copied: the subject
// is rebuilt as a value. Sign refuses, rather than shortens, a lifetime
// past the CA's own expiry.
func (a *Authority) Sign(req *x509.CertificateRequest, ttl time.Duration, now time.Time) ([]byte, error) {
	if err := req.CheckSignature(); err != nil {
		return nil, fmt.Errorf("the certificate request's signature is invalid: %w", err)
	}
	notAfter := now.Add(ttl)
	if notAfter.After(a.Cert.NotAfter) {
		return nil, fmt.Errorf("the CA expires at %s, before the certificate would (%s): ask for a shorter --ttl",
			a.Cert.NotAfter.UTC().Format(time.RFC3339), notAfter.UTC().Format(time.RFC3339))
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               Subject(req.Subject.CommonName, req.Subject.Organization),
		NotBefore:             now.Add(-Backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Cert, req.PublicKey, a.Key)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: certutil.CertificateBlockType, Bytes: der}), nil
}
