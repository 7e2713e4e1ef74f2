// Package invite implements "kubeaccess invite": a one-time link with which
// a newcomer gets a kubeconfig whose key their browser made (kubeaccess
// serve redeems it), and "invite list" and "invite revoke".
package invite

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/invite"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/pki"
)

// Options holds the flags of "kubeaccess invite".
type Options struct {
	User                string
	Groups              []string
	TTL                 time.Duration
	Expires             string
	Approval            string
	PublicURL           string
	AllowExistingAccess bool
	For                 time.Duration
	issuing.Flags
	issuing.Renewing
	Output *cmdutil.Output

	expires time.Duration
	factory cmdutil.Factory
	genericiooptions.IOStreams
}

var _ cmdutil.Options = (*Options)(nil)

// NewCmdInvite returns the "invite" command and its list and revoke.
func NewCmdInvite(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{TTL: 24 * time.Hour, Expires: "72h", Approval: invite.ApprovalAuto, PublicURL: invite.DefaultPublicURL,
		Flags: issuing.NewFlags(), Output: cmdutil.NewOutput(), IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "invite USER [flags]",
		Short: "Make a one-time link with which USER gets a kubeconfig whose key their browser makes",
		Long: `Record an invitation in the cluster that fixes USER, their groups and their
access, and print a one-time link to "kubeaccess serve". Opening it, the
newcomer clicks once: their browser makes an ECDSA P-256 key that never leaves
it, sends only a certificate request for exactly the invited subject, and
assembles the kubeconfig when the certificate comes back. Only a hash of the
link's token is stored. The policy and privilege checks grant makes run now,
and again when the link is used.`,
		Example: `  kubeaccess invite dave -g dev -n development --verb create,get,list --resource pods,deployments \
    --public-url https://access.example.com

  # An admin approves the request when it comes (kubeaccess approve NAME)
  kubeaccess invite erin -g qa -n staging --clusterrole view --approval manual

  kubeaccess invite list
  kubeaccess invite revoke i-3f9a0c1d2e4b5a69`,
		Args: cmdutil.Args(cobra.ExactArgs(1)),
		RunE: cmdutil.RunE(f, o),
	}
	fs := cmd.Flags()
	fs.StringArrayVarP(&o.Groups, "group", "g", nil, "Group of the user (the certificate's O); repeatable")
	fs.DurationVar(&o.TTL, "ttl", o.TTL, "Lifetime of the certificate issued (at least 10m)")
	fs.StringVar(&o.Expires, "expires", o.Expires, "How long the link may be used (e.g. 72h, 7d)")
	fs.StringVar(&o.Approval, "approval", o.Approval, `"auto": the portal approves the request; "manual": an admin approves it with kubeaccess approve`)
	fs.StringVar(&o.PublicURL, "public-url", o.PublicURL, "The URL kubeaccess serve is reached at, for the link")
	fs.DurationVar(&o.For, "for", 0, "Access that ends by itself this long after the link is used (e.g. 4h): bound to the certificate's own group, "+
		"taken away by kubeaccess controller, and the certificate lives no longer (at least 10m)")
	fs.BoolVar(&o.AllowExistingAccess, "allow-existing-access", false, "Invite even a user whom bindings kubeaccess did not make already name")
	o.Flags.AddAccessFlags(fs)
	o.Renewing.AddFlags(fs, "Let the certificate renew itself: bind it the kubeaccess-renewer role and say so in the kubeconfig the page assembles, "+
		"which kubeaccess complete then makes renew itself where the key is; keep --ttl short", true)
	fs.StringVar(&o.RecordsNamespace, "records-namespace", o.RecordsNamespace, "Namespace of the records and invitations")
	fs.StringVar(&o.MaxTTL, "max-ttl", o.MaxTTL, "Refuse lifetimes longer than this (e.g. 90d, 720h)")
	issuing.AddDryRunFlag(cmd, &o.Flags.DryRun)
	o.Output.AddFlags(cmd)
	cmd.AddCommand(newCmdList(f, streams), newCmdRevoke(f, streams))
	return cmd
}

// Complete keeps the factory the run builds its clients from and reads the user.
func (o *Options) Complete(f cmdutil.Factory, args []string) error {
	o.User = args[0]
	o.factory = f
	return nil
}

// Validate checks the flags without I/O.
func (o *Options) Validate() error {
	if err := (pki.SubjectPolicy{}).Check(o.User, o.Groups); err != nil {
		return failure.UsageErrorf("%w", err)
	}
	if err := csr.ValidateTTL("--ttl", o.TTL); err != nil {
		return failure.UsageErrorf("%w", err)
	}
	var err error
	if o.expires, err = cmdutil.ParseWindow(o.Expires); err != nil || o.expires <= 0 {
		return failure.UsageErrorf("--expires %q is not a duration such as 72h or 7d", o.Expires)
	}
	if o.Approval != invite.ApprovalAuto && o.Approval != invite.ApprovalManual {
		return failure.UsageErrorf(`--approval must be "auto" or "manual", not %q`, o.Approval)
	}
	if u, err := url.Parse(o.PublicURL); err != nil || u.Scheme != "https" || u.Host == "" {
		return failure.UsageErrorf("--public-url %q must be an https:// URL: the browser makes its key only in a secure context", o.PublicURL)
	}
	if err := o.Flags.Validate(); err != nil {
		return failure.UsageErrorf("%w", err)
	}
	if err := o.Flags.CheckLifetime("--ttl", o.TTL); err != nil {
		return err
	}
	switch {
	case o.For < 0:
		return failure.UsageErrorf("--for must be positive")
	case o.For > 0 && !o.HasAccess():
		return failure.UsageErrorf("--for ends access: give the access to grant (--verb/--resource, --role or --clusterrole)")
	case o.Renewing.Validate() != nil:
		return o.Renewing.Validate()
	}
	return o.Output.Validate()
}

