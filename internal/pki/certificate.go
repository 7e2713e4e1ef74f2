package pki

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	certutil "k8s.io/client-go/util/cert"
)

// CertificateInfo is what kubeaccess reports about an issued certificate.
// Expiry always comes from here, never from what was requested.
type CertificateInfo struct {
	User      string    `json:"user"`
	Groups    []string  `json:"groups"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	SHA256    string    `json:"sha256"`
	KeyType   string    `json:"keyType"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
}

// Describe returns the facts of cert.
func Describe(cert *x509.Certificate) CertificateInfo {
	sum := sha256.Sum256(cert.Raw)
	return CertificateInfo{
		User:      cert.Subject.CommonName,
		Groups:    cert.Subject.Organization,
		Issuer:    cert.Issuer.CommonName,
		Serial:    cert.SerialNumber.Text(16),
		SHA256:    hex.EncodeToString(sum[:]),
		KeyType:   DescribePublicKey(cert.PublicKey),
		NotBefore: cert.NotBefore.UTC(),
		NotAfter:  cert.NotAfter.UTC(),
	}
}

// ParseCertificate parses the first certificate of a PEM bundle.
func ParseCertificate(pemData []byte) (*x509.Certificate, error) {
	certs, err := certutil.ParseCertsPEM(pemData)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// SameGroups reports whether a subject's O groups are groups, in any
// order: they are one SET in the subject, which DER encodes sorted, so a
// signer may return them in another order than requested.
func SameGroups(got, groups []string) bool {
	a, b := slices.Clone(got), slices.Clone(groups)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// CheckIssued confirms that an issued certificate is the one asked for: it
// certifies the requester's public key for exactly the requested subject,
// for client authentication.
func CheckIssued(cert *x509.Certificate, public crypto.PublicKey, user string, groups []string) error {
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(public) {
		return fmt.Errorf("issued certificate does not certify the key that was submitted")
	}
	if cert.Subject.CommonName != user || !SameGroups(cert.Subject.Organization, groups) {
		return fmt.Errorf("issued certificate is for %q in %v, not %q in %v", cert.Subject.CommonName, cert.Subject.Organization, user, groups)
	}
	for _, u := range cert.ExtKeyUsage {
		if u == x509.ExtKeyUsageClientAuth {
			return nil
		}
	}
	return fmt.Errorf("issued certificate is not valid for client authentication")
}
