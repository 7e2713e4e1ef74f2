package approve

import (
	"context"
	"fmt"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/invite"
	"github.com/kubeaccess/kubeaccess/internal/safe"
)

// approveInvitation approves a request kubeaccess serve made for an
// invitation with manual approval: only the approval, since the server
// binds the invited access and delivers the certificate. The request must
// be the one the sealed invitation names, so an annotation alone (which
// any requester can set) approves nothing.
func (o *Options) approveInvitation(ctx context.Context, id string) error {
	client := o.cmd.Engine.Client()
	store := invite.Store{Client: client, Namespace: o.RecordsNamespace}
	key, err := store.Key(ctx, false)
	if err != nil {
		return err
	}
	st, err := store.Get(ctx, key, id)
	if err != nil {
		return cmdutil.UsageErrorf("refusing to approve CertificateSigningRequest %s: it names invitation %s, which cannot be read: %w", o.Name, safe.Printable(id), err)
	}
	switch {
	case st.CSR != o.Name || st.State != invite.StateRedeeming:
		return cmdutil.UsageErrorf("refusing to approve CertificateSigningRequest %s: invitation %s is not waiting for it (it is %s, for request %q)", o.Name, st.ID, st.State, st.CSR)
	case o.user != st.User:
		return cmdutil.UsageErrorf("refusing to approve CertificateSigningRequest %s: it is for %q, not the invited %q", o.Name, o.user, st.User)
	}
	if err := csr.Approve(ctx, client, o.req, fmt.Sprintf("approved with kubeaccess approve for invitation %s", st.ID)); err != nil {
		return err
	}
	_, err = fmt.Fprintf(o.Out, "Approved %s for invitation %s (%s: %s); kubeaccess serve binds the access and delivers the certificate to the browser.\n",
		o.Name, st.ID, safe.Printable(st.User), safe.Printable(st.Describe()))
	return err
}
