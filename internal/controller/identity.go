package controller

import (
	"context"
	"fmt"
	"slices"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

// A renewing credential keeps a renewal identity (pki.RenewalIdentityPrefix,
// internal/renewing): a second certificate, of days, whose user is not the
// credential's and whose one group may only ask for certificates. The
// credential asks for it with its current certificate; once that has
// expired (its holder was away), the identity asks for the credential's
// renewal instead. The controller approves the one and the other only
// for a credential that may still be renewed: revoked, its identity
// renews nothing.

// identityApprovalPrefix starts the message of the controller's approval
// of a renewal identity; the record ID of the credential it was issued to
// follows it.
const identityApprovalPrefix = "approved by kubeaccess controller: renewal identity of credential "

// requestSubject is the user and groups req asks for, when it is a
// request a client certificate may be made from.
func requestSubject(req *certificatesv1.CertificateSigningRequest) (string, []string, bool) {
	parsed, err := pki.ParseRequest(req.Spec.Request)
	if err != nil || pki.CheckRequest(parsed) != nil {
		return "", nil, false
	}
	return parsed.Subject.CommonName, parsed.Subject.Organization, true
}

// issueRenewalIdentity approves req, made by credential old's current
// certificate for a renewal identity's subject, when old may be renewed
// and the identity lives no longer than MaxOffline (nor past old's access);
// then records the identity as old's.
func (c *Controller) issueRenewalIdentity(ctx context.Context, req *certificatesv1.CertificateSigningRequest, old records.Record) (outcome, error) {
	reason, why := c.refuseRenewal(req, old, old.User, false, c.MaxOffline)
	user, _, _ := requestSubject(req)
	switch {
	case reason != "":
	case c.MaxOffline <= 0:
		reason, why = "offline", "this controller issues no renewal identities (--max-offline 0)"
	case !pki.RenewsSubject(user, old.User, old.Groups):
		reason, why = "subject", fmt.Sprintf("the renewal identity %q it asks for is not named for its subject", user)
	}
	if reason != "" {
		return c.refused(ctx, req, old, "renewal identity", reason, why)
	}
	if err := csr.Approve(ctx, c.Client, req, fmt.Sprintf("%s%s of %s", identityApprovalPrefix, old.ID, old.User)); err != nil {
		return outcome{}, fmt.Errorf("approving request %s: %w", req.Name, err)
	}
	wait, cancel := context.WithTimeout(ctx, c.ApprovalTimeout)
	defer cancel()
	out, err := csr.WaitForCertificate(wait, c.Client, req)
	if err != nil {
		return outcome{}, fmt.Errorf("waiting for the certificate of renewal identity %s: %w", req.Name, err)
	}
	req = req.DeepCopy()
	req.Status.Certificate = out.Certificate
	id, err := c.recordIdentity(ctx, req, old)
	if err != nil {
		return outcome{}, err
	}
	c.Metrics.Renewals.WithLabelValues("identity").Inc()
	c.event(req, corev1.EventTypeNormal, "RenewalIdentityApproved", "approved as the renewal identity of credential %s of %s, recorded as %s", old.ID, old.User, id)
	c.Logf("renewal: request %s: renewal identity of credential %s of %s issued as %s", req.Name, old.ID, old.User, id)
	return outcome{result: "approved"}, nil
}

// recordIdentity records the certificate issued to req as the renewal
// identity of old, once: a record that exists already is kept.
func (c *Controller) recordIdentity(ctx context.Context, req *certificatesv1.CertificateSigningRequest, old records.Record) (string, error) {
	cert, err := pki.ParseCertificate(req.Status.Certificate)
	if err != nil {
		return "", fmt.Errorf("the certificate of renewal identity %s: %w", req.Name, err)
	}
	parsed, err := pki.ParseRequest(req.Spec.Request)
	if err != nil || pki.CheckRequest(parsed) != nil || pki.CheckIssued(cert, parsed.PublicKey, parsed.Subject.CommonName, parsed.Subject.Organization) != nil {
		return "", fmt.Errorf("the certificate issued to request %s is not the renewal identity it asked for", req.Name)
	}
	info := pki.Describe(cert)
	rec := records.Record{
		ID: records.CertificateID(info.SHA256), User: parsed.Subject.CommonName, Groups: parsed.Subject.Organization, Kind: "certificate", IssuedVia: "csr-api",
		IssuedBy: "kubeaccess controller", IssuedAt: time.Now().UTC().Truncate(time.Second),
		Serial: info.Serial, SHA256: info.SHA256, Issuer: info.Issuer, NotBefore: info.NotBefore, NotAfter: info.NotAfter,
		CSR: req.Name, Certificate: string(req.Status.Certificate), TTL: cert.NotAfter.Sub(cert.NotBefore).String(),
		RenewalIdentityOf: old.LineageID(), Team: old.Team,
	}
	store := records.Store{Client: c.Client, Namespace: c.RecordsNamespace}
	if err := store.Save(ctx, rec); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("recording renewal identity %s: %w", rec.ID, err)
	}
	return rec.ID, nil
}

