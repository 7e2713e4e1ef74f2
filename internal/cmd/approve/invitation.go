package approve

import (
	"context"
	"fmt"

	"github.com/kubeaccess/kubeaccess/internal/invite"
	"github.com/kubeaccess/kubeaccess/internal/safe"
)

// approveInvitation approves a request kubeaccess serve made for an
// invitation with manual approval (see invite.Store.Approve).
func (o *Options) approveInvitation(ctx context.Context, id string) error {
	store := invite.Store{Client: o.cmd.Engine.Client(), Namespace: o.RecordsNamespace}
	key, err := store.Key(ctx, false)
	if err != nil {
		return err
	}
	st, err := store.Approve(ctx, key, o.cmd.Engine, id, o.req, o.MaxLifetime())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(o.Out, "Approved %s for invitation %s (%s: %s); kubeaccess serve binds the access and delivers the certificate to the browser.\n",
		o.Name, st.ID, safe.Printable(st.User), safe.Printable(st.Describe()))
	return err
}
