package approve

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/privilege"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// Run approves the request, binds the access and writes the kubeconfig.
func (o *Options) Run(ctx context.Context) error {
	if err := o.load(ctx); err != nil {
		return err
	}
	if o.Revocable {
		if o.credentialGroup = issuing.CredentialGroupOf(o.groups); o.credentialGroup == "" {
			return cmdutil.UsageErrorf("--revocable needs a request made with kubeaccess request --revocable, which carries the certificate's own group")
		}
		if err := o.is.CheckFreshCredentialGroup(ctx, o.credentialGroup); err != nil {
			return fmt.Errorf("refusing to approve: %w", err)
		}
	}
	if err := o.policy().Check(o.user, o.groups); err != nil {
		return cmdutil.UsageErrorf("refusing to approve: %w", err)
	}
	if o.BindGroup != "" && !slices.Contains(o.groups, o.BindGroup) {
		return cmdutil.UsageErrorf("--bind-group %q must be one of the request's groups %v", o.BindGroup, o.groups)
	}
	o.describeRequest()
	entry := o.is.Entry(o.user)
	if err := o.is.CheckDestination(entry, o.user+".kubeconfig"); err != nil {
		return err
	}
	subject, base := issuing.BindingSubject(o.user, o.credentialGroup, o.BindGroup)
	acc, createNamespace, err := o.is.Preflight(ctx, issuing.Checks{
		Command: "approval", Refusing: "refusing to approve", Required: o.requiredPermissions(), Subject: subject, Base: base,
		Identity: privilege.ForUser(o.user, o.groups), RefuseExistingAccess: !o.AllowExistingAccess,
	})
	if err != nil {
		return err
	}
	if o.req == nil {
		if o.req, err = csr.Create(ctx, o.is.Client, csr.Build(o.user, pemOf(o.parsed), o.TTL)); err != nil {
			return err
		}
		fmt.Fprintf(o.ErrOut, "submitted %s as CertificateSigningRequest %s\n", o.CSRFile, o.req.Name)
	}
	return o.approveAndBind(ctx, entry, createNamespace, acc)
}

// approveAndBind approves, applies the access while the signer works, and
// writes the key-less kubeconfig; a failure undoes what this run created.
func (o *Options) approveAndBind(ctx context.Context, entry kubeconfig.Entry, createNamespace bool, acc *issuing.Access) error {
	certificate := issuing.Async(func() ([]byte, error) {
		return issuing.AwaitCertificate(ctx, o.is.Client, o.req, o.Timeout, "sign the request offline with kubeaccess sign --ca-cert --ca-key instead")
	})
	if err := csr.Approve(ctx, o.is.Client, o.req, fmt.Sprintf("approved with kubeaccess approve for %s", o.user)); err != nil {
		return o.cleanUp(err, nil)
	}
	changes, err := o.is.Apply(ctx, createNamespace, acc, nil)
	issued, waitErr := certificate()
	if err = errors.Join(err, waitErr); err != nil {
		return o.cleanUp(err, changes)
	}
	cert, err := pki.ParseCertificate(issued)
	if err == nil {
		err = pki.CheckIssued(cert, o.parsed.PublicKey, o.user, o.groups)
	}
	if err != nil {
		return o.cleanUp(err, changes)
	}
	entry.Certificate = issued
	path, err := o.is.WriteKubeconfig(entry, o.user+".kubeconfig")
	if err != nil {
		return o.cleanUp(err, changes)
	}
	s := o.summary(cert, changes, path, entry.ContextName)
	recorded := issuing.Async(func() (string, error) {
		r := issuing.CertificateRecord("csr-api", o.req.Name, issued, s.Certificate, changes, o.is.Namespace, requestedTTL(o.req))
		r.CredentialGroup = o.credentialGroup
		return o.is.Record(ctx, r)
	})
	s.Verified, err = o.is.VerifyFor(ctx, o.user, o.groups, acc)
	var recordErr error
	if s.Record, recordErr = recorded(); recordErr != nil {
		return fmt.Errorf("%s was written but the credential was not recorded: %w", path, recordErr)
	}
	if err != nil {
		return fmt.Errorf("%s was written but the access does not work as granted: %w", path, err)
	}
	return o.printSummary(s)
}

