package issue

import (
	"context"
	"crypto/x509"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubeaccess/kubeaccess/internal/credential"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// Source is one way a credential comes to be: the CSR API, an offline CA,
// the TokenRequest API, or a request someone else made. A Source is
// configuration: Prepare returns what one Execute works with, and leaves
// the source as it was.
type Source interface {
	// Via names the way in records: csr-api, offline-ca, token-request.
	Via() string
	// Lifetime is the lifetime asked for.
	Lifetime() time.Duration
	// Permissions are what the issuing identity needs for this way.
	Permissions(p *Plan) []verify.Permission
	// Order says when the access is bound, relative to Issue.
	Order() Order
	// Prepare makes the source's read-only checks, during preflight, and
	// returns the issuance they prepared.
	Prepare(ctx context.Context, x *Execution) (Issuance, error)
}

// Issuance is a source prepared for one Execute: what its checks made or
// read, and the steps that issue from there.
type Issuance interface {
	// Needed are the objects the credential needs in the cluster (a
	// ServiceAccount, a Secret), applied with the access.
	Needed() []runtime.Object
	// Objects are what Issue would create, for a dry run.
	Objects(x *Execution) ([]runtime.Object, error)
	// Issue makes the credential; applied are the changes already made
	// when the order is BindFirst.
	Issue(ctx context.Context, x *Execution, applied []rbac.Change) (*Credential, error)
	// Undo removes what Issue made after a later step failed, and says
	// what it did ("" when there was nothing).
	Undo(x *Execution) string
}

// ServerDryRunner is an Issuance whose objects the API server can create
// as a dry run (a CertificateSigningRequest), so that admission and RBAC
// refusals show before anything is made.
type ServerDryRunner interface {
	DryRunCreate(ctx context.Context, x *Execution, obj runtime.Object) (runtime.Object, error)
}

// RejectionExplainer is a Source that can say why the API server would
// reject what it issued (a CA it does not trust, an audience it does not
// accept).
type RejectionExplainer interface {
	RejectedBecause() string
}

// Order is when the access is bound, relative to issuing.
type Order int

const (
	// BindAlongside binds while the credential is issued: the access is
	// ready when the certificate is, and undone if it never comes.
	BindAlongside Order = iota
	// BindFirst binds before issuing: the token needs its ServiceAccount
	// and bound Secret.
	BindFirst
	// BindAfter binds once the credential exists: waiting on another
	// approver may take long, and leaves no access behind meanwhile.
	BindAfter
)

// Credential is what a source issued.
type Credential struct {
	Via string
	// CSRName is the CertificateSigningRequest it came through, if any.
	CSRName string
	// CertificatePEM and Certificate are a certificate's; KeyPEM is its
	// private key, empty when the user keeps the key.
	CertificatePEM []byte
	Certificate    *x509.Certificate
	KeyPEM         []byte
	// Token and Claims are a token's; BoundSecret names the Secret whose
	// deletion revokes it.
	Token       string
	Claims      credential.TokenClaims
	Audiences   []string
	BoundSecret string
}

// Kind is "certificate" or "token".
func (c *Credential) Kind() string {
	if c.Token != "" {
		return "token"
	}
	return "certificate"
}

// ExpiresAt is when the credential stops working.
func (c *Credential) ExpiresAt() time.Time {
	if c.Certificate != nil {
		return c.Certificate.NotAfter
	}
	return c.Claims.ExpiresAt
}

// HoldsSecret reports whether the credential can authenticate on its own
// (a key or a token): it is then verified by connecting with it.
func (c *Credential) HoldsSecret() bool { return len(c.KeyPEM) > 0 || c.Token != "" }
