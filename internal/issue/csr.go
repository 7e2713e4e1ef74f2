package issue

import (
	"context"
	"crypto"
	"time"

	"golang.org/x/sync/errgroup"
	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// CSR issues a certificate through the CertificateSigningRequest API: it
// submits the request, approves it (or waits for another approver), and
// waits for the signer.
type CSR struct {
	// Key is a private key made for the credential, or KeyType the type
	// of one to make while the checks run; Request, when neither is set,
	// is the user's own PEM request, whose key stays with them.
	Key     crypto.Signer
	KeyType pki.KeyType
	Request []byte
	TTL     time.Duration
	// Approve approves the request; otherwise another approver must.
	Approve bool
	Timeout time.Duration
	// Instead says what to do when no signer signs (NoSigner for the
	// commands an admin runs) ("sign offline with
	// --ca-cert and --ca-key instead").
	Instead string
	// ApprovedBy is the approval's message ("approved by kubeaccess grant").
	ApprovedBy string
	// Annotations are set on the CertificateSigningRequest; Submitted is
	// told of it once it exists (the portal ties it to its invite).
	Annotations map[string]string
	Submitted   func(created *certificatesv1.CertificateSigningRequest)
}

// Via is csr-api.
func (c *CSR) Via() string { return "csr-api" }

// Lifetime is the TTL asked of the signer.
func (c *CSR) Lifetime() time.Duration { return c.TTL }

// Permissions are submitting, watching and, when approving, approving.
func (c *CSR) Permissions(*Plan) []verify.Permission {
	perms := []verify.Permission{SubmitPermission}
	if c.Approve {
		return append(perms, ApprovePermissions...)
	}
	return append(perms, WatchPermission)
}

// Order binds alongside when approving, else once another approved.
func (c *CSR) Order() Order {
	if c.Approve {
		return BindAlongside
	}
	return BindAfter
}

// Prepare makes or checks the certificate request.
func (c *CSR) Prepare(_ context.Context, x *Execution) (Issuance, error) {
	if err := csr.ValidateTTL("the lifetime", c.TTL); err != nil {
		return nil, failure.UsageErrorf("%w", err)
	}
	in := &csrIssuance{source: c, request: certificateRequest{Key: c.Key, KeyType: c.KeyType, Request: c.Request}}
	return in, in.request.prepare(x.Plan.Subject)
}

// csrIssuance is one request through the CSR API: the request made or
// checked, and once submitted, the object the API server created.
type csrIssuance struct {
	source  *CSR
	request certificateRequest
	created *certificatesv1.CertificateSigningRequest
}

// Needed: a certificate needs no object beside the access.
func (c *csrIssuance) Needed() []runtime.Object { return nil }

// Objects is the CertificateSigningRequest.
func (c *csrIssuance) Objects(x *Execution) ([]runtime.Object, error) {
	return []runtime.Object{c.build(x)}, nil
}

func (c *csrIssuance) build(x *Execution) *certificatesv1.CertificateSigningRequest {
	obj := csr.Build(x.Plan.Subject.User, c.request.pem, c.source.TTL)
	for k, v := range c.source.Annotations {
		if obj.Annotations == nil {
			obj.Annotations = map[string]string{}
		}
		obj.Annotations[k] = v
	}
	return obj
}

// DryRunCreate submits the request as a server-side dry run.
func (c *csrIssuance) DryRunCreate(ctx context.Context, x *Execution, obj runtime.Object) (runtime.Object, error) {
	return x.Client.CertificatesV1().CertificateSigningRequests().Create(ctx, obj.(*certificatesv1.CertificateSigningRequest),
		metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
}

// Issue submits, approves and waits. The watch for the certificate opens
// as soon as the request exists.
func (c *csrIssuance) Issue(ctx context.Context, x *Execution, _ []rbac.Change) (*Credential, error) {
	s := c.source
	x.Emit(Progress, "requesting a certificate for %s", x.Plan.Subject.User)
	var err error
	if c.created, err = csr.Create(ctx, x.Client, c.build(x)); err != nil {
		return nil, err
	}
	if s.Submitted != nil {
		s.Submitted(c.created)
	}
	issued, err := awaitAndApprove(ctx, x, c.created, s.Approve, s.Timeout, s.Instead, s.ApprovedBy)
	if err != nil {
		return nil, err
	}
	return c.request.certificate(s.Via(), c.created.Name, issued, x.Plan.Subject)
}

// Undo deletes the request this issuance submitted.
func (c *csrIssuance) Undo(x *Execution) string {
	if c.created == nil {
		return ""
	}
	return csr.Discard(x.Client, c.created)
}

// awaitAndApprove waits for req's certificate while it approves req
// (unless another approver must); a failed approval ends the wait.
func awaitAndApprove(ctx context.Context, x *Execution, req *certificatesv1.CertificateSigningRequest, approve bool, timeout time.Duration, instead, message string) ([]byte, error) {
	g, gctx := errgroup.WithContext(ctx)
	var cert []byte
	g.Go(func() error {
		var err error
		cert, err = awaitCertificate(gctx, x.Client, req, timeout, instead)
		return err
	})
	if approve {
		g.Go(func() error { return csr.Approve(gctx, x.Client, req, message) })
	} else {
		x.Emit(Progress, "waiting for an approver: kubectl certificate approve %s", req.Name)
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return cert, nil
}

// NoSigner is what an admin's command says to do where client
// certificates are not signed: first a service account's token, which
// every cluster issues (on EKS the way for bots, beside access entries
// for people); then offline, which takes the cluster's client CA key,
// which no managed cluster (EKS, GKE, AKS) hands out.
func NoSigner(offline string) string {
	return "give a service-account token instead (kubeaccess token NAME -n NAMESPACE: every cluster issues those), " +
		"or, on a cluster whose client CA key you hold (not EKS, GKE or AKS), " + offline
}
