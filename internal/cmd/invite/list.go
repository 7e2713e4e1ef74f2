package invite

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/invite"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/safe"
)

func newCmdList(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	output, recordsNamespace := cmdutil.NewOutput(), records.DefaultNamespace
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the invitations: who, what access, open, used, revoked or expired",
		Args:  cmdutil.Args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := output.Validate(); err != nil {
				return err
			}
			store, key, err := storeOf(cmd.Context(), f, recordsNamespace)
			if err != nil {
				return err
			}
			invites, tampered, err := store.List(cmd.Context(), key)
			if err != nil {
				return err
			}
			for _, name := range tampered {
				fmt.Fprintf(streams.ErrOut, "warning: ConfigMap %s/%s claims to be an invitation but its seal does not match: someone without the invitation key wrote it\n", recordsNamespace, name)
			}
			if output.Structured() {
				items := make([]*invite.Invite, len(invites))
				for i, st := range invites {
					items[i] = st.Invite
				}
				return cmdutil.PrintList(output, streams.Out, "Invitation", items, func(i *invite.Invite) string { return i.ID })
			}
			if len(invites) == 0 {
				fmt.Fprintln(streams.ErrOut, "No invitations.")
				return nil
			}
			w := tabwriter.NewWriter(streams.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tUSER\tGROUPS\tSTATE\tEXPIRES\tAPPROVAL\tACCESS")
			now := time.Now()
			for _, st := range invites {
				state := st.State
				if state == invite.StateOpen && !now.Before(st.ExpiresAt) {
					state = "expired"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", st.ID, safe.Printable(st.User), safe.Printable(strings.Join(st.Groups, ",")), state,
					st.ExpiresAt.Format(time.RFC3339), st.Approval, safe.Printable(st.Describe()))
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&recordsNamespace, "records-namespace", recordsNamespace, "Namespace of the records and invitations")
	output.AddFlags(cmd)
	return cmd
}
