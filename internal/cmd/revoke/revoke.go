// Package revoke implements "kubeaccess revoke USER": take away the access
// kubeaccess bound for a user, mark their records revoked, prove it with
// SubjectAccessReviews, and say what remains. The work is internal/revoke's;
// this command reads flags and prints what it did: the changes and the
// check on stdout, warnings and notes on stderr.
package revoke

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/discovery"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/impact"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/revoke"
)

// Options holds the flags of "kubeaccess revoke".
type Options struct {
	User             string
	Credential       string
	RecordsNamespace string
	DryRun           string

	revoker *revoke.Revoker
	disco   discovery.DiscoveryInterface
	genericiooptions.IOStreams
}

var _ cmdutil.Options = (*Options)(nil)

// NewCmdRevoke returns the "revoke" command.
func NewCmdRevoke(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{RecordsNamespace: records.DefaultNamespace, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "revoke USER",
		Short: "Take away the access kubeaccess bound for USER, and check it is gone",
		Long: `Remove USER from every binding kubeaccess created or joined for them, deleting
bindings left without subjects and the roles kubeaccess made for them; end
USER's tokens by deleting the Secret kubeaccess bound them to; mark USER's
records revoked; then check with SubjectAccessReviews that USER has no
access left through those rules. Other bindings that still give USER or their
groups access are listed, not touched. Kubernetes cannot revoke a client
certificate: it keeps authenticating until it expires, which is said plainly.
For a service account, USER is system:serviceaccount:NAMESPACE:NAME.
What was changed is printed on stdout; warnings and notes on stderr.`,
		Example: `  kubeaccess revoke dave

  # Only the certificate issued with grant --revocable as record c-1bfd07df79eb224a
  kubeaccess revoke --credential c-1bfd07df79eb224a

  # The same certificate, by the credential ID its holder's kubectl auth whoami shows
  kubeaccess revoke --credential X509SHA256=1bfd07df79eb224a...

  # What would be removed and deleted, sent to the API server as a dry run
  kubeaccess revoke dave --dry-run=server`,
		Args: cmdutil.Args(cobra.MaximumNArgs(1)),
		RunE: cmdutil.RunE(f, o),
	}
	cmd.Flags().StringVar(&o.Credential, "credential", "", "Revoke only this credential, issued with --revocable: its record ID, credential group, fingerprint, "+
		"credential ID as kubectl auth whoami shows it (X509SHA256=...), or serial; a unique prefix will do")
	cmd.Flags().StringVar(&o.RecordsNamespace, "records-namespace", o.RecordsNamespace, "Namespace of the records")
	issuing.AddDryRunFlag(cmd, &o.DryRun)
	return cmd
}

// Complete reads the arguments and builds the revoker.
func (o *Options) Complete(f cmdutil.Factory, args []string) error {
	if len(args) == 1 {
		o.User = args[0]
	}
	dryRun, err := issue.ParseDryRun(o.DryRun)
	if err != nil {
		return failure.UsageErrorf("%w", err)
	}
	client, err := f.Client()
	if err != nil {
		return err
	}
	o.revoker = &revoke.Revoker{Client: client, RecordsNamespace: o.RecordsNamespace, DryRun: dryRun}
	if dryRun != issue.DryRunNone {
		o.disco, err = f.Discovery()
	}
	return err
}

// Validate checks that one target is named.
func (o *Options) Validate() error {
	switch {
	case o.User != "" && o.Credential != "":
		return failure.UsageErrorf("name a USER or give --credential ID, not both")
	case o.User == "" && o.Credential == "":
		return failure.UsageErrorf("name the USER to revoke, or --credential ID for one revocable certificate")
	}
	return nil
}