// cleanUp undoes this run after a failure: the access it created, and the
// request when this run submitted it (a user's own request stays theirs).
func (o *Options) cleanUp(cause error, changes []rbac.Change) error {
	if o.CSRFile == "" || o.req == nil {
		return o.is.Failed(cause, changes)
	}
	return o.is.Failed(cause, changes, csr.Discard(o.is.Client, o.req.Name))
}

// requiredPermissions lists what approving needs besides the access.
func (o *Options) requiredPermissions() []verify.Permission {
	const g = certificatesv1.GroupName
	perms := []verify.Permission{
		{Verb: "update", Group: g, Resource: "certificatesigningrequests", Subresource: "approval"},
		{Verb: "approve", Group: g, Resource: "signers", Name: certificatesv1.KubeAPIServerClientSignerName},
		{Verb: "watch", Group: g, Resource: "certificatesigningrequests"},
	}
	if o.CSRFile != "" {
		perms = append(perms, verify.Permission{Verb: "create", Group: g, Resource: "certificatesigningrequests"})
	}
	if o.HasAccess() {
		perms = append(perms, verify.Permission{Verb: "create", Group: "authorization.k8s.io", Resource: "subjectaccessreviews"})
	}
	return perms
}

// policy is the subject policy of this approval.
func (o *Options) policy() pki.SubjectPolicy {
	return pki.SubjectPolicy{AllowPrivileged: o.AllowPrivileged, CredentialGroup: o.credentialGroup}
}

// Pending is a request waiting for approval, as listed.
type Pending struct {
	Name      string    `json:"name"`
	Requester string    `json:"requester"`
	User      string    `json:"user"`
	Groups    []string  `json:"groups"`
	KeyType   string    `json:"keyType"`
	Lifetime  string    `json:"lifetime"`
	Created   time.Time `json:"created"`
	Problem   string    `json:"problem,omitempty"`
}

// listPending lists the client-certificate requests waiting for a decision.
func (o *Options) listPending(ctx context.Context) error {
	list, err := o.is.Client.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{
		FieldSelector: "spec.signerName=" + certificatesv1.KubeAPIServerClientSignerName,
	})
	if err != nil {
		return fmt.Errorf("listing CertificateSigningRequests: %w", err)
	}
	pending := []Pending{}
	for i := range list.Items {
		req := &list.Items[i]
		if csr.State(req) != "" {
			continue
		}
		p := Pending{Name: req.Name, Requester: req.Spec.Username, Lifetime: "signer default", Created: req.CreationTimestamp.UTC()}
		if req.Spec.ExpirationSeconds != nil {
			p.Lifetime = (time.Duration(*req.Spec.ExpirationSeconds) * time.Second).String()
		}
		if parsed, err := pki.ParseRequest(req.Spec.Request); err != nil {
			p.Problem = err.Error()
		} else {
			p.User, p.Groups, p.KeyType = parsed.Subject.CommonName, parsed.Subject.Organization, pki.DescribePublicKey(parsed.PublicKey)
		}
		pending = append(pending, p)
	}
	if o.Output != "" {
		return cmdutil.PrintStructured(o.Out, o.Output, pending)
	}
	if len(pending) == 0 {
		fmt.Fprintln(o.ErrOut, "No client-certificate requests are waiting for approval.")
		return nil
	}
	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tREQUESTER\tUSER\tGROUPS\tKEY\tLIFETIME\tAGE")
	// What requesters wrote is quoted, so that no escape sequence in it
	// reaches the terminal.
	for _, p := range pending {
		user := strconv.Quote(p.User)
		if p.Problem != "" {
			user = "(unreadable: " + strconv.Quote(p.Problem) + ")"
		}
		groups := make([]string, len(p.Groups))
		for i, g := range p.Groups {
			groups[i] = strconv.Quote(g)
		}
		fmt.Fprintf(w, "%s\t%q\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Requester, user, strings.Join(groups, ","), p.KeyType, p.Lifetime, duration.HumanDuration(time.Since(p.Created)))
	}
	return w.Flush()
}
