package issue

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/pki"
)

// certificateRequest is the request a certificate is issued for: made
// here from a key kubeaccess generated, or the user's own, which must ask
// for exactly the plan's subject and nothing else.
type certificateRequest struct {
	// Key is the private key made for the credential; nil when the user
	// keeps theirs and sent Request.
	Key crypto.Signer
	// KeyType, when Key is nil, is the type of a key to make.
	KeyType pki.KeyType
	// Request is the user's PEM certificate request; ignored with Key.
	Request []byte

	pem    []byte
	parsed *x509.CertificateRequest
}

// prepare makes or checks the request for s.
func (r *certificateRequest) prepare(s Subject) error {
	if r.Key == nil && r.KeyType != "" {
		var err error
		if r.Key, err = pki.GenerateKey(r.KeyType); err != nil {
			return err
		}
	}
	if r.Key != nil {
		var err error
		if r.pem, err = pki.CreateRequest(r.Key, pki.Subject(s.User, s.Groups)); err != nil {
			return err
		}
		r.parsed, err = pki.ParseRequest(r.pem)
		return err
	}
	parsed, err := pki.ParseRequest(r.Request)
	if err != nil {
		return failure.UsageErrorf("%w", err)
	}
	if err := CheckRequestFor(parsed, s); err != nil {
		return err
	}
	r.pem, r.parsed = r.Request, parsed
	return nil
}

// CheckRequestFor refuses a request that asks for anything but exactly
// s: one CN, the O groups in any order, no other attribute, no SANs and
// no extensions. Every request someone else made passes it before it is
// signed or approved: the engine's, and the portal's before it claims an
// invitation.
func CheckRequestFor(req *x509.CertificateRequest, s Subject) error {
	if err := pki.CheckRequest(req); err != nil {
		return failure.UsageErrorf("%w", err)
	}
	if req.Subject.CommonName != s.User || !pki.SameGroups(req.Subject.Organization, s.Groups) {
		return failure.UsageErrorf("the request is for user %q in groups %q, not %q in %q", req.Subject.CommonName, req.Subject.Organization, s.User, s.Groups)
	}
	return nil
}

// certificate checks an issued certificate against the request's key and
// the subject, and makes it a credential.
func (r *certificateRequest) certificate(via, csrName string, issued []byte, s Subject) (*Credential, error) {
	cert, err := pki.ParseCertificate(issued)
	if err != nil {
		return nil, fmt.Errorf("reading the issued certificate: %w", err)
	}
	if err := pki.CheckIssued(cert, r.parsed.PublicKey, s.User, s.Groups); err != nil {
		return nil, err
	}
	c := &Credential{Via: via, CSRName: csrName, CertificatePEM: issued, Certificate: cert}
	if r.Key != nil {
		if c.KeyPEM, err = pki.MarshalKey(r.Key); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// CredentialGroupOf returns the per-credential group among groups, if any.
func CredentialGroupOf(groups []string) string {
	for _, g := range groups {
		if strings.HasPrefix(g, pki.CredentialGroupPrefix) {
			return g
		}
	}
	return ""
}
