// Package audit implements "kubeaccess audit": risky access in the cluster,
// as a table or JSON, with --fail-on for CI.
package audit

import (
	"context"
	"fmt"
	"k8s.io/client-go/kubernetes"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubeaccess/kubeaccess/internal/audit"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/safe"
	"github.com/kubeaccess/kubeaccess/internal/trace"
)

// Options holds the flags of "kubeaccess audit".
type Options struct {
	Expiring         string
	MaxTTL           string
	FailOn           string
	Unused           string
	AuditLogs        []string
	Output           *cmdutil.Output
	RecordsNamespace string

	options audit.Options
	client  kubernetes.Interface
	genericiooptions.IOStreams
}

var _ cmdutil.Options = (*Options)(nil)

// NewCmdAudit returns the "audit" command.
func NewCmdAudit(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{Expiring: "7d", MaxTTL: "90d", RecordsNamespace: records.DefaultNamespace, Output: cmdutil.NewOutput(), IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "audit [flags]",
		Short: "Report risky access: escalation-grade permissions whatever the role's name, wildcard rules, stale, tampered or long-lived credentials, and more",
		Long: `Report, with a severity: subjects bound to cluster-admin or to rules with "*"
verbs or resources; bindings to privileged groups; credentials kubeaccess
issued that are expired or revoked but still bound, expiring within
--expiring, or valid longer than --max-ttl; legacy service-account token
Secrets; users in bindings with no kubeaccess record; and pending or approved
certificate requests for privileged subjects. The API server's own bootstrap
bindings are left out. With --unused and --audit-log, also the credentials
kubeaccess issued that made no request in the logs within the window, and
the bindings kubeaccess made that allowed none. With --fail-on, exit 1 when a
finding is that severe.`,
		Example: `  kubeaccess audit
  kubeaccess audit --unused 30d --audit-log /var/log/kubernetes/audit.log
  kubeaccess audit -o json --fail-on high`,
		Args: cmdutil.Args(cobra.NoArgs),
		RunE: cmdutil.RunE(f, o),
	}
	fs := cmd.Flags()
	fs.StringVar(&o.Expiring, "expiring", o.Expiring, "Report credentials expiring within this window")
	fs.StringVar(&o.MaxTTL, "max-ttl", o.MaxTTL, "Report credentials valid for longer than this")
	fs.StringVar(&o.FailOn, "fail-on", "", "Exit 1 when a finding is at least this severe: high or medium")
	fs.StringVar(&o.Unused, "unused", "", "Report credentials and bindings the --audit-log logs show no use of within this window, e.g. 30d")
	fs.StringArrayVar(&o.AuditLogs, "audit-log", nil, `An API server audit log (JSON lines, gzip or not; "-" for standard input) for --unused; repeatable`)
	fs.StringVar(&o.RecordsNamespace, "records-namespace", o.RecordsNamespace, "Namespace of the records")
	o.Output.AddFlags(cmd)
	return cmd
}

// Complete builds the client; audit takes no arguments.
func (o *Options) Complete(f cmdutil.Factory, _ []string) error {
	var err error
	o.client, err = f.Client()
	return err
}

// Validate checks the flags and turns them into the audit's options.
func (o *Options) Validate() error {
	var err error
	o.options, err = o.auditOptions()
	return err
}

// Run audits the cluster and prints the findings.
func (o *Options) Run(ctx context.Context) error {
	findings, err := audit.Run(ctx, o.client, o.options)
	if o.options.Unused != nil {
		trace.WarnUnreadable(o.ErrOut, o.options.Unused.Unreadable)
	}
	if err != nil {
		return err
	}
	return o.print(findings)
}

// auditOptions are the audit's options, from the flags.
func (o *Options) auditOptions() (audit.Options, error) {
	expiring, err := cmdutil.ParseWindow(o.Expiring)
	if err != nil {
		return audit.Options{}, failure.UsageErrorf("--expiring: %w", err)
	}
	maxTTL, err := cmdutil.ParseWindow(o.MaxTTL)
	if err != nil {
		return audit.Options{}, failure.UsageErrorf("--max-ttl: %w", err)
	}
	if o.FailOn != "" && o.FailOn != audit.High && o.FailOn != audit.Medium {
		return audit.Options{}, failure.UsageErrorf("--fail-on must be high or medium")
	}
	if err := o.Output.Validate(); err != nil {
		return audit.Options{}, err
	}
	opts := audit.Options{RecordsNamespace: o.RecordsNamespace, Expiring: expiring, MaxTTL: maxTTL, Now: time.Now()}
	switch {
	case o.Unused != "" && len(o.AuditLogs) == 0:
		return audit.Options{}, failure.UsageErrorf("--unused needs the audit logs to look in: give --audit-log")
	case o.Unused == "" && len(o.AuditLogs) > 0:
		return audit.Options{}, failure.UsageErrorf("--audit-log is read for --unused: give the window too, e.g. --unused 30d")
	case o.Unused != "":
		window, err := cmdutil.ParseWindow(o.Unused)
		if err != nil {
			return audit.Options{}, failure.UsageErrorf("--unused: %w", err)
		}
		opts.Unused = &audit.Unused{Logs: o.AuditLogs, Stdin: o.In, Since: opts.Now.Add(-window), Window: o.Unused}
	}
	return opts, nil
}

func (o *Options) print(findings []audit.Finding) error {
	if findings == nil {
		findings = []audit.Finding{}
	}
	switch {
	case o.Output.Structured():
		if err := cmdutil.PrintList(o.Output, o.Out, "Finding", findings, func(f audit.Finding) string { return f.Check }); err != nil {
			return err
		}
	case len(findings) == 0:
		fmt.Fprintln(o.Out, "No findings.")
	default:
		w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "SEVERITY\tCHECK\tOBJECT\tDETAIL")
		for _, f := range findings {
			// Objects and details carry names others chose: quoted when
			// they would not print as themselves.
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", f.Severity, f.Check, safe.Printable(f.Object), safe.Printable(f.Detail))
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	failing := 0
	for _, f := range findings {
		if o.FailOn != "" && audit.Rank(f.Severity) >= audit.Rank(o.FailOn) {
			failing++
		}
	}
	if failing > 0 {
		return fmt.Errorf("%d finding(s) at or above %s", failing, o.FailOn)
	}
	return nil
}
