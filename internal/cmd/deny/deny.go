// Package deny implements "kubeaccess deny": refuse a certificate request.
package deny

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/issue"
)

// Options holds the flags of "kubeaccess deny".
type Options struct {
	Name   string
	Reason string
	DryRun string

	dryRun issue.DryRun
	client kubernetes.Interface
	genericiooptions.IOStreams
}

var _ cmdutil.Options = (*Options)(nil)

// NewCmdDeny returns the "deny" command.
func NewCmdDeny(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "deny NAME --reason TEXT",
		Short: "Deny a certificate request, saying why",
		Example: `  kubeaccess deny kubeaccess-dave-x7k2p --reason "ask for namespace development only"

  # Check that the denial would be accepted, and change nothing
  kubeaccess deny kubeaccess-dave-x7k2p --reason "wrong team" --dry-run=server`,
		Args: cmdutil.Args(cobra.ExactArgs(1)),
		RunE: cmdutil.RunE(f, o),
	}
	cmd.Flags().StringVar(&o.Reason, "reason", "", "Why the request is denied (shown to the requester)")
	issuing.AddDryRunFlag(cmd, &o.DryRun)
	return cmd
}

// Complete reads the request's name and builds the client.
func (o *Options) Complete(f cmdutil.Factory, args []string) error {
	o.Name = args[0]
	var err error
	o.client, err = f.Client()
	return err
}

// Validate checks the flags without I/O.
func (o *Options) Validate() error {
	if o.Reason == "" {
		return failure.UsageErrorf("--reason is required: the requester sees it")
	}
	var err error
	if o.dryRun, err = issue.ParseDryRun(o.DryRun); err != nil {
		return failure.UsageErrorf("%w", err)
	}
	return nil
}

// Run denies the request if it is still pending.
func (o *Options) Run(ctx context.Context) error {
	client := o.client
	req, err := csr.Get(ctx, client, o.Name)
	if err != nil {
		return err
	}
	if state := csr.State(req); state != "" {
		return failure.UsageErrorf("CertificateSigningRequest %s is already %s", o.Name, state)
	}
	if o.dryRun != issue.DryRunClient {
		if err := csr.Deny(ctx, client, req, o.Reason, o.dryRun.Options()...); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(o.Out, "Denied CertificateSigningRequest %s: %s%s\n", o.Name, o.Reason, o.dryRun.Suffix())
	return err
}
