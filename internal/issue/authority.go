package issue

import (
	"context"
	"crypto"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// Authority signs a certificate offline with the cluster's client CA.
type Authority struct {
	CA *pki.Authority
	// Key is a private key made for the credential, or KeyType the type
	// of one to make; Request, when neither is set, is the user's own PEM
	// request.
	Key     crypto.Signer
	KeyType pki.KeyType
	Request []byte
	TTL     time.Duration
}

// Via is offline-ca.
func (a *Authority) Via() string { return "offline-ca" }

// Lifetime is the TTL, honoured exactly.
func (a *Authority) Lifetime() time.Duration { return a.TTL }

// Permissions: signing asks nothing of the API server.
func (a *Authority) Permissions(*Plan) []verify.Permission { return nil }

// Order binds while signing.
func (a *Authority) Order() Order { return BindAlongside }

// Prepare makes or checks the certificate request.
func (a *Authority) Prepare(_ context.Context, x *Execution) (Issuance, error) {
	in := &signing{source: a, request: certificateRequest{Key: a.Key, KeyType: a.KeyType, Request: a.Request}}
	return in, in.request.prepare(x.Plan.Subject)
}

// RejectedBecause explains an API server that rejects the certificate.
func (a *Authority) RejectedBecause() string {
	return fmt.Sprintf("it does not trust the CA %q (--ca-cert) for client certificates; sign with the CA that kube-apiserver's --client-ca-file names",
		a.CA.Cert.Subject.CommonName)
}

// signing is a request made or checked, to sign.
type signing struct {
	source  *Authority
	request certificateRequest
}

// Needed: a certificate needs no object beside the access.
func (s *signing) Needed() []runtime.Object { return nil }

// Objects: signing creates no object.
func (s *signing) Objects(*Execution) ([]runtime.Object, error) { return nil, nil }

// Issue signs.
func (s *signing) Issue(_ context.Context, x *Execution, _ []rbac.Change) (*Credential, error) {
	a := s.source
	x.Emit(Progress, "signing a certificate for %s with the CA %q", x.Plan.Subject.User, a.CA.Cert.Subject.CommonName)
	issued, err := a.CA.Sign(s.request.parsed, a.TTL, time.Now())
	if err != nil {
		return nil, failure.UsageErrorf("%w", err)
	}
	return s.request.certificate(a.Via(), "", issued, x.Plan.Subject)
}

// Undo: a signed certificate cannot be taken back; it was not written.
func (s *signing) Undo(*Execution) string { return "" }