// renewOffline answers req, made by the renewal identity identity for
// its credential's subject: it is judged as the renewal of that
// credential's current certificate, which may have expired, by all the
// rules but who asks.
func (c *Controller) renewOffline(ctx context.Context, req *certificatesv1.CertificateSigningRequest, identity records.Record) (outcome, error) {
	current, err := c.currentOf(ctx, identity.RenewalIdentityOf)
	if err != nil {
		c.Metrics.Renewals.WithLabelValues("refused").Inc()
		c.Metrics.Refusals.WithLabelValues("renewal", "tampered").Inc()
		c.event(req, corev1.EventTypeWarning, "RenewalRefused", "not approved as a renewal through renewal identity %s: %v", identity.ID, err)
		return outcome{result: "refused"}, nil
	}
	reason, why := "", ""
	switch err := identity.Check(); {
	case err != nil:
		reason, why = "tampered", fmt.Sprintf("the record of its renewal identity fails its checks: %v", err)
	case identity.Revoked != nil:
		reason, why = "revoked", fmt.Sprintf("its renewal identity %s was revoked on %s", identity.ID, identity.Revoked.Format(time.RFC3339))
	case !pki.RenewsSubject(identity.User, current.User, current.Groups):
		// The record may say anything; the certificate says whom the
		// identity renews.
		reason, why = "subject", fmt.Sprintf("renewal identity %s is not for %q in %q", identity.User, current.User, current.Groups)
	default:
		// Asked by the identity, not the certificate.
		reason, why = c.refuseRenewal(req, current, identity.User, true, c.MaxTTL)
	}
	if reason != "" {
		return c.refused(ctx, req, current, "renewal", reason, why)
	}
	return c.approveRenewal(ctx, req, current, " through its renewal identity "+identity.ID)
}

// currentOf is the record of the current certificate of the credential
// whose lineage (records.Record.LineageID) is lineage: the one record of it
// not replaced by a renewal, found in the informer's view and read again
// from the API server, so that a renewal or revocation just made counts.
// The lineage is a record's word, which others may write: what the
// record is then used for is bound to the certificate's subject.
func (c *Controller) currentOf(ctx context.Context, lineage string) (records.Record, error) {
	store := records.Store{Client: c.Client, Namespace: c.RecordsNamespace}
	var all []records.Record
	if c.records != nil {
		cms, err := c.records.List(labels.Everything())
		if err != nil {
			return records.Record{}, err
		}
		for _, cm := range cms {
			all = append(all, records.Read(cm))
		}
	} else {
		var err error
		if all, err = store.List(ctx, ""); err != nil {
			return records.Record{}, err
		}
	}
	var found []string
	for _, r := range all {
		if r.LineageID() == lineage && r.ReplacedBy == "" && r.RenewalIdentityOf == "" && r.Kind == "certificate" {
			found = append(found, r.ID)
		}
	}
	switch len(found) {
	case 0:
		return records.Record{}, fmt.Errorf("no record is the current certificate of credential %s", lineage)
	case 1:
	default:
		return records.Record{}, fmt.Errorf("%d records claim to be the current certificate of credential %s", len(found), lineage)
	}
	rec, err := store.Get(ctx, found[0])
	// A renewal the view has not seen yet: its successor, read as well.
	for hops := 0; err == nil && rec.ReplacedBy != "" && hops < 3; hops++ {
		rec, err = store.Get(ctx, rec.ReplacedBy)
	}
	switch {
	case err != nil:
		return records.Record{}, err
	case rec.ReplacedBy != "" || rec.LineageID() != lineage:
		return records.Record{}, fmt.Errorf("record %s is not the current certificate of credential %s", rec.ID, lineage)
	}
	return rec, rec.Check()
}

// identityRenews reports whether the certificate of fingerprint is a
// renewal identity whose credential's current certificate is id's.
func (c *Controller) identityRenews(ctx context.Context, fingerprint, id string) bool {
	store := records.Store{Client: c.Client, Namespace: c.RecordsNamespace}
	identity, err := store.Get(ctx, records.CertificateID(fingerprint))
	if err != nil || identity.SHA256 != fingerprint || identity.RenewalIdentityOf == "" || identity.Check() != nil {
		return false
	}
	current, err := c.currentOf(ctx, identity.RenewalIdentityOf)
	return err == nil && current.ID == id
}

// approvedIdentityOf is the record ID of the credential an approval of
// the controller's issued a renewal identity to, or "".
func approvedIdentityOf(req *certificatesv1.CertificateSigningRequest) string {
	return approvedWith(req, identityApprovalPrefix)
}

// isIdentityRequest reports whether req asks for a renewal identity.
func isIdentityRequest(req *certificatesv1.CertificateSigningRequest) bool {
	user, groups, ok := requestSubject(req)
	return ok && pki.IsRenewalIdentity(user, slices.Clone(groups))
}
