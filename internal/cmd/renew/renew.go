// Package renew implements "kubeaccess renew KUBECONFIG": replace the
// credential in a kubeconfig with a fresh one for the same subject, groups,
// lifetime and access, by the path that issued it. The work is
// internal/renew's; this command reads flags and prints the outcome.
package renew

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/renew"
)

// Options holds the flags of "kubeaccess renew".
type Options struct {
	Kubeconfig       string
	User             string
	Within           string
	CACert           string
	CAKey            string
	KeyType          string
	Timeout          time.Duration
	RecordsNamespace string
	AllowPrivileged  bool
	MaxTTL           string
	DryRun           string

	within  time.Duration
	renewer *renew.Renewer
	genericiooptions.IOStreams
}

var _ cmdutil.Options = (*Options)(nil)

// NewCmdRenew returns the "renew" command.
func NewCmdRenew(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{KeyType: string(pki.DefaultKeyType), Timeout: 60 * time.Second, RecordsNamespace: records.DefaultNamespace, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "renew KUBECONFIG [flags]",
		Short: "Replace the credential in a kubeconfig with a fresh one, by the path that issued it",
		Long: `Renew the credential of the kubeconfig's current user (or --user): a new key and
certificate for the same subject and groups through the CSR API, or signed with
--ca-cert/--ca-key when it was issued offline; for a token, a new token from
the TokenRequest API. The lifetime (capped by --max-ttl) and access stay those recorded. The record
is only a hint: the subject and groups come from the certificate, which must
chain to the cluster's client CA and match the record's fingerprint, or from
the token, which the API server must accept; the privilege check that every
issuing command makes runs again. The file
keeps its other entries and is rewritten atomically at 0600. The record is
linked to the one it replaces. With --within, renew only a credential that
expires within that window, so it can run from cron.
The admin's own kubeconfig (--kubeconfig, KUBECONFIG) is used to reach the
cluster.`,
		Example: `  kubeaccess renew dave.kubeconfig
  kubeaccess renew bot.kubeconfig --within 72h

  # Make every check and show the request renew would send; change nothing
  kubeaccess renew dave.kubeconfig --dry-run=server`,
		Args: cmdutil.Args(cobra.ExactArgs(1)),
		RunE: cmdutil.RunE(f, o),
	}
	fs := cmd.Flags()
	fs.StringVar(&o.User, "user", "", "The kubeconfig user entry to renew (default: the current context's)")
	fs.StringVar(&o.Within, "within", "", "Renew only if the credential expires within this window (e.g. 72h, 7d)")
	fs.StringVar(&o.CACert, "ca-cert", "", "For a certificate issued offline: the CA certificate")
	fs.StringVar(&o.CAKey, "ca-key", "", "For a certificate issued offline: the CA key; only read")
	fs.StringVar(&o.KeyType, "key-type", o.KeyType, "Type of the new private key")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for the certificate")
	fs.StringVar(&o.RecordsNamespace, "records-namespace", o.RecordsNamespace, "Namespace of the records")
	fs.BoolVar(&o.AllowPrivileged, "allow-privileged", false, "Renew even for an identity that holds escalation-grade permissions, or when that cannot be checked")
	fs.StringVar(&o.MaxTTL, "max-ttl", issuing.DefaultMaxTTL, "Cap the renewed lifetime at this (e.g. 90d, 720h)")
	issuing.AddDryRunFlag(cmd, &o.DryRun)
	return cmd
}

// Validate checks the flags that need no cluster.
func (o *Options) Validate() error {
	if (o.CACert == "") != (o.CAKey == "") {
		return failure.UsageErrorf("--ca-cert and --ca-key go together")
	}
	return nil
}

// Complete reads the flags' values and builds the renewer on the admin's
// connection.
func (o *Options) Complete(f cmdutil.Factory, args []string) error {
	o.Kubeconfig = args[0]
	r := &renew.Renewer{RecordsNamespace: o.RecordsNamespace, Timeout: o.Timeout, AllowPrivileged: o.AllowPrivileged,
		// renew's progress is its one line at the end.
		Events: issuing.PrintEvents(o.ErrOut, false)}
	var err error
	if o.Within != "" {
		if o.within, err = cmdutil.ParseWindow(o.Within); err != nil {
			return failure.UsageErrorf("--within: %w", err)
		}
	}
	if r.MaxTTL, err = cmdutil.ParseWindow(o.MaxTTL); err != nil {
		return failure.UsageErrorf("--max-ttl: %w", err)
	}
	if r.DryRun, err = issue.ParseDryRun(o.DryRun); err != nil {
		return failure.UsageErrorf("%w", err)
	}
	if r.KeyType, err = pki.ParseKeyType(o.KeyType); err != nil {
		return failure.UsageErrorf("--key-type: %w", err)
	}
	if o.CACert != "" && o.CAKey != "" {
		if r.Authority, err = pki.LoadAuthority(o.CACert, o.CAKey); err != nil {
			return failure.UsageErrorf("%w", err)
		}
	}
	client, err := f.Client()
	if err != nil {
		return err
	}
	cluster, err := f.Cluster()
	if err != nil {
		return err
	}
	r.ClusterCA, r.Engine = cluster.CA, issuing.NewEngine(f, client, nil, cluster)
	o.renewer = r
	return nil
}

// Run renews the credential if it is due, and says what it did.
func (o *Options) Run(ctx context.Context) error {
	out, err := o.renewer.Renew(ctx, renew.Request{Kubeconfig: o.Kubeconfig, User: o.User, Within: o.within})
	if err != nil {
		return err
	}
	if !out.Due {
		_, err := fmt.Fprintf(o.Out, "nothing to do: the credential expires %s, later than %s from now\n", out.ExpiresAt.Format(time.RFC3339), o.Within)
		return err
	}
	res, dryRun := out.Result, o.renewer.DryRun
	if dryRun != issue.DryRunNone {
		if err := cmdutil.NewOutput().PrintObjects(o.Out, res.Objects); err != nil {
			return err
		}
		fmt.Fprintf(o.ErrOut, "%s would be renewed: credential %s of %s; the file and the records were left as they are%s\n",
			o.Kubeconfig, out.Old.ID, out.Old.User, dryRun.Suffix())
		return nil
	}
	_, err = fmt.Fprintf(o.Out, "Renewed %s for %s: %s %s, expires %s (record %s replaces %s)\n",
		o.Kubeconfig, res.Subject.User, res.Credential.Kind(), res.RecordID, res.Credential.ExpiresAt().Format(time.RFC3339), res.RecordID, out.Old.ID)
	return err
}