// Run checks the invitation as grant would check the grant, stores it and
// prints the link.
func (o *Options) Run(ctx context.Context) error {
	f := o.factory
	cmd, err := issuing.NewCommand(&o.Flags, f, o.Output, o.ErrOut)
	if err != nil {
		return err
	}
	inv := &invite.Invite{
		User: o.User, Groups: o.Groups, Namespace: cmd.Namespace, Access: o.Access(), CreateNamespace: o.CreateNamespace,
		TTL: o.TTL.String(), Approval: o.Approval, AllowExistingAccess: o.AllowExistingAccess,
		CreatedAt: time.Now().UTC().Truncate(time.Second), State: invite.StateOpen,
	}
	inv.ExpiresAt = inv.CreatedAt.Add(o.expires)
	if o.Renewing.Renewing {
		inv.Renewing = &kubeconfig.Renewing{Lifetime: o.TTL.String()}
		if o.RenewBefore > 0 {
			inv.Renewing.RenewBefore = o.RenewBefore.String()
		}
		if o.OfflineFor > 0 {
			inv.Renewing.OfflineFor = o.OfflineFor.String()
		}
	}
	if o.For > 0 {
		// The access is the certificate's alone, so that it ends with it:
		// its group is fixed now, and the browser's request carries it.
		group, err := pki.NewCredentialGroup()
		if err != nil {
			return err
		}
		inv.Groups, inv.CredentialGroup, inv.For = append(inv.Groups, group), group, o.For.String()
	}
	// Who makes the invitation, as the API server authenticated them: the
	// access is bound on their behalf, only as far as they could bind it.
	creator, err := cmd.Engine.WhoIssues(ctx)
	if err != nil {
		return fmt.Errorf("refusing to invite %s: %w", o.User, err)
	}
	if creator == nil {
		return failure.UsageErrorf("refusing to invite %s: the API server does not say who you are (no SelfSubjectReview), "+
			"and an invitation binds its access only as far as its creator could", o.User)
	}
	inv.Creator, inv.CreatedBy = &creator.UserInfo, creator.Username
	// The checks grant makes, and the creator's own authority, as a dry
	// run: nothing is created.
	plan := invite.Plan(inv, &issue.CSR{KeyType: pki.ECDSAP256, TTL: inv.Lifetime()}, o.RecordsNamespace, o.MaxLifetime())
	plan.DryRun = issue.DryRunClient
	res, err := cmd.Engine.Execute(ctx, plan)
	if err != nil {
		return fmt.Errorf("refusing to invite %s: %w", o.User, err)
	}
	if o.Flags.DryRun != "none" {
		// --dry-run: what the invitation, once used, would bind, and to
		// whom it gives what; no invitation is made.
		if err := o.Output.PrintObjects(o.Out, res.Objects); err != nil {
			return err
		}
		return cmd.PrintImpact(ctx, plan, res.Objects)
	}
	token, hash, err := invite.NewToken()
	if err != nil {
		return err
	}
	inv.TokenHash, inv.ID = hash, invite.IDOf(hash)
	store := invite.Store{Client: cmd.Engine.Client(), Namespace: o.RecordsNamespace}
	key, err := store.Key(ctx, true)
	if err != nil {
		return err
	}
	if _, err := store.Create(ctx, key, inv); err != nil {
		return err
	}
	return o.print(inv, strings.TrimSuffix(o.PublicURL, "/")+"/i/"+token)
}

// summary is an invitation as -o prints it; the link is shown once.
type summary struct {
	*invite.Invite
	Link string `json:"link"`
}

func (o *Options) print(inv *invite.Invite, link string) error {
	if o.Output.Structured() {
		return o.Output.PrintSummary(o.Out, "Invitation", inv.ID, summary{Invite: inv, Link: link})
	}
	fmt.Fprintf(o.Out, "Invitation %s for %s (groups %s): %s\n", inv.ID, inv.User, strings.Join(inv.Groups, ","), inv.Describe())
	fmt.Fprintf(o.Out, "  approval %s; the link works once, until %s\n", inv.Approval, inv.ExpiresAt.Format(time.RFC3339))
	if access := inv.AccessFor(); access > 0 {
		fmt.Fprintf(o.Out, "  the access ends by itself %s after the link is used (kubeaccess controller takes it away)\n", access)
	}
	fmt.Fprintf(o.Out, "Send this link to %s (it is shown only now):\n  %s\n", inv.User, link)
	return nil
}

// storeOf is the invitations' store and key of a command.
func storeOf(ctx context.Context, f cmdutil.Factory, namespace string) (invite.Store, []byte, error) {
	client, err := f.Client()
	if err != nil {
		return invite.Store{}, nil, err
	}
	store := invite.Store{Client: client, Namespace: namespace}
	key, err := store.Key(ctx, false)
	return store, key, err
}
