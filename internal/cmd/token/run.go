package token

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/credential"
	"github.com/kubeaccess/kubeaccess/internal/privilege"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/safe"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// Run checks, binds the access, requests the token, writes and verifies
// the kubeconfig. A failure after the first change undoes what was created.
func (o *Options) Run(ctx context.Context) error {
	entry := o.is.Entry(o.username())
	if err := o.is.CheckDestination(entry, o.kubeconfigName()); err != nil {
		return err
	}
	ns, name := o.is.Namespace, o.ServiceAccount
	var secret *corev1.Secret
	acc, createNamespace, err := o.is.Preflight(ctx, issuing.Checks{
		Command:  "token",
		Required: o.requiredPermissions(),
		Subject:  rbac.ServiceAccountSubject(ns, name),
		Base:     rbac.ServiceAccountObjectName(ns, name),
		Identity: privilege.ForServiceAccount(ns, name),
		Policy:   func(ctx context.Context) (err error) { secret, err = o.checkObjects(ctx); return err },
		// The ServiceAccount lives in the namespace.
		InNamespace: true,
	})
	if err != nil {
		return err
	}
	o.progress("applying what the token needs")
	changes, err := o.is.Apply(ctx, createNamespace, acc, o.needed)
	if err != nil {
		return o.cleanUp(err, changes)
	}
	for _, c := range changes {
		if s, ok := c.Object.(*corev1.Secret); ok {
			secret = s
		}
	}
	o.progress("requesting a token for %s", o.username())
	token, err := o.request(ctx, secret)
	if err != nil {
		return o.cleanUp(err, changes)
	}
	claims, err := credential.ParseToken(token)
	if err != nil {
		return o.cleanUp(fmt.Errorf("reading the issued token: %w", err), changes)
	}
	entry.Token = token
	path, err := o.is.WriteKubeconfig(entry, o.kubeconfigName())
	if err != nil {
		return o.cleanUp(err, changes)
	}
	s := o.summary(claims, secret, changes, path, entry.ContextName)
	o.progress("wrote %s; verifying it against the API server", path)
	recorded := issuing.Async(func() (string, error) { return o.is.Record(ctx, o.record(token, claims, s, changes)) })
	s.Verified, err = issuing.Verify(ctx, entry, o.username(), o.groups(), acc)
	var recordErr error
	if s.Record, recordErr = recorded(); recordErr != nil {
		return fmt.Errorf("%s was written but the credential was not recorded: %w", path, recordErr)
	}
	if err != nil && apierrors.IsUnauthorized(err) && len(o.Audiences) > 0 {
		return fmt.Errorf("%s was written but the API server rejects its token: it is for %s, not an audience the API server accepts; "+
			"leave --audience unset for a kubeconfig", path, strings.Join(o.Audiences, ", "))
	}
	if err != nil {
		return fmt.Errorf("%s was written but does not work as granted: %w", path, err)
	}
	return o.printSummary(s)
}

// checkObjects reads the ServiceAccount and the bound Secret, noting what
// must be created, and refuses a missing ServiceAccount without --create.
// It returns the bound Secret when it exists.
func (o *Options) checkObjects(ctx context.Context) (*corev1.Secret, error) {
	ns, core := o.is.Namespace, o.is.Client.CoreV1()
	_, err := core.ServiceAccounts(ns).Get(ctx, o.ServiceAccount, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && !o.Create:
		return nil, cmdutil.UsageErrorf("serviceaccount %s/%s does not exist; --create makes it", ns, o.ServiceAccount)
	case apierrors.IsNotFound(err):
		o.needed = append(o.needed, rbac.BuildServiceAccount(o.ServiceAccount, ns))
	case err != nil:
		return nil, fmt.Errorf("reading serviceaccount %s/%s: %w", ns, o.ServiceAccount, err)
	}
	if o.BoundSecret == "" {
		return nil, nil
	}
	secret, err := core.Secrets(ns).Get(safe.Quiet(ctx), o.BoundSecret, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		o.needed = append(o.needed, rbac.BuildLeaseSecret(o.BoundSecret, ns))
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading secret %s/%s: %w", ns, o.BoundSecret, err)
	}
	return secret, nil
}

// requiredPermissions lists what the token needs besides the access. The
// ServiceAccount and the Secret are created only when missing, so creating
// them is not asked about up front.
func (o *Options) requiredPermissions() []verify.Permission {
	ns := o.is.Namespace
	perms := []verify.Permission{
		{Verb: "get", Resource: "serviceaccounts", Name: o.ServiceAccount, Namespace: ns},
		{Verb: "create", Resource: "serviceaccounts", Subresource: "token", Name: o.ServiceAccount, Namespace: ns},
	}
	if o.BoundSecret != "" {
		perms = append(perms, verify.Permission{Verb: "get", Resource: "secrets", Name: o.BoundSecret, Namespace: ns})
	}
	return perms
}

