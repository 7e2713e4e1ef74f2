package issue

import (
	"context"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// Existing approves a request someone else submitted, and waits for its
// certificate; the request stays theirs whatever happens.
type Existing struct {
	Request    *certificatesv1.CertificateSigningRequest
	Timeout    time.Duration
	Instead    string
	ApprovedBy string
}

// Via is csr-api.
func (c *Existing) Via() string { return "csr-api" }

// Lifetime is what the request asks for; without expirationSeconds, the
// signer's maximum of a year.
func (c *Existing) Lifetime() time.Duration { return RequestedLifetime(c.Request) }

// SignerMaxLifetime is what the kube-controller-manager signer issues to
// a request without expirationSeconds, unless its
// --cluster-signing-duration says otherwise.
const SignerMaxLifetime = 365 * 24 * time.Hour

// RequestedLifetime is what req asks for; without expirationSeconds, the
// signer's maximum.
func RequestedLifetime(req *certificatesv1.CertificateSigningRequest) time.Duration {
	if req.Spec.ExpirationSeconds == nil {
		return SignerMaxLifetime
	}
	return time.Duration(*req.Spec.ExpirationSeconds) * time.Second
}

// Permissions are approving and watching.
func (c *Existing) Permissions(*Plan) []verify.Permission { return ApprovePermissions }

// Order binds while the signer works.
func (c *Existing) Order() Order { return BindAlongside }

// Prepare checks that the request asks for exactly the plan's subject.
func (c *Existing) Prepare(_ context.Context, x *Execution) (Issuance, error) {
	in := &existingIssuance{source: c, request: certificateRequest{Request: c.Request.Spec.Request}}
	return in, in.request.prepare(x.Plan.Subject)
}

// existingIssuance is an approval of someone else's request, checked.
type existingIssuance struct {
	source  *Existing
	request certificateRequest
}

// Needed: a certificate needs no object beside the access.
func (c *existingIssuance) Needed() []runtime.Object { return nil }

// Objects: approving creates no object.
func (c *existingIssuance) Objects(*Execution) ([]runtime.Object, error) { return nil, nil }

// Issue approves and waits.
func (c *existingIssuance) Issue(ctx context.Context, x *Execution, _ []rbac.Change) (*Credential, error) {
	s := c.source
	issued, err := awaitAndApprove(ctx, x, s.Request, true, s.Timeout, s.Instead, s.ApprovedBy)
	if err != nil {
		return nil, err
	}
	return c.request.certificate(s.Via(), s.Request.Name, issued, x.Plan.Subject)
}

// Undo leaves the request, which is its requester's.
func (c *existingIssuance) Undo(*Execution) string { return "" }
