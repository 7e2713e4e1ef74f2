// Package complete implements "kubeaccess complete": the user adds their
// own private key to the key-less kubeconfig an admin sent, and checks it.
package complete

import (
	"context"
	"crypto"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// Options holds the flags of "kubeaccess complete".
type Options struct {
	Kubeconfig string
	KeyFile    string
	User       string
	Force      bool

	genericiooptions.IOStreams
}

var _ cmdutil.Options = (*Options)(nil)

// NewCmdComplete returns the "complete" command.
func NewCmdComplete(streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "complete KUBECONFIG --key USER.key",
		Short: "Add your private key to the kubeconfig an admin sent, and check it works",
		Long: `Check that the key belongs to the certificate of the kubeconfig's user (the
current context's, or --user), embed it, keep the file at mode 0600
(rewritten atomically), and ask the API server who the kubeconfig is.`,
		Example: `  kubeaccess complete dave.kubeconfig --key dave.key`,
		Args:    cmdutil.Args(cobra.ExactArgs(1)),
		RunE:    cmdutil.RunE(nil, o),
	}
	f := cmd.Flags()
	f.StringVar(&o.KeyFile, "key", "", "Your private key (USER.key from kubeaccess request)")
	f.StringVar(&o.User, "user", "", "The kubeconfig user entry to complete (default: the current context's)")
	f.BoolVar(&o.Force, "force", false, "Replace a key the entry already has")
	return cmd
}

// Complete reads the kubeconfig's name; complete needs no cluster client
// of the admin's.
func (o *Options) Complete(_ cmdutil.Factory, args []string) error {
	o.Kubeconfig = args[0]
	return nil
}

// Validate checks the flags without I/O.
func (o *Options) Validate() error {
	if o.KeyFile == "" {
		return failure.UsageErrorf("--key is required: the private key made by kubeaccess request")
	}
	return nil
}

// Run embeds the key after checking it, then verifies the kubeconfig.
func (o *Options) Run(ctx context.Context) error {
	cfg, err := clientcmd.LoadFromFile(o.Kubeconfig)
	if err != nil {
		return failure.UsageErrorf("reading %s: %w", o.Kubeconfig, err)
	}
	name, auth, err := kubeconfig.UserEntry(cfg, o.Kubeconfig, o.User)
	if err != nil {
		return failure.UsageErrorf("%w", err)
	}
	// Refused before the file is touched: the check that follows must be
	// able to connect with this entry alone.
	if _, err := kubeconfig.RESTConfigFor(cfg, o.Kubeconfig, name); err != nil {
		return failure.UsageErrorf("%w", err)
	}
	switch {
	case len(auth.ClientCertificateData) == 0:
		return failure.UsageErrorf("user %q in %s has no embedded client certificate to complete", name, o.Kubeconfig)
	case len(auth.ClientKeyData) > 0 && !o.Force:
		return failure.UsageErrorf("user %q in %s already has a key; pass --force to replace it", name, o.Kubeconfig)
	}
	keyPEM, err := os.ReadFile(o.KeyFile)
	if err != nil {
		return failure.UsageErrorf("reading the key: %w", err)
	}
	if err := checkPair(auth.ClientCertificateData, keyPEM, o.KeyFile, o.Kubeconfig); err != nil {
		return err
	}
	auth.ClientKeyData, auth.ClientKey = keyPEM, ""
	if err := kubeconfig.Write(o.Kubeconfig, cfg, true); err != nil {
		return err
	}
	fmt.Fprintf(o.ErrOut, "added %s to user %q in %s\n", o.KeyFile, name, o.Kubeconfig)
	return o.verify(ctx, name)
}

// checkPair refuses a key that does not belong to the certificate.
func checkPair(certPEM, keyPEM []byte, keyFile, kubeconfigFile string) error {
	cert, err := pki.ParseCertificate(certPEM)
	if err != nil {
		return failure.UsageErrorf("reading the certificate in %s: %w", kubeconfigFile, err)
	}
	key, err := pki.ParseKey(keyPEM)
	if err != nil {
		return failure.UsageErrorf("reading the key %s: %w", keyFile, err)
	}
	if pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(key.Public()) {
		return failure.UsageErrorf("the key %s does not match the certificate in %s (issued to %q, serial %s): "+
			"use the key made with the request it was issued for", keyFile, kubeconfigFile, cert.Subject.CommonName, cert.SerialNumber.Text(16))
	}
	return nil
}

// verify asks the API server who the completed kubeconfig is.
func (o *Options) verify(ctx context.Context, user string) error {
	id, err := verify.WhoAmIFile(ctx, o.Kubeconfig, user)
	if err != nil {
		return fmt.Errorf("%s is complete but does not work: %w", o.Kubeconfig, err)
	}
	fmt.Fprintf(o.Out, "%s works: the API server sees %s in %v\n", o.Kubeconfig, id.Username, id.Groups)
	return nil
}
