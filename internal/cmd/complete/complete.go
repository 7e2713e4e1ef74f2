// Package complete implements "kubeaccess complete": the user adds their
// own private key to the key-less kubeconfig an admin sent, and checks it.
package complete

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/renewing"
	"github.com/kubeaccess/kubeaccess/internal/verify"
	"github.com/kubeaccess/kubeaccess/internal/version"
)

// Options holds the flags of "kubeaccess complete".
type Options struct {
	Kubeconfig string
	KeyFile    string
	User       string
	Force      bool
	// Renewing makes the kubeconfig renew itself; by default it does when
	// the issuer let it (kubeconfig.RenewingExtension).
	Renewing bool
	changed  func(string) bool

	genericiooptions.IOStreams
}

var _ cmdutil.Options = (*Options)(nil)

// NewCmdComplete returns the "complete" command.
func NewCmdComplete(streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "complete KUBECONFIG [--key USER.key]",
		Short: "Add your private key to the kubeconfig an admin sent, and check it works",
		Long: `Check that the key belongs to the certificate of the kubeconfig's user (the
current context's, or --user), embed it, keep the file at mode 0600
(rewritten atomically), and ask the API server who the kubeconfig is.

When the issuer let the certificate renew itself (approve --renewing, a team
file's renewing, an invitation's), complete makes the kubeconfig renew itself
here, where the key is: its user becomes the exec plugin kubeaccess credential,
and the key and certificate go to KUBECONFIG.credential (0600), as with grant
--renewing. --renewing=false keeps a plain kubeconfig. A kubeconfig that holds
its key already (a team's, a portal's) needs no --key; a renewing one moved to
another place is set up again where it now is.`,
		Example: `  kubeaccess complete dave.kubeconfig --key dave.key

  # A kubeconfig that came with its key, made to renew itself here
  kubeaccess complete dave.kubeconfig --renewing`,
		Args: cmdutil.Args(cobra.ExactArgs(1)),
		RunE: cmdutil.RunE(nil, o),
	}
	f := cmd.Flags()
	f.StringVar(&o.KeyFile, "key", "", "Your private key (USER.key from kubeaccess request)")
	f.StringVar(&o.User, "user", "", "The kubeconfig user entry to complete (default: the current context's)")
	f.BoolVar(&o.Force, "force", false, "Replace a key the entry already has, or a credential file that exists")
	f.BoolVar(&o.Renewing, "renewing", false, "Make the kubeconfig renew itself (default: when its issuer let it, as the kubeconfig says)")
	o.changed = f.Changed
	return cmd
}

// Complete reads the kubeconfig's name; complete needs no cluster client
// of the admin's.
func (o *Options) Complete(_ cmdutil.Factory, args []string) error {
	o.Kubeconfig = args[0]
	return nil
}

// Validate checks the flags without I/O; whether the kubeconfig needs
// --key is known once it is read.
func (o *Options) Validate() error { return nil }

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
	hint, renewable := kubeconfig.RenewingOf(auth)
	unsaid := o.changed == nil || !o.changed("renewing")
	renew := o.Renewing || renewable && unsaid
	if auth.Exec != nil && (o.Renewing || unsaid) {
		// A renewing kubeconfig moved: its plugin is not run, but
		// replaced by this program on the credential file beside it.
		if _, err := os.Stat(renewing.PathFor(o.Kubeconfig)); err == nil {
			return o.moveRenewing(ctx, cfg, auth)
		}
	}
	// Refused before the file is touched: the check that follows must be
	// able to connect with this entry alone.
	if _, err := kubeconfig.RESTConfigFor(cfg, o.Kubeconfig, name); err != nil {
		return failure.UsageErrorf("%w", err)
	}
	keyPEM, keyFile := auth.ClientKeyData, o.Kubeconfig
	switch {
	case len(auth.ClientCertificateData) == 0:
		return failure.UsageErrorf("user %q in %s has no embedded client certificate to complete", name, o.Kubeconfig)
	case o.KeyFile == "" && (len(auth.ClientKeyData) == 0 || !renew):
		return failure.UsageErrorf("--key is required: the private key made by kubeaccess request")
	case o.KeyFile != "" && len(auth.ClientKeyData) > 0 && !o.Force:
		return failure.UsageErrorf("user %q in %s already has a key; pass --force to replace it", name, o.Kubeconfig)
	case o.KeyFile != "":
		if keyPEM, err = os.ReadFile(o.KeyFile); err != nil {
			return failure.UsageErrorf("reading the key: %w", err)
		}
		keyFile = o.KeyFile
	}
	if err := checkPair(auth.ClientCertificateData, keyPEM, keyFile, o.Kubeconfig); err != nil {
		return err
	}
	auth.ClientKeyData, auth.ClientKey = keyPEM, ""
	if renew {
		return o.writeRenewing(ctx, cfg, name, auth, hint)
	}
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