// request asks the TokenRequest API for a token, bound to secret if given.
func (o *Options) request(ctx context.Context, secret *corev1.Secret) (string, error) {
	spec := authenticationv1.TokenRequestSpec{Audiences: o.Audiences, ExpirationSeconds: ptr.To(int64(o.Duration.Seconds()))}
	if secret != nil {
		spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: secret.Name, UID: secret.UID}
	}
	return credential.RequestToken(ctx, o.is.Client, o.is.Namespace, o.ServiceAccount, spec)
}

func (o *Options) cleanUp(cause error, changes []rbac.Change) error {
	return o.is.Failed(cause, changes)
}

func (o *Options) progress(format string, args ...any) {
	if o.Output == "" {
		fmt.Fprintf(o.ErrOut, format+"\n", args...)
	}
}

// Summary is what "kubeaccess token" issued.
type Summary struct {
	ServiceAccount    string               `json:"serviceAccount"`
	Namespace         string               `json:"namespace"`
	Username          string               `json:"username"`
	Kind              string               `json:"kind"`
	IssuedVia         string               `json:"issuedVia"`
	IssuedBy          string               `json:"issuedBy,omitempty"`
	Audiences         []string             `json:"audiences"`
	BoundSecret       string               `json:"boundSecret,omitempty"`
	ExpiresAt         time.Time            `json:"expiresAt"`
	RequestedDuration string               `json:"requestedDuration"`
	ExpiresIn         string               `json:"expiresIn"`
	Shortened         bool                 `json:"shortenedByServer"`
	Applied           []string             `json:"applied"`
	Kubeconfig        string               `json:"kubeconfig"`
	Context           string               `json:"context"`
	Verified          issuing.Verification `json:"verified"`
	Record            string               `json:"record,omitempty"`
}

// summary reports the token's expiry from its exp claim, not the request.
func (o *Options) summary(claims credential.TokenClaims, secret *corev1.Secret, changes []rbac.Change, path, context string) Summary {
	expiresIn := time.Until(claims.ExpiresAt).Round(time.Minute)
	shortened := expiresIn < o.Duration-time.Minute
	if shortened {
		fmt.Fprintf(o.ErrOut, "warning: the API server shortened the token's lifetime: it expires in %s (asked for %s)\n", expiresIn, o.Duration)
	}
	s := Summary{
		ServiceAccount: o.ServiceAccount, Namespace: o.is.Namespace, Username: o.username(),
		Kind: "token", IssuedVia: "token-request", Audiences: claims.Audience,
		ExpiresAt: claims.ExpiresAt, RequestedDuration: o.Duration.String(), ExpiresIn: expiresIn.String(), Shortened: shortened,
		Kubeconfig: path, Context: context,
	}
	if o.is.Identity != nil {
		s.IssuedBy = o.is.Identity.Username
	}
	if secret != nil {
		s.BoundSecret = secret.Name
	}
	for _, c := range changes {
		s.Applied = append(s.Applied, c.String())
	}
	return s
}

// record is what the inventory keeps of the token: never the token itself.
func (o *Options) record(token string, claims credential.TokenClaims, s Summary, changes []rbac.Change) records.Record {
	return records.Record{
		ID: records.TokenID(token), JTI: claims.ID, User: s.Username, Groups: o.groups(), Kind: "token", IssuedVia: "token-request",
		Issuer: claims.Issuer, NotBefore: time.Now().UTC().Truncate(time.Second), NotAfter: claims.ExpiresAt,
		Access: records.Describe(changes), Namespace: s.Namespace, TTL: o.Duration.String(), ServiceAccount: s.Namespace + "/" + s.ServiceAccount, BoundSecret: s.BoundSecret,
	}
}

func (o *Options) printSummary(s Summary) error {
	if o.Output != "" {
		return cmdutil.PrintStructured(o.Out, o.Output, s)
	}
	fmt.Fprintf(o.Out, "Issued a token for %s\n", s.Username)
	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "  audiences\t%s\n", strings.Join(s.Audiences, ", "))
	fmt.Fprintf(w, "  expires\t%s (in %s)\n", s.ExpiresAt.Format(time.RFC3339), s.ExpiresIn)
	if s.BoundSecret != "" {
		fmt.Fprintf(w, "  bound to\tSecret %s/%s: deleting it revokes the token\n", s.Namespace, s.BoundSecret)
	}
	if len(s.Applied) > 0 {
		fmt.Fprintf(w, "  applied\t%s\n", strings.Join(s.Applied, ", "))
	} else {
		fmt.Fprintf(w, "  applied\tnothing\n")
	}
	fmt.Fprintf(w, "  kubeconfig\t%s (context %s, namespace %s)\n", s.Kubeconfig, s.Context, s.Namespace)
	fmt.Fprintf(w, "  verified\tthe API server sees %s; %d granted permissions allowed\n", s.Verified.Username, s.Verified.Checked)
	return w.Flush()
}