// Run revokes, and reports what was done and what remains.
func (o *Options) Run(ctx context.Context) error {
	res, err := o.revoker.Revoke(ctx, revoke.Target{User: o.User, Credential: o.Credential})
	if res == nil {
		return err
	}
	for _, t := range res.Tampered {
		fmt.Fprintf(o.ErrOut, "tampered: %v; not acted on\n", t)
	}
	if err != nil {
		return err
	}
	for _, s := range res.Steps {
		if s.Changed() {
			fmt.Fprintln(o.Out, s)
		} else {
			fmt.Fprintln(o.ErrOut, s)
		}
	}
	dryRun := o.revoker.DryRun
	if dryRun != issue.DryRunNone {
		for _, id := range res.Marked {
			fmt.Fprintf(o.Out, "marked record %s revoked%s\n", id, dryRun.Suffix())
		}
		if err := o.printImpact(ctx, res); err != nil {
			return err
		}
		return tamperedError(res)
	}
	if len(res.Records) == 0 {
		return fmt.Errorf("nothing was revoked: every record of %s was tampered with (listed above); find out who wrote them", res.User)
	}
	if res.Denied > 0 && len(res.Still) == 0 {
		fmt.Fprintf(o.Out, "checked: the API server now denies %s all %d permissions those bindings gave\n", res.User, res.Denied)
	}
	for _, r := range res.Remaining {
		fmt.Fprintln(o.ErrOut, r)
	}
	o.reportValidity(res)
	if err := tamperedError(res); err != nil {
		return err
	}
	if len(res.Still) > 0 {
		if end, ok := renewingEnd(res); ok {
			return fmt.Errorf("%s may still %s, through a binding of one of their groups (listed above), until %s: then the certificate, no longer renewed, "+
				"expires; remove that binding, or the user from it, to take this away sooner", res.User, res.Still[0], end.Format(time.RFC3339))
		}
		return fmt.Errorf("%s may still %s, through a binding of one of their groups (listed above): a certificate keeps its groups, "+
			"so remove that binding, or the user from it, to take this away", res.User, res.Still[0])
	}
	return nil
}

// renewingEnd is when the last of the revoked credentials ends, when
// every one of them renews itself (grant --renewing): none is renewed
// again, so all that identity may do ends then, wherever it was granted.
func renewingEnd(res *revoke.Result) (time.Time, bool) {
	var end time.Time
	for _, r := range res.Records {
		if !issue.IsRenewing(r) && time.Now().Before(r.NotAfter) {
			return time.Time{}, false
		}
		if r.NotAfter.After(end) {
			end = r.NotAfter
		}
	}
	return end, !end.IsZero()
}

// tamperedError says that records were tampered with and left alone.
func tamperedError(res *revoke.Result) error {
	if len(res.Tampered) == 0 {
		return nil
	}
	return fmt.Errorf("%d record(s) of %s were tampered with and not acted on (listed above): find out who wrote them, and check the bindings they name by hand",
		len(res.Tampered), res.User)
}

// reportValidity says how long the credentials keep authenticating.
func (o *Options) reportValidity(res *revoke.Result) {
	for _, r := range res.Records {
		switch {
		case time.Now().After(r.NotAfter):
		case slices.Contains(res.Ended, r.ID):
			fmt.Fprintf(o.ErrOut, "note: token %s no longer authenticates: the Secret %s it was bound to was deleted\n", r.ID, r.BoundSecret)
		case r.Kind == "token":
			fmt.Fprintf(o.ErrOut, "note: token %s still authenticates as %s until %s (delete its ServiceAccount or bound Secret to end it now)\n",
				r.ID, r.User, r.NotAfter.Format(time.RFC3339))
		case issue.IsRenewing(r):
			fmt.Fprintf(o.ErrOut, "note: certificate %s (serial %s) of %s renews itself, and is not renewed again: at %s it expires, and with it every permission of %s's credential, "+
				"wherever it was granted (kubeaccess controller denies its renewal)\n", r.ID, r.Serial, r.User, r.NotAfter.Format(time.RFC3339), r.User)
		default:
			fmt.Fprintf(o.ErrOut, "note: certificate %s (serial %s) still authenticates as %s until %s: Kubernetes cannot revoke a client certificate, so %s keeps an identity, now without this access\n",
				r.ID, r.Serial, r.User, r.NotAfter.Format(time.RFC3339), r.User)
		}
	}
}

// printImpact says what the dry run's steps would take, and from whom:
// the user with the groups of their credentials, and every subject of a
// binding changed.
func (o *Options) printImpact(ctx context.Context, res *revoke.Result) error {
	var groups []string
	for _, r := range res.Records {
		groups = append(groups, r.Groups...)
	}
	slices.Sort(groups)
	change := impact.Change{Subjects: []impact.Subject{impact.UserSubject(res.User, slices.Compact(groups))}, Unbind: map[rbac.Ref][]string{}}
	for _, s := range res.Steps {
		switch s.Kind {
		case revoke.Removed:
			change.Unbind[s.Ref] = append(change.Unbind[s.Ref], s.Subject)
		case revoke.Deleted:
			change.Remove = append(change.Remove, s.Ref)
		}
	}
	return impact.Show(ctx, o.revoker.Client, o.disco, change, o.Out)
}
