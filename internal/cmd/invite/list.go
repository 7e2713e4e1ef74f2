package invite

import (
	"context"
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

// ListOptions holds the flags of "invite list".
type ListOptions struct {
	RecordsNamespace string
	Output           *cmdutil.Output

	factory cmdutil.Factory
	genericiooptions.IOStreams
}

func newCmdList(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &ListOptions{RecordsNamespace: records.DefaultNamespace, Output: cmdutil.NewOutput(), IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the invitations: who, what access, open, used, revoked or expired",
		Args:  cmdutil.Args(cobra.NoArgs),
		RunE:  cmdutil.RunE(f, o),
	}
	cmd.Flags().StringVar(&o.RecordsNamespace, "records-namespace", o.RecordsNamespace, "Namespace of the records and invitations")
	o.Output.AddFlags(cmd)
	return cmd
}

// Complete keeps the factory; list takes no arguments.
func (o *ListOptions) Complete(f cmdutil.Factory, _ []string) error {
	o.factory = f
	return nil
}

// Validate checks -o.
func (o *ListOptions) Validate() error { return o.Output.Validate() }

// Run reads the invitations and prints them, warning of those whose seal
// does not match.
func (o *ListOptions) Run(ctx context.Context) error {
	store, key, err := storeOf(ctx, o.factory, o.RecordsNamespace)
	if err != nil {
		return err
	}
	invites, tampered, err := store.List(ctx, key)
	if err != nil {
		return err
	}
	for _, name := range tampered {
		fmt.Fprintf(o.ErrOut, "warning: ConfigMap %s/%s claims to be an invitation but its seal does not match: someone without the invitation key wrote it\n", o.RecordsNamespace, name)
	}
	if o.Output.Structured() {
		items := make([]*invite.Invite, len(invites))
		for i, st := range invites {
			items[i] = st.Invite
		}
		return cmdutil.PrintList(o.Output, o.Out, "Invitation", items, func(i *invite.Invite) string { return i.ID })
	}
	if len(invites) == 0 {
		fmt.Fprintln(o.ErrOut, "No invitations.")
		return nil
	}
	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
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
}

var (
	_ cmdutil.Options = (*ListOptions)(nil)
	_ cmdutil.Options = (*RevokeOptions)(nil)
)
