package issue

import (
	"context"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/kubeaccess/kubeaccess/internal/credential"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/safe"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

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

// Prepare reads the ServiceAccount and the bound Secret, noting those to
// create, and refuses a missing ServiceAccount unless it may be made.
func (t *Token) Prepare(ctx context.Context, x *Execution) (Issuance, error) {
	if x.Plan.Subject.ServiceAccount == nil {
		return nil, fmt.Errorf("a token needs a service account")
	}
	sa, core := x.Plan.Subject.ServiceAccount, x.Client.CoreV1()
	in := &tokenRequest{source: t}
	_, err := core.ServiceAccounts(sa.Namespace).Get(ctx, sa.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && !t.CreateServiceAccount:
		return nil, failure.UsageErrorf("serviceaccount %s/%s does not exist; --create makes it", sa.Namespace, sa.Name)
	case apierrors.IsNotFound(err):
		in.needed = append(in.needed, rbac.BuildServiceAccount(sa.Name, sa.Namespace))
	case err != nil:
		return nil, fmt.Errorf("reading serviceaccount %s/%s: %w", sa.Namespace, sa.Name, err)
	}
	if t.BoundSecret == "" {
		return in, nil
	}
	in.secret, err = core.Secrets(sa.Namespace).Get(safe.Quiet(ctx), t.BoundSecret, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && t.CreateSecret:
		in.secret = nil
		in.needed = append(in.needed, rbac.BuildLeaseSecret(t.BoundSecret, sa.Namespace))
	case apierrors.IsNotFound(err):
		return nil, failure.UsageErrorf("the bound Secret %s/%s is gone, and its tokens were revoked with it: issue a new one with kubeaccess token", sa.Namespace, t.BoundSecret)
	case err != nil:
		return nil, fmt.Errorf("reading secret %s/%s: %w", sa.Namespace, t.BoundSecret, err)
	}
	return in, nil
}

// RejectedBecause explains an API server that rejects the token: its
// audiences.
func (t *Token) RejectedBecause() string {
	if len(t.Audiences) == 0 {
		return "it does not accept the token"
	}
	return fmt.Sprintf("it is for %s, not an audience the API server accepts; leave --audience unset for a kubeconfig", t.Audiences)
}

// tokenRequest is a token to request: the objects it needs made, and the
// Secret to bind it to as read (or, once made, as created).
type tokenRequest struct {
	source *Token
	needed []runtime.Object
	secret *corev1.Secret
}

// Needed are the ServiceAccount and bound Secret to create.
func (t *tokenRequest) Needed() []runtime.Object { return t.needed }

// Objects: the token request persists nothing.
func (t *tokenRequest) Objects(*Execution) ([]runtime.Object, error) { return nil, nil }

// Issue requests the token, bound to the Secret read or just created.
func (t *tokenRequest) Issue(ctx context.Context, x *Execution, applied []rbac.Change) (*Credential, error) {
	sa, s := x.Plan.Subject.ServiceAccount, t.source
	secret := t.secret
	for _, c := range applied {
		if made, ok := c.Object.(*corev1.Secret); ok {
			secret = made
		}
	}
	x.Emit(Progress, "requesting a token for %s", x.Plan.Subject.User)
	spec := authenticationv1.TokenRequestSpec{Audiences: s.Audiences, ExpirationSeconds: ptr.To(int64(s.Duration.Seconds()))}
	if secret != nil {
		spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: secret.Name, UID: secret.UID}
	}
	token, err := credential.RequestToken(ctx, x.Client, sa.Namespace, sa.Name, spec)
	if err != nil {
		return nil, err
	}
	claims, err := credential.ParseToken(token)
	if err != nil {
		return nil, fmt.Errorf("reading the issued token: %w", err)
	}
	c := &Credential{Via: s.Via(), Token: token, Claims: claims, Audiences: claims.Audience}
	if secret != nil {
		c.BoundSecret = secret.Name
	}
	return c, nil
}

// Undo: a token cannot be taken back; it was not written, and deleting
// what it was bound to (undone with the rest) revokes it.
func (t *tokenRequest) Undo(*Execution) string { return "" }

// ServiceAccountSubject is the subject of a service account's token: its
// username and groups, as the API server sees them.
func ServiceAccountSubject(namespace, name string) Subject {
	return Subject{
		User:           "system:serviceaccount:" + namespace + ":" + name,
		Groups:         []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace},
		ServiceAccount: &ServiceAccount{Namespace: namespace, Name: name},
	}
}
