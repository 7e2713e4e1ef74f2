package invite

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/invite"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/safe"
)

// RevokeOptions holds the flags of "invite revoke".
type RevokeOptions struct {
	ID               string
	RecordsNamespace string

	factory cmdutil.Factory
	genericiooptions.IOStreams
}

// newCmdRevoke returns "invite revoke": the link of an invitation not yet
// used stops working.
func newCmdRevoke(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &RevokeOptions{RecordsNamespace: records.DefaultNamespace, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an invitation: its link stops working (a credential already issued is revoked with kubeaccess revoke)",
		Args:  cmdutil.Args(cobra.ExactArgs(1)),
		RunE:  cmdutil.RunE(f, o),
	}
	cmd.Flags().StringVar(&o.RecordsNamespace, "records-namespace", o.RecordsNamespace, "Namespace of the records and invitations")
	return cmd
}

// Complete reads the invitation's ID and keeps the factory.
func (o *RevokeOptions) Complete(f cmdutil.Factory, args []string) error {
	o.ID, o.factory = args[0], f
	return nil
}

// Validate: the ID is checked by reading it.
func (o *RevokeOptions) Validate() error { return nil }

// Run revokes the invitation (see invite.Store.Revoke).
func (o *RevokeOptions) Run(ctx context.Context) error {
	store, key, err := storeOf(ctx, o.factory, o.RecordsNamespace)
	if err != nil {
		return err
	}
	st, err := store.Revoke(ctx, key, o.ID)
	switch {
	case errors.Is(err, invite.ErrUsed):
		return failure.UsageErrorf("invitation %s was already used (credential %s): revoke the credential with kubeaccess revoke --credential %s", st.ID, st.Record, st.Record)
	case err != nil && st == nil:
		return failure.UsageErrorf("invitation %s: %w", o.ID, err)
	case err != nil:
		return fmt.Errorf("revoking invitation %s: %w", st.ID, err)
	}
	_, err = fmt.Fprintf(o.Out, "Revoked invitation %s for %s: its link no longer works.\n", st.ID, safe.Printable(st.User))
	return err
}
