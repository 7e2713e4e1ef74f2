// Package deny implements "kubeaccess deny": refuse a certificate request.
package deny

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/csr"
)

// Options holds the flags of "kubeaccess deny".
type Options struct {
	Name   string
	Reason string

	genericiooptions.IOStreams
}

// NewCmdDeny returns the "deny" command.
func NewCmdDeny(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{IOStreams: streams}
	cmd := &cobra.Command{
		Use:     "deny NAME --reason TEXT",
		Short:   "Deny a certificate request, saying why",
		Example: `  kubeaccess deny kubeaccess-dave-x7k2p --reason "ask for namespace development only"`,
		Args:    cmdutil.Args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			if o.Reason == "" {
				return cmdutil.UsageErrorf("--reason is required: the requester sees it")
			}
			client, err := cmdutil.NewClient(flags)
			if err != nil {
				return err
			}
			return o.Run(cmd.Context(), client)
		},
	}
	cmd.Flags().StringVar(&o.Reason, "reason", "", "Why the request is denied (shown to the requester)")
	return cmd
}

// Run denies the request if it is still pending.
func (o *Options) Run(ctx context.Context, client kubernetes.Interface) error {
	req, err := csr.Get(ctx, client, o.Name)
	if err != nil {
		return err
	}
	if state := csr.State(req); state != "" {
		return cmdutil.UsageErrorf("CertificateSigningRequest %s is already %s", o.Name, state)
	}
	if err := csr.Deny(ctx, client, req, o.Reason); err != nil {
		return err
	}
	_, err = fmt.Fprintf(o.Out, "Denied CertificateSigningRequest %s: %s\n", o.Name, o.Reason)
	return err
}
