// Package credential implements "kubeaccess credential": the exec
// credential plugin of a renewing kubeconfig (grant --renewing). kubectl
// and client-go run it for each connection they open; it prints the
// current certificate and key as an ExecCredential, renewing the
// certificate first when it is due (see internal/renewing).
package credential

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/renewing"
)

// Options holds the flags of "kubeaccess credential".
type Options struct {
	File    string
	Timeout time.Duration
	genericiooptions.IOStreams
}

var _ cmdutil.Options = (*Options)(nil)

// NewCmdCredential returns the "credential" command.
func NewCmdCredential(streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{Timeout: 5 * time.Second, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "credential --file FILE",
		Short: "Print a renewing credential's certificate for kubectl, renewing it when due (the exec plugin of grant --renewing)",
		Long: `Print the certificate and key of a renewing credential (grant --renewing) as
an ExecCredential (client.authentication.k8s.io/v1), as kubectl and client-go
ask of an exec credential plugin. A renewing kubeconfig runs it; there is no
need to run it by hand.

When the certificate is due (a third of its lifetime left, or --renew-before
as granted), it first asks for a new one for the same subject and key,
authenticated by the current certificate, and waits for kubeaccess controller
to approve it as that certificate's renewal. The private key never leaves the
credential file. A revoked credential is not renewed: its access ends when its
short certificate expires.`,
		Example: `  # What a renewing kubeconfig's user runs
  kubeaccess credential --file ./dave.kubeconfig.credential`,
		Args: cmdutil.Args(cobra.NoArgs),
		RunE: cmdutil.RunE(nil, o),
	}
	cmd.Flags().StringVar(&o.File, "file", "", "The renewing credential's file (written beside its kubeconfig)")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for a renewal's answer before using the current certificate (the next run takes it up); "+
		"clients call the plugin inside a TLS handshake of 10s")
	return cmd
}

// Complete does nothing: the plugin needs no cluster flags.
func (o *Options) Complete(cmdutil.Factory, []string) error { return nil }

// Validate checks the flags.
func (o *Options) Validate() error {
	if o.File == "" {
		return failure.UsageErrorf("--file is required")
	}
	if o.Timeout <= 0 {
		return failure.UsageErrorf("--timeout must be positive")
	}
	return nil
}

// Run renews the certificate if it is due (and asks for the renewal
// identity when that is due), then prints it. A renewal that fails while
// the certificate is still valid is reported on stderr and the current
// certificate printed: the next call tries again.
func (o *Options) Run(ctx context.Context) error {
	f, err := renewing.Read(o.File)
	if err != nil {
		return err
	}
	now := time.Now()
	if due, _, err := f.Due(now); err != nil {
		return err
	} else if due || f.IdentityDue(now) {
		if f, err = o.renew(ctx); err != nil {
			return err
		}
	}
	cred, err := f.ExecCredential()
	if err != nil {
		return err
	}
	return json.NewEncoder(o.Out).Encode(cred)
}

// renew renews the credential under its lock, unless another run did
// meanwhile, asks for its renewal identity when due, and returns the
// credential as it then is.
func (o *Options) renew(ctx context.Context) (*renewing.File, error) {
	unlock, err := renewing.Lock(ctx, o.File, o.Timeout+30*time.Second)
	if err != nil {
		return nil, err
	}
	defer unlock()
	f, err := renewing.Read(o.File)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	due, expired, err := f.Due(start)
	switch {
	case err != nil:
		return nil, err
	case expired && !f.CanRenewOffline(start):
		return nil, fmt.Errorf("kubeaccess: the credential in %s was not renewed in time: %w, and it has no valid renewal identity (grant --offline-for); ask for a new one",
			o.File, renewing.ErrExpired)
	}
	changed := false
	if due {
		err := f.Renew(ctx, o.Timeout)
		if err != nil {
			if _, expired, _ := f.Due(time.Now()); expired || errors.Is(err, renewing.ErrExpired) {
				if errors.Is(err, renewing.ErrNotYet) || errors.Is(err, renewing.ErrRefused) {
					// Kept, so that the next run takes up its answer.
					_ = renewing.Write(o.File, f, true)
				}
				return nil, fmt.Errorf("kubeaccess: renewing the credential in %s: %w", o.File, err)
			}
			fmt.Fprintf(o.ErrOut, "kubeaccess: renewing the credential in %s: %v (the current certificate is used until it expires)\n", o.File, err)
		}
		// Kept either way: the new certificate, or the pending request
		// whose answer the next run takes up, or the refusal.
		changed = true
	}
	if f.IdentityDue(time.Now()) {
		if _, expired, _ := f.Due(time.Now()); !expired {
			wait := max(o.Timeout-time.Since(start), time.Second)
			if err := f.RenewIdentity(ctx, wait); err != nil {
				fmt.Fprintf(o.ErrOut, "kubeaccess: asking for the renewal identity of the credential in %s: %v (it can renew only while its certificate is valid until then)\n", o.File, err)
			}
			changed = true
		}
	}
	if changed {
		if err := renewing.Write(o.File, f, true); err != nil {
			return nil, fmt.Errorf("kubeaccess: keeping the renewed credential in %s: %w", o.File, err)
		}
	}
	return f, nil
}
