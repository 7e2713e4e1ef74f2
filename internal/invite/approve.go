package invite

import (
	"context"
	"fmt"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"

	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/safe"
)

// Approve approves req, a request kubeaccess serve made for the
// invitation id with manual approval: only the approval, since the server
// binds the invited access and delivers the certificate. The request must
// be the one the sealed invitation names, so an annotation alone (which
// any requester can set) approves nothing; and the checks any approval
// makes, with the invitation creator's own authority, run first as a dry
// run of engine.
func (s Store) Approve(ctx context.Context, key []byte, engine *issue.Engine, id string, req *certificatesv1.CertificateSigningRequest, maxTTL time.Duration) (*Stored, error) {
	st, err := s.Get(ctx, key, id)
	if err != nil {
		return nil, failure.UsageErrorf("refusing to approve CertificateSigningRequest %s: it names invitation %s, which cannot be read: %w", req.Name, safe.Printable(id), err)
	}
	if err := IsRedemptionRequest(st.Invite, req); err != nil {
		return nil, failure.UsageErrorf("refusing to approve CertificateSigningRequest %s for invitation %s: %w; nothing was approved", req.Name, st.ID, err)
	}
	plan := Plan(st.Invite, &issue.CSR{KeyType: pki.ECDSAP256, TTL: st.Lifetime()}, s.Namespace, maxTTL)
	plan.DryRun, plan.Refusing = issue.DryRunClient, "refusing to approve"
	if _, err := engine.Execute(ctx, plan); err != nil {
		return nil, fmt.Errorf("invitation %s: %w", st.ID, err)
	}
	if err := csr.Approve(ctx, engine.Client(), req, fmt.Sprintf("approved with kubeaccess approve for invitation %s", st.ID)); err != nil {
		return nil, err
	}
	return st, nil
}

// IsRedemptionRequest says why req is not the very request the
// invitation's redemption made: the name alone proves nothing (a request
// deleted, by the cleaner after a day or by anyone who may, can be made
// again under it), so its UID, requester and bytes must be those sealed
// when it was submitted, and its subject exactly the invited one.
func IsRedemptionRequest(inv *Invite, req *certificatesv1.CertificateSigningRequest) error {
	sealed, got := inv.Request, IdentifyRequest(req)
	switch {
	case inv.State != StateRedeeming || inv.CSR != req.Name || sealed == nil:
		return fmt.Errorf("the invitation is not waiting for it (it is %s, for request %q)", inv.State, inv.CSR)
	case got.UID != sealed.UID:
		return fmt.Errorf("it is not the request the invitation's redemption made: that one had UID %s, this one %s (it was deleted and made again)", sealed.UID, got.UID)
	case got.Requester != sealed.Requester:
		return fmt.Errorf("it was submitted by %q, not by %q, who submitted the invitation's request", got.Requester, sealed.Requester)
	case got.RequestSHA256 != sealed.RequestSHA256:
		return fmt.Errorf("its request is not the one the invitation's redemption submitted")
	}
	parsed, err := pki.ParseRequest(req.Spec.Request)
	if err != nil {
		return err
	}
	return issue.CheckRequestFor(parsed, issue.Subject{User: inv.User, Groups: inv.Groups})
}
