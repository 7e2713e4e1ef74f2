// Package whoami implements "kubeaccess whoami".
package whoami

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/credential"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// Options holds the flags and clients of "kubeaccess whoami".
type Options struct {
	PrintFlags *genericclioptions.PrintFlags

	client     kubernetes.Interface
	restConfig *rest.Config
	printer    printers.ResourcePrinter
	getter     genericclioptions.RESTClientGetter

	genericiooptions.IOStreams
}

var _ cmdutil.Options = (*Options)(nil)

// NewOptions returns Options with defaults.
func NewOptions(streams genericiooptions.IOStreams) *Options {
	return &Options{
		PrintFlags: genericclioptions.NewPrintFlags("").WithTypeSetter(scheme.Scheme),
		IOStreams:  streams,
	}
}

// NewCmdWhoAmI returns the "whoami" command.
func NewCmdWhoAmI(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewOptions(streams)
	o.getter = getter
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show the identity the API server sees for the current context",
		Long: `Show the user name, UID, groups and extra attributes (such as the
credential id) that the API server assigns to the current kubeconfig context.

If the server does not serve SelfSubjectReview, shows what the client
credential claims instead (certificate subject or token subject).`,
		Example: `  # Who am I in the current context?
  kubeaccess whoami

  # Check a kubeconfig that was just issued
  kubeaccess whoami --kubeconfig dave.kubeconfig -o yaml`,
		Args: cmdutil.Args(cobra.NoArgs),
		RunE: cmdutil.RunE(nil, o),
	}
	o.PrintFlags.AddFlags(cmd)
	return cmd
}

// Complete builds the client and the printer.
func (o *Options) Complete(cmdutil.Factory, []string) error {
	getter := o.getter
	var err error
	if *o.PrintFlags.OutputFormat != "" {
		if o.printer, err = o.PrintFlags.ToPrinter(); err != nil {
			return failure.UsageErrorf("%w", err)
		}
	}
	if o.restConfig, err = getter.ToRESTConfig(); err != nil {
		return err
	}
	o.client, err = kubernetes.NewForConfig(o.restConfig)
	return err
}

// Validate: whoami takes no flags beyond -o, which Complete read.
func (o *Options) Validate() error { return nil }

// Run asks the server and prints the answer.
func (o *Options) Run(ctx context.Context) error {
	id, err := verify.WhoAmI(ctx, o.client)
	if errors.Is(err, verify.ErrSelfSubjectReviewUnavailable) {
		return o.printClaim(err)
	}
	if err != nil {
		return err
	}
	if o.printer != nil {
		return o.printer.PrintObj(id.Review, o.Out)
	}
	o.noteMissingCredentialID(id)
	return printIdentity(o.Out, id)
}

// noteMissingCredentialID says plainly when the server does not name the
// credential, as servers before v1.32 do not for certificates, and gives
// the ID it would show, worked out from the certificate itself.
func (o *Options) noteMissingCredentialID(id *verify.Identity) {
	if len(id.Extra[records.CredentialIDExtra]) > 0 {
		return
	}
	claim, err := credential.FromRESTConfig(o.restConfig)
	if err != nil || claim.SHA256 == "" {
		return
	}
	fmt.Fprintf(o.ErrOut, "note: this API server does not show credential IDs (it is older than Kubernetes v1.32); "+
		"the certificate's is %s%s\n", records.CertificateCredentialPrefix, claim.SHA256)
}

// printClaim shows what the local credential claims when the server cannot say.
func (o *Options) printClaim(cause error) error {
	claim, err := credential.FromRESTConfig(o.restConfig)
	if err != nil {
		return fmt.Errorf("%w, and the local credential could not be read: %v", cause, err)
	}
	fmt.Fprintf(o.ErrOut, "warning: %v; showing what the %s claims, unverified by the server\n", cause, claim.Kind)
	if format := *o.PrintFlags.OutputFormat; format != "" {
		return cmdutil.PrintStructured(o.Out, format, claim)
	}
	w := tabwriter.NewWriter(o.Out, 0, 4, 3, ' ', 0)
	fmt.Fprintf(w, "ATTRIBUTE\tVALUE\n")
	fmt.Fprintf(w, "Credential\t%s\n", claim.Kind)
	fmt.Fprintf(w, "Username\t%s\n", claim.Username)
	if len(claim.Groups) > 0 {
		fmt.Fprintf(w, "Groups\t[%s]\n", strings.Join(claim.Groups, " "))
	}
	return w.Flush()
}

// printIdentity prints the identity as kubectl auth whoami does.
func printIdentity(out io.Writer, id *verify.Identity) error {
	w := tabwriter.NewWriter(out, 0, 4, 3, ' ', 0)
	fmt.Fprintf(w, "ATTRIBUTE\tVALUE\n")
	if id.Username != "" {
		fmt.Fprintf(w, "Username\t%s\n", id.Username)
	}
	if id.UID != "" {
		fmt.Fprintf(w, "UID\t%s\n", id.UID)
	}
	if len(id.Groups) > 0 {
		fmt.Fprintf(w, "Groups\t[%s]\n", strings.Join(id.Groups, " "))
	}
	keys := make([]string, 0, len(id.Extra))
	for k := range id.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "Extra: %s\t[%s]\n", k, strings.Join(id.Extra[k], " "))
	}
	return w.Flush()
}