// writeRenewing makes the kubeconfig renew itself: the key and
// certificate go to its credential file, the user becomes the plugin.
// It is checked with the certificate as it is before anything is written.
func (o *Options) writeRenewing(ctx context.Context, cfg *clientcmdapi.Config, name string, auth *clientcmdapi.AuthInfo, hint *kubeconfig.Renewing) error {
	cert, err := pki.ParseCertificate(auth.ClientCertificateData)
	if err != nil {
		return failure.UsageErrorf("reading the certificate in %s: %w", o.Kubeconfig, err)
	}
	rc, err := kubeconfig.RESTConfigFor(cfg, o.Kubeconfig, name)
	if err != nil {
		return failure.UsageErrorf("%w", err)
	}
	lifetime, renewBefore, offlineFor := time.Hour, time.Duration(0), renewing.DefaultOfflineFor
	if hint != nil {
		if lifetime, renewBefore, offlineFor, err = hint.Durations(); err != nil || lifetime < csr.MinTTL {
			return failure.UsageErrorf("user %q in %s says it renews itself with settings that cannot be read (%+v): ask its issuer for a new one", name, o.Kubeconfig, *hint)
		}
	}
	id, err := o.whoAmI(ctx, rc)
	if err != nil {
		return fmt.Errorf("%s does not work, so nothing was changed: %w", o.Kubeconfig, err)
	}
	path := renewing.PathFor(o.Kubeconfig)
	e := kubeconfig.Entry{Server: rc.Host, CA: rc.CAData, Insecure: rc.Insecure, Certificate: auth.ClientCertificateData, Key: auth.ClientKeyData}
	if err := renewing.Write(path, renewing.New(e, cert.Subject.CommonName, cert.Subject.Organization, lifetime, renewBefore, offlineFor), o.Force); err != nil {
		return failure.UsageErrorf("%w (pass --force to replace it); nothing was changed", err)
	}
	if err := o.useCredentialFile(cfg, auth, path); err != nil {
		return errors.Join(err, os.Remove(path))
	}
	fmt.Fprintf(o.ErrOut, "%s now renews itself: its key and certificate are in %s (0600), which kubeaccess credential keeps renewed\n", o.Kubeconfig, path)
	fmt.Fprintf(o.Out, "%s works: the API server sees %s in %v\n", o.Kubeconfig, id.Username, id.Groups)
	return nil
}

// moveRenewing sets a renewing kubeconfig up again where it now is: its
// plugin is this program, on the credential file beside it.
func (o *Options) moveRenewing(ctx context.Context, cfg *clientcmdapi.Config, auth *clientcmdapi.AuthInfo) error {
	path := renewing.PathFor(o.Kubeconfig)
	f, err := renewing.Read(path)
	if err != nil {
		return failure.UsageErrorf("%s renews itself, but its credential file: %w", o.Kubeconfig, err)
	}
	if err := o.useCredentialFile(cfg, auth, path); err != nil {
		return err
	}
	fmt.Fprintf(o.ErrOut, "%s renews itself with %s, here\n", o.Kubeconfig, path)
	if due, expired, err := f.Due(time.Now()); err == nil && !expired && !due {
		id, err := o.whoAmI(ctx, &rest.Config{Host: f.Server, TLSClientConfig: rest.TLSClientConfig{CAData: f.CA, Insecure: f.Insecure, CertData: f.Certificate, KeyData: f.Key}})
		if err != nil {
			return fmt.Errorf("%s does not work: %w", o.Kubeconfig, err)
		}
		fmt.Fprintf(o.Out, "%s works: the API server sees %s in %v\n", o.Kubeconfig, id.Username, id.Groups)
	}
	return nil
}

// useCredentialFile makes auth the plugin on the credential file at path,
// and writes the kubeconfig.
func (o *Options) useCredentialFile(cfg *clientcmdapi.Config, auth *clientcmdapi.AuthInfo, path string) error {
	exec, err := renewing.Exec(path)
	if err != nil {
		return err
	}
	auth.Exec, auth.ClientCertificateData, auth.ClientKeyData, auth.ClientCertificate, auth.ClientKey = exec, nil, nil, "", ""
	delete(auth.Extensions, kubeconfig.RenewingExtension)
	return kubeconfig.Write(o.Kubeconfig, cfg, true)
}

// whoAmI asks the API server who rc is, as kubeaccess's own check.
func (o *Options) whoAmI(ctx context.Context, rc *rest.Config) (*verify.Identity, error) {
	rc = rest.CopyConfig(rc)
	rc.UserAgent = version.HousekeepingAgent()
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	return verify.WhoAmI(ctx, client)
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
