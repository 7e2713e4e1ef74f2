package approve

import (
	"context"
	"fmt"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/invite"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/pki"
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
	if err := o.isRedemptionRequest(st.Invite); err != nil {
		return cmdutil.UsageErrorf("refusing to approve CertificateSigningRequest %s for invitation %s: %w; nothing was approved", o.Name, st.ID, err)
	}
	// The checks any approval makes (privilege, existing access) and the
	// invitation creator's own authority, as a dry run.
	plan := invite.Plan(st.Invite, &issue.CSR{KeyType: pki.ECDSAP256, TTL: st.Lifetime()}, o.RecordsNamespace, o.MaxLifetime())
	plan.DryRun, plan.Refusing = issue.DryRunClient, "refusing to approve"
	if _, err := o.cmd.Engine.Execute(ctx, plan); err != nil {
		return fmt.Errorf("invitation %s: %w", st.ID, err)
	}
	if err := csr.Approve(ctx, client, o.req, fmt.Sprintf("approved with kubeaccess approve for invitation %s", st.ID)); err != nil {
		return err
	}
	_, err = fmt.Fprintf(o.Out, "Approved %s for invitation %s (%s: %s); kubeaccess serve binds the access and delivers the certificate to the browser.\n",
		o.Name, st.ID, safe.Printable(st.User), safe.Printable(st.Describe()))
	return err
}

// isRedemptionRequest says why the request being approved is not the very
// one the invitation's redemption made: the name alone proves nothing (a
// request deleted, by the cleaner after a day or by anyone who may, can be
// made again under it), so its UID, requester and bytes must be those
// sealed when it was submitted, and its subject the invited one.
func (o *Options) isRedemptionRequest(inv *invite.Invite) error {
	sealed := inv.Request
	got := invite.IdentifyRequest(o.req)
	switch {
	case inv.State != invite.StateRedeeming || inv.CSR != o.Name || sealed == nil:
		return fmt.Errorf("the invitation is not waiting for it (it is %s, for request %q)", inv.State, inv.CSR)
	case got.UID != sealed.UID:
		return fmt.Errorf("it is not the request the invitation's redemption made: that one had UID %s, this one %s (it was deleted and made again)", sealed.UID, got.UID)
	case got.Requester != sealed.Requester:
		return fmt.Errorf("it was submitted by %q, not by %q, who submitted the invitation's request", got.Requester, sealed.Requester)
	case got.RequestSHA256 != sealed.RequestSHA256:
		return fmt.Errorf("its request is not the one the invitation's redemption submitted")
	case o.user != inv.User || !pki.SameGroups(o.groups, inv.Groups):
		return fmt.Errorf("it is for %q in %q, not the invited %q in %q", o.user, o.groups, inv.User, inv.Groups)
	}
	return nil
}
