package grant

import (
	"context"
	"fmt"
	"time"

	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/pki"
)

// Run turns the flags into a plan and has the engine carry it out: checks
// that can refuse come first, and a failure once anything exists undoes
// it and says what was left.
func (o *Options) Run(ctx context.Context) error {
	plan, err := o.plan()
	if err != nil {
		return err
	}
	res, err := o.cmd.Execute(ctx, o.Out, plan)
	if err != nil || res == nil {
		return err
	}
	return o.printSummary(o.summary(res))
}

// plan is the grant as the engine takes it: a key made while the checks
// run, signed through the CSR API or by the CA of --ca-cert, and with
// --revocable a group minted for this certificate alone.
func (o *Options) plan() (*issue.Plan, error) {
	subject := issue.Subject{User: o.User, Groups: o.Groups}
	if o.Revocable {
		group, err := pki.NewCredentialGroup()
		if err != nil {
			return nil, err
		}
		subject.CredentialGroup, subject.Groups = group, append(subject.Groups, group)
	}
	var source issue.Source = &issue.CSR{
		KeyType: o.keyType, TTL: o.TTL, Approve: o.Approve, Timeout: o.Timeout,
		Instead:    issue.NoSigner("sign offline with --ca-cert and --ca-key"),
		ApprovedBy: fmt.Sprintf("approved by kubeaccess grant for %s", o.User),
	}
	if o.CACert != "" {
		authority, err := pki.LoadAuthority(o.CACert, o.CAKey)
		if err != nil {
			return nil, failure.UsageErrorf("%w", err)
		}
		source = &issue.Authority{CA: authority, KeyType: o.keyType, TTL: o.TTL}
	}
	p := o.cmd.Plan("grant", subject, source, o.User+".kubeconfig")
	p.Access.BindGroup = o.BindGroup
	p.Offline = o.Offline
	o.Renewing.Apply(&p.Destination, true)
	if o.For > 0 {
		p.AccessUntil = time.Now().Add(o.For)
	}
	return p, nil
}
