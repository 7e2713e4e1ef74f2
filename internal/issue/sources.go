package issue

import (
	"context"
	"crypto"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/kubeaccess/kubeaccess/internal/credential"
	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/safe"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

const csrGroup = certificatesv1.GroupName

// approvePermissions are what approving a client-certificate request and
// waiting for its certificate need.
var approvePermissions = []verify.Permission{
	{Verb: "update", Group: csrGroup, Resource: "certificatesigningrequests", Subresource: "approval"},
	{Verb: "approve", Group: csrGroup, Resource: "signers", Name: certificatesv1.KubeAPIServerClientSignerName},
	{Verb: "watch", Group: csrGroup, Resource: "certificatesigningrequests"},
}

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
	// Instead says what to do when no signer signs ("sign offline with
	// --ca-cert and --ca-key instead").
	Instead string
	// ApprovedBy is the approval's message ("approved by kubeaccess grant").
	ApprovedBy string
	// Annotations are set on the CertificateSigningRequest; Submitted is
	// told its name once it exists (the portal ties it to its invite).
	Annotations map[string]string
	Submitted   func(created *certificatesv1.CertificateSigningRequest)

	request certificateRequest
	created *certificatesv1.CertificateSigningRequest
}

// Via is csr-api.
func (c *CSR) Via() string { return "csr-api" }

// Lifetime is the TTL asked of the signer.
func (c *CSR) Lifetime() time.Duration { return c.TTL }

// Permissions are submitting, watching and, when approving, approving.
func (c *CSR) Permissions(*Plan) []verify.Permission {
	perms := []verify.Permission{{Verb: "create", Group: csrGroup, Resource: "certificatesigningrequests"}}
	if c.Approve {
		return append(perms, approvePermissions...)
	}
	return append(perms, verify.Permission{Verb: "watch", Group: csrGroup, Resource: "certificatesigningrequests"})
}

// Order binds alongside when approving, else once another approved.
func (c *CSR) Order() Order {
	if c.Approve {
		return BindAlongside
	}
	return BindAfter
}

// Prepare makes or checks the certificate request.
func (c *CSR) Prepare(_ context.Context, x *Execution) ([]runtime.Object, error) {
	if err := csr.ValidateTTL("the lifetime", c.TTL); err != nil {
		return nil, failure.UsageErrorf("%w", err)
	}
	c.request.Key, c.request.KeyType, c.request.Request = c.Key, c.KeyType, c.Request
	return nil, c.request.prepare(x.Plan.Subject)
}

// Objects is the CertificateSigningRequest.
func (c *CSR) Objects(x *Execution) ([]runtime.Object, error) {
	return []runtime.Object{csr.Build(x.Plan.Subject.User, c.request.pem, c.TTL)}, nil
}

// DryRunCreate submits the request as a server-side dry run.
func (c *CSR) DryRunCreate(ctx context.Context, x *Execution, obj runtime.Object) (runtime.Object, error) {
	return x.Client.CertificatesV1().CertificateSigningRequests().Create(ctx, obj.(*certificatesv1.CertificateSigningRequest),
		metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
}

// Issue submits, approves and waits. The watch for the certificate opens
// as soon as the request exists.
func (c *CSR) Issue(ctx context.Context, x *Execution, _ []rbac.Change) (*Credential, error) {
	user := x.Plan.Subject.User
	x.Emit(Progress, "requesting a certificate for %s", user)
	obj := csr.Build(user, c.request.pem, c.TTL)
	for k, v := range c.Annotations {
		if obj.Annotations == nil {
			obj.Annotations = map[string]string{}
		}
		obj.Annotations[k] = v
	}
	var err error
	if c.created, err = csr.Create(ctx, x.Client, obj); err != nil {
		return nil, err
	}
	if c.Submitted != nil {
		c.Submitted(c.created)
	}
	issued, err := awaitAndApprove(ctx, x, c.created, c.Approve, c.Timeout, c.Instead, c.ApprovedBy)
	if err != nil {
		return nil, err
	}
	return c.request.certificate(c.Via(), c.created.Name, issued, x.Plan.Subject)
}

// Undo deletes the request this source submitted.
func (c *CSR) Undo(x *Execution) string {
	if c.created == nil {
		return ""
	}
	return csr.Discard(x.Client, c.created)
}

// awaitAndApprove approves req unless another approver must, and waits
// for its certificate.
func awaitAndApprove(ctx context.Context, x *Execution, req *certificatesv1.CertificateSigningRequest, approve bool, timeout time.Duration, instead, message string) ([]byte, error) {
	type outcome struct {
		cert []byte
		err  error
	}
	waited := make(chan outcome, 1)
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		cert, err := awaitCertificate(waitCtx, x.Client, req, timeout, instead)
		waited <- outcome{cert, err}
	}()
	if !approve {
		x.Emit(Progress, "waiting for an approver: kubectl certificate approve %s", req.Name)
	} else if err := csr.Approve(ctx, x.Client, req, message); err != nil {
		return nil, err
	}
	o := <-waited
	return o.cert, o.err
}

