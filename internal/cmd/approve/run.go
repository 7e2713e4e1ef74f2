package approve

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/invite"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/pki"
)

// Run approves the request, binds the access and writes the kubeconfig,
// through the engine: a request from a file is submitted first, one named
// is approved as it is.
func (o *Options) Run(ctx context.Context) error {
	if o.Name == "" && o.CSRFile == "" {
		return o.listPending(ctx)
	}
	if err := o.load(ctx); err != nil {
		return err
	}
	if o.Revocable {
		if o.credentialGroup = issue.CredentialGroupOf(o.groups); o.credentialGroup == "" {
			return failure.UsageErrorf("--revocable needs a request made with kubeaccess request --revocable, which carries the certificate's own group")
		}
	}
	if err := o.policy().Check(o.user, o.groups); err != nil {
		return failure.UsageErrorf("refusing to approve: %w", err)
	}
	if id := o.invitation(); id != "" {
		return o.approveInvitation(ctx, id)
	}
	if o.BindGroup != "" && !slices.Contains(o.groups, o.BindGroup) {
		return failure.UsageErrorf("--bind-group %q must be one of the request's groups %v", o.BindGroup, o.groups)
	}
	o.describeRequest()
	res, err := o.cmd.Execute(ctx, o.Out, o.plan())
	if err != nil || res == nil {
		return err
	}
	return o.printSummary(o.summary(res))
}

// invitation is the invitation a request names, "" for none.
func (o *Options) invitation() string {
	if o.req == nil {
		return ""
	}
	return o.req.Annotations[invite.Label]
}

// plan is the approval as the engine takes it.
func (o *Options) plan() *issue.Plan {
	subject := issue.Subject{User: o.user, Groups: o.groups, CredentialGroup: o.credentialGroup}
	const instead = "sign the request offline with kubeaccess sign --ca-cert --ca-key instead"
	message := fmt.Sprintf("approved with kubeaccess approve for %s", o.user)
	var source issue.Source = &issue.Existing{Request: o.req, Timeout: o.Timeout, Instead: instead, ApprovedBy: message}
	if o.req == nil {
		source = &issue.CSR{Request: pemOf(o.parsed), TTL: o.TTL, Approve: true, Timeout: o.Timeout, Instead: instead, ApprovedBy: message}
	}
	p := o.cmd.Plan("approval", subject, source, o.user+".kubeconfig")
	p.Refusing = "refusing to approve"
	p.Access.BindGroup = o.BindGroup
	p.Policy.RefuseExistingAccess = !o.AllowExistingAccess
	o.Renewing.Apply(&p.Destination, false)
	return p
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
	requests, err := csr.Pending(ctx, o.cmd.Engine.Client())
	if err != nil {
		return err
	}
	pending := []Pending{}
	for _, req := range requests {
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
	if o.Output.Structured() {
		return o.Output.PrintSummary(o.Out, "PendingRequests", "pending", map[string]any{"items": pending})
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
