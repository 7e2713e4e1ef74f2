package invite

import (
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

// newCmdRevoke returns "invite revoke": the link of an invitation not yet
// used stops working.
func newCmdRevoke(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	recordsNamespace := records.DefaultNamespace
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an invitation: its link stops working (a credential already issued is revoked with kubeaccess revoke)",
		Args:  cmdutil.Args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, key, err := storeOf(cmd.Context(), f, recordsNamespace)
			if err != nil {
				return err
			}
			st, err := store.Revoke(cmd.Context(), key, args[0])
			switch {
			case errors.Is(err, invite.ErrUsed):
				return failure.UsageErrorf("invitation %s was already used (credential %s): revoke the credential with kubeaccess revoke --credential %s", st.ID, st.Record, st.Record)
			case err != nil && st == nil:
				return failure.UsageErrorf("invitation %s: %w", args[0], err)
			case err != nil:
				return fmt.Errorf("revoking invitation %s: %w", st.ID, err)
			}
			fmt.Fprintf(streams.Out, "Revoked invitation %s for %s: its link no longer works.\n", st.ID, safe.Printable(st.User))
			return nil
		},
	}
	cmd.Flags().StringVar(&recordsNamespace, "records-namespace", recordsNamespace, "Namespace of the records and invitations")
	return cmd
}