// Existing approves a request someone else submitted, and waits for its
// certificate; the request stays theirs whatever happens.
type Existing struct {
	Request    *certificatesv1.CertificateSigningRequest
	Timeout    time.Duration
	Instead    string
	ApprovedBy string

	request certificateRequest
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
func (c *Existing) Permissions(*Plan) []verify.Permission { return approvePermissions }

// Order binds while the signer works.
func (c *Existing) Order() Order { return BindAlongside }

// Prepare checks that the request asks for exactly the plan's subject.
func (c *Existing) Prepare(_ context.Context, x *Execution) ([]runtime.Object, error) {
	c.request.Request = c.Request.Spec.Request
	return nil, c.request.prepare(x.Plan.Subject)
}

// Objects: approving creates no object.
func (c *Existing) Objects(*Execution) ([]runtime.Object, error) { return nil, nil }

// Issue approves and waits.
func (c *Existing) Issue(ctx context.Context, x *Execution, _ []rbac.Change) (*Credential, error) {
	issued, err := awaitAndApprove(ctx, x, c.Request, true, c.Timeout, c.Instead, c.ApprovedBy)
	if err != nil {
		return nil, err
	}
	return c.request.certificate(c.Via(), c.Request.Name, issued, x.Plan.Subject)
}

// Undo leaves the request, which is its requester's.
func (c *Existing) Undo(*Execution) string { return "" }

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

	request certificateRequest
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
func (a *Authority) Prepare(_ context.Context, x *Execution) ([]runtime.Object, error) {
	a.request.Key, a.request.KeyType, a.request.Request = a.Key, a.KeyType, a.Request
	return nil, a.request.prepare(x.Plan.Subject)
}

// Objects: signing creates no object.
func (a *Authority) Objects(*Execution) ([]runtime.Object, error) { return nil, nil }

// Issue signs.
func (a *Authority) Issue(_ context.Context, x *Execution, _ []rbac.Change) (*Credential, error) {
	x.Emit(Progress, "signing a certificate for %s with the CA %q", x.Plan.Subject.User, a.CA.Cert.Subject.CommonName)
	issued, err := a.CA.Sign(a.request.parsed, a.TTL, time.Now())
	if err != nil {
		return nil, failure.UsageErrorf("%w", err)
	}
	return a.request.certificate(a.Via(), "", issued, x.Plan.Subject)
}

// Undo: a signed certificate cannot be taken back; it was not written.
func (a *Authority) Undo(*Execution) string { return "" }

// RejectedBecause explains an API server that rejects the certificate.
func (a *Authority) RejectedBecause() string {
	return fmt.Sprintf("it does not trust the CA %q (--ca-cert) for client certificates; sign with the CA that kube-apiserver's --client-ca-file names",
		a.CA.Cert.Subject.CommonName)
}

// Token issues a service account token through the TokenRequest API,
// optionally bound to a Secret whose deletion revokes it.
type Token struct {
	Audiences []string
	Duration  time.Duration
	// BoundSecret names the Secret to bind the token to; CreateSecret
	// makes it when missing (else a missing one is an error: its tokens
	// were revoked with it).
	BoundSecret  string
	CreateSecret bool
	// CreateServiceAccount makes the ServiceAccount when it is missing.
	CreateServiceAccount bool

	secret *corev1.Secret
}

// Via is token-request.
func (t *Token) Via() string { return "token-request" }

// Lifetime is the duration asked for; the API server may shorten it.
func (t *Token) Lifetime() time.Duration { return t.Duration }

// Permissions are reading the ServiceAccount and the Secret and requesting
// the token. They are created only when missing, so creating them is not
// asked about up front.
func (t *Token) Permissions(p *Plan) []verify.Permission {
	sa := p.Subject.ServiceAccount
	perms := []verify.Permission{
		{Verb: "get", Resource: "serviceaccounts", Name: sa.Name, Namespace: sa.Namespace},
		{Verb: "create", Resource: "serviceaccounts", Subresource: "token", Name: sa.Name, Namespace: sa.Namespace},
	}
	if t.BoundSecret != "" {
		perms = append(perms, verify.Permission{Verb: "get", Resource: "secrets", Name: t.BoundSecret, Namespace: sa.Namespace})
	}
	return perms
}

// Order binds first: the token needs its ServiceAccount and Secret.
func (t *Token) Order() Order { return BindFirst }

// Prepare reads the ServiceAccount and the bound Secret, returning those
// to create, and refuses a missing ServiceAccount unless it may be made.
func (t *Token) Prepare(ctx context.Context, x *Execution) ([]runtime.Object, error) {
	if x.Plan.Subject.ServiceAccount == nil {
		return nil, fmt.Errorf("a token needs a service account")
	}
	sa, core := x.Plan.Subject.ServiceAccount, x.Client.CoreV1()
	var needed []runtime.Object
	_, err := core.ServiceAccounts(sa.Namespace).Get(ctx, sa.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && !t.CreateServiceAccount:
		return nil, failure.UsageErrorf("serviceaccount %s/%s does not exist; --create makes it", sa.Namespace, sa.Name)
	case apierrors.IsNotFound(err):
		needed = append(needed, rbac.BuildServiceAccount(sa.Name, sa.Namespace))
	case err != nil:
		return nil, fmt.Errorf("reading serviceaccount %s/%s: %w", sa.Namespace, sa.Name, err)
	}
	if t.BoundSecret == "" {
		return needed, nil
	}
	t.secret, err = core.Secrets(sa.Namespace).Get(safe.Quiet(ctx), t.BoundSecret, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && t.CreateSecret:
		t.secret = nil
		return append(needed, rbac.BuildLeaseSecret(t.BoundSecret, sa.Namespace)), nil
	case apierrors.IsNotFound(err):
		return nil, failure.UsageErrorf("the bound Secret %s/%s is gone, and its tokens were revoked with it: issue a new one with kubeaccess token", sa.Namespace, t.BoundSecret)
	case err != nil:
		return nil, fmt.Errorf("reading secret %s/%s: %w", sa.Namespace, t.BoundSecret, err)
	}
	return needed, nil
}

// Objects: the token request persists nothing.
func (t *Token) Objects(*Execution) ([]runtime.Object, error) { return nil, nil }

// Issue requests the token, bound to the Secret read or just created.
func (t *Token) Issue(ctx context.Context, x *Execution, applied []rbac.Change) (*Credential, error) {
	sa := x.Plan.Subject.ServiceAccount
	for _, c := range applied {
		if s, ok := c.Object.(*corev1.Secret); ok {
			t.secret = s
		}
	}
	x.Emit(Progress, "requesting a token for %s", x.Plan.Subject.User)
	spec := authenticationv1.TokenRequestSpec{Audiences: t.Audiences, ExpirationSeconds: ptr.To(int64(t.Duration.Seconds()))}
	if t.secret != nil {
		spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: t.secret.Name, UID: t.secret.UID}
	}
	token, err := credential.RequestToken(ctx, x.Client, sa.Namespace, sa.Name, spec)
	if err != nil {
		return nil, err
	}
	claims, err := credential.ParseToken(token)
	if err != nil {
		return nil, fmt.Errorf("reading the issued token: %w", err)
	}
	c := &Credential{Via: t.Via(), Token: token, Claims: claims, Audiences: claims.Audience}
	if t.secret != nil {
		c.BoundSecret = t.secret.Name
	}
	return c, nil
}

// Undo: a token cannot be taken back; it was not written, and deleting
// what it was bound to (undone with the rest) revokes it.
func (t *Token) Undo(*Execution) string { return "" }

// RejectedBecause explains an API server that rejects the token: its
// audiences.
func (t *Token) RejectedBecause() string {
	if len(t.Audiences) == 0 {
		return "it does not accept the token"
	}
	return fmt.Sprintf("it is for %s, not an audience the API server accepts; leave --audience unset for a kubeconfig", t.Audiences)
}

// ServiceAccountSubject is the subject of a service account's token: its
// username and groups, as the API server sees them.
func ServiceAccountSubject(namespace, name string) Subject {
	return Subject{
		User:           "system:serviceaccount:" + namespace + ":" + name,
		Groups:         []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace},
		ServiceAccount: &ServiceAccount{Namespace: namespace, Name: name},
	}
}
