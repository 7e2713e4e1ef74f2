package controller

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

// allowedUsages are what a Kubernetes client certificate may carry.
var allowedUsages = []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth, certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment}

// reconcileRenewal answers a pending client-certificate request that a
// certificate kubeaccess issued made to renew itself. It approves only
// when the requester, as the API server authenticated it (spec.username
// and the credential-id extra), is that credential's current certificate;
// the record is neither revoked, superseded nor tampered with; the request
// asks for exactly the same subject with client usages only; and the
// lifetime is within policy and does not outlast time-bound access. The
// engine then makes the checks every issuance makes (escalation among
// them), approves, waits for the certificate and records it as replacing
// the old one. Every other request is left alone: the controller never
// approves one it does not recognise, nor denies one (it may be someone
// else's to decide).
func (c *Controller) reconcileRenewal(ctx context.Context, name string) (outcome, error) {
	req, err := c.requests.Get(name)
	if apierrors.IsNotFound(err) {
		return outcome{result: "gone"}, nil
	} else if err != nil {
		return outcome{}, err
	}
	if req.Spec.SignerName != certificatesv1.KubeAPIServerClientSignerName {
		return outcome{result: "nothing"}, nil
	}
	if approvedRenewalOf(req) != "" && len(req.Status.Certificate) > 0 {
		return c.recordApproved(ctx, req)
	}
	if approvedIdentityOf(req) != "" && len(req.Status.Certificate) > 0 {
		return c.recordApprovedIdentity(ctx, req)
	}
	if csr.State(req) != "" {
		return outcome{result: "nothing"}, nil
	}
	fingerprint, ok := requesterCertificate(req)
	if !ok {
		c.Metrics.Renewals.WithLabelValues("ignored").Inc()
		return outcome{result: "ignored"}, nil
	}
	store := records.Store{Client: c.Client, Namespace: c.RecordsNamespace}
	old, err := store.Get(ctx, records.CertificateID(fingerprint))
	if apierrors.IsNotFound(err) {
		c.Metrics.Renewals.WithLabelValues("ignored").Inc()
		return outcome{result: "ignored"}, nil
	} else if err != nil {
		return outcome{}, err
	}
	if old.SHA256 != fingerprint || old.Kind != "certificate" {
		c.Metrics.Renewals.WithLabelValues("ignored").Inc()
		return outcome{result: "ignored"}, nil
	}
	switch {
	case old.RenewalIdentityOf != "":
		return c.renewOffline(ctx, req, old)
	case isIdentityRequest(req):
		return c.issueRenewalIdentity(ctx, req, old)
	}
	if reason, why := c.refuseRenewal(req, old, old.User, false, c.MaxTTL); reason != "" {
		return c.refused(ctx, req, old, "renewal", reason, why)
	}
	return c.approveRenewal(ctx, req, old, "")
}

// refused counts and reports a request not approved for credential old,
// and denies it when the credential has ended for good (revoked, or its
// access over): that is the credential's own request, and its plugin
// stops asking once denied. Any other is left pending.
func (c *Controller) refused(ctx context.Context, req *certificatesv1.CertificateSigningRequest, old records.Record, what, reason, why string) (outcome, error) {
	c.Metrics.Renewals.WithLabelValues("refused").Inc()
	c.Metrics.Refusals.WithLabelValues("renewal", reason).Inc()
	c.event(req, corev1.EventTypeWarning, "RenewalRefused", "not approved as a %s of credential %s: %s", what, old.ID, why)
	c.Logf("renewal: request %s for credential %s of %s: not approved as a %s: %s", req.Name, old.ID, old.User, what, why)
	if reason == "revoked" || reason == "access-ended" {
		if err := csr.Deny(ctx, c.Client, req, fmt.Sprintf("kubeaccess controller: credential %s of %s cannot be renewed: %s", old.ID, old.User, why)); err != nil {
			return outcome{}, fmt.Errorf("denying request %s: %w", req.Name, err)
		}
	}
	return outcome{result: "refused"}, nil
}

// approveRenewal has the engine make the checks every issuance makes
// (escalation among them), approve req as old's renewal, and record it.
func (c *Controller) approveRenewal(ctx context.Context, req *certificatesv1.CertificateSigningRequest, old records.Record, how string) (outcome, error) {
	engine := c.Engine.Fresh()
	if ix := c.rbacIndex(); ix != nil {
		engine.UseIndex(ix)
	}
	res, err := engine.Execute(ctx, c.renewalPlan(req, old))
	if err != nil && (res == nil || res.RecordID == "") {
		c.Metrics.Renewals.WithLabelValues("refused").Inc()
		c.Metrics.Refusals.WithLabelValues("renewal", "checks").Inc()
		c.event(req, corev1.EventTypeWarning, "RenewalRefused", "not approved as a renewal of credential %s: %v", old.ID, err)
		c.Logf("renewal: request %s from credential %s of %s: %v", req.Name, old.ID, old.User, err)
		return outcome{result: "refused"}, nil
	}
	c.Metrics.Renewals.WithLabelValues("approved").Inc()
	c.event(req, corev1.EventTypeNormal, "RenewalApproved", "approved as the renewal of credential %s of %s%s, recorded as %s", old.ID, old.User, how, res.RecordID)
	c.Logf("renewal: request %s: credential %s of %s renewed%s as %s", req.Name, old.ID, old.User, how, res.RecordID)
	if err != nil {
		c.Logf("renewal: request %s: %v", req.Name, err)
	}
	return outcome{result: "approved"}, nil
}

// requesterCertificate is the SHA-256 fingerprint of the client
// certificate the request's requester authenticated with, as the API
// server recorded it; false when the requester did not use one.
func requesterCertificate(req *certificatesv1.CertificateSigningRequest) (string, bool) {
	ids := req.Spec.Extra[records.CredentialIDExtra]
	if len(ids) != 1 {
		return "", false
	}
	hex, ok := strings.CutPrefix(ids[0], "X509SHA256=")
	if !ok || len(hex) != 64 {
		return "", false
	}
	return strings.ToLower(hex), true
}

// refuseRenewal says why req may not renew old (or, asking for a renewal
// identity, be issued for it), as a metric's reason and for a person; ""
// when it may. requester is who must have asked; an expired certificate
// is renewed only offline, through its renewal identity; maxLifetime is
// the longest req may ask for.
func (c *Controller) refuseRenewal(req *certificatesv1.CertificateSigningRequest, old records.Record, requester string, offline bool,
	maxLifetime time.Duration) (string, string) {
	now := time.Now()
	lifetime := issue.RequestedLifetime(req)
	switch err := old.Check(); {
	case err != nil:
		return "tampered", fmt.Sprintf("its record fails its checks: %v", err)
	case old.Revoked != nil:
		return "revoked", fmt.Sprintf("it was revoked on %s", old.Revoked.Format(time.RFC3339))
	case old.ReplacedBy != "":
		return "superseded", fmt.Sprintf("it was renewed already, as %s: only a credential's current certificate renews it", old.ReplacedBy)
	case req.Spec.Username != requester:
		return "requester", fmt.Sprintf("the requester is %q, not %q", req.Spec.Username, requester)
	case !offline && !now.Before(old.NotAfter):
		return "expired", "it has expired"
	case old.Until != nil && !now.Before(*old.Until):
		return "access-ended", fmt.Sprintf("its access ended at %s", old.Until.Format(time.RFC3339))
	case req.Spec.ExpirationSeconds == nil || maxLifetime > 0 && lifetime > maxLifetime:
		return "lifetime", fmt.Sprintf("it asks for %s, more than the policy's %s (a renewal must set expirationSeconds)", lifetime, maxLifetime)
	case old.Until != nil && lifetime > max(time.Until(*old.Until), csr.MinTTL)+time.Minute:
		return "lifetime", fmt.Sprintf("it asks for %s, past the end of its access at %s", lifetime, old.Until.Format(time.RFC3339))
	}
	for _, u := range req.Spec.Usages {
		if !slices.Contains(allowedUsages, u) {
			return "usages", fmt.Sprintf("it asks for usage %q; a client certificate needs only %v", u, allowedUsages)
		}
	}
	return "", ""
}

// approvalPrefix starts the message of the controller's approvals; the
// record ID of the credential renewed follows it.
const approvalPrefix = "approved by kubeaccess controller: renewal of credential "

// renewalPlan is the engine's plan for renewing old by req: the same
// subject, access and deadline, linked to old's record.
func (c *Controller) renewalPlan(req *certificatesv1.CertificateSigningRequest, old records.Record) *issue.Plan {
	plan := &issue.Plan{
		Action: "renewal", Refusing: "refusing to approve the renewal",
		Subject: issue.Subject{User: old.User, Groups: old.Groups, CredentialGroup: old.CredentialGroup},
		Source: &issue.Existing{Request: req, Timeout: c.ApprovalTimeout, Instead: "the controller's signer did not sign: check kube-controller-manager",
			ApprovedBy: fmt.Sprintf("%s%s of %s", approvalPrefix, old.ID, old.User)},
		Namespace: old.Namespace, RecordsNamespace: c.RecordsNamespace, Replaces: old.ID, KeepsAccess: old.Access, Lineage: old.LineageID(),
		Policy: issue.Policy{MaxTTL: c.MaxTTL, Renewal: true},
	}
	if plan.Namespace == "" {
		plan.Namespace = "default"
	}
	if old.Until != nil {
		plan.AccessUntil = *old.Until
	}
	return plan
}

// approvedRenewalOf is the record ID of the credential an approval of the
// controller's renewed, or "" when req was not approved so.
func approvedRenewalOf(req *certificatesv1.CertificateSigningRequest) string {
	return approvedWith(req, approvalPrefix)
}

// approvedWith is the record ID that follows prefix in the message of
// req's approval, or "" when it was not approved with such a message.
func approvedWith(req *certificatesv1.CertificateSigningRequest, prefix string) string {
	for _, cond := range req.Status.Conditions {
		if cond.Type == certificatesv1.CertificateApproved {
			if rest, ok := strings.CutPrefix(cond.Message, prefix); ok {
				id, _, _ := strings.Cut(rest, " ")
				return id
			}
		}
	}
	return ""
}

// unrecorded reads what an approval of the controller's that was not
// recorded yet is about: the certificate issued to req, and the record
// id of the credential it was approved for. done, when set, is the
// outcome instead: nothing to record (recorded already, or that
// credential's record gone).
func (c *Controller) unrecorded(ctx context.Context, req *certificatesv1.CertificateSigningRequest, id string) (*x509.Certificate, records.Record, *outcome, error) {
	nothing := &outcome{result: "nothing"}
	cert, err := pki.ParseCertificate(req.Status.Certificate)
	if err != nil {
		return nil, records.Record{}, nothing, nil
	}
	store := records.Store{Client: c.Client, Namespace: c.RecordsNamespace}
	if _, err := store.Get(ctx, records.CertificateID(pki.Describe(cert).SHA256)); err == nil {
		return nil, records.Record{}, nothing, nil
	} else if !apierrors.IsNotFound(err) {
		return nil, records.Record{}, nil, err
	}
	old, err := store.Get(ctx, id)
	if apierrors.IsNotFound(err) {
		return nil, records.Record{}, nothing, nil
	} else if err != nil {
		return nil, records.Record{}, nil, err
	}
	return cert, old, nil, nil
}

// recordApproved records the certificate of a renewal the controller
// approved, if that approval's replica stopped before it could (a failover
// between approval and record): the certificate was issued once, and is
// recorded once, as replacing the credential that asked. It is recorded
// only when the request was that credential's own and is for its subject;
// a record that exists already is left as it is.
func (c *Controller) recordApproved(ctx context.Context, req *certificatesv1.CertificateSigningRequest) (outcome, error) {
	cert, old, done, err := c.unrecorded(ctx, req, approvedRenewalOf(req))
	if done != nil {
		return *done, nil
	} else if err != nil {
		return outcome{}, err
	}
	if fingerprint, ok := requesterCertificate(req); !ok || fingerprint != old.SHA256 && !c.identityRenews(ctx, fingerprint, old.ID) || old.Check() != nil {
		c.Metrics.Refusals.WithLabelValues("renewal", "unrecognised-approval").Inc()
		return outcome{result: "refused"}, nil
	}
	res, err := c.Engine.Record(ctx, c.renewalPlan(req, old), &issue.Credential{Via: "csr-api", CSRName: req.Name, CertificatePEM: req.Status.Certificate, Certificate: cert})
	if err != nil && (res == nil || res.RecordID == "") {
		return outcome{}, err
	}
	c.event(req, corev1.EventTypeNormal, "RenewalRecorded", "the certificate approved as the renewal of credential %s was recorded as %s after a failover", old.ID, res.RecordID)
	c.Logf("renewal: request %s: recorded the certificate approved before a failover as %s, replacing %s", req.Name, res.RecordID, old.ID)
	return outcome{result: "recorded"}, nil
}

// recordApprovedIdentity records the renewal identity the controller
// approved, if that approval's replica stopped before it could: when the
// request was the credential's own, and no record of it exists yet.
func (c *Controller) recordApprovedIdentity(ctx context.Context, req *certificatesv1.CertificateSigningRequest) (outcome, error) {
	_, old, done, err := c.unrecorded(ctx, req, approvedIdentityOf(req))
	if done != nil {
		return *done, nil
	} else if err != nil {
		return outcome{}, err
	}
	if fingerprint, ok := requesterCertificate(req); !ok || fingerprint != old.SHA256 || old.Check() != nil || !isIdentityRequest(req) {
		c.Metrics.Refusals.WithLabelValues("renewal", "unrecognised-approval").Inc()
		return outcome{result: "refused"}, nil
	}
	id, err := c.recordIdentity(ctx, req, old)
	if err != nil {
		return outcome{}, err
	}
	c.Logf("renewal: request %s: recorded the renewal identity approved before a failover as %s, of credential %s", req.Name, id, old.ID)
	return outcome{result: "recorded"}, nil
}

// rbacIndex is every role and binding as the team informers hold them, for
// a renewal's checks: the view a team's reconcile judges on, with the lag
// of a watch (as the API server's watch cache, which the engine would
// otherwise list all four kinds from, one list each per renewal). nil
// when the controller runs without teams, and so without those informers.
func (c *Controller) rbacIndex() *rbac.Index {
	if c.roles == nil || c.clusterRoles == nil || c.roleBindingIndex == nil || c.clusterRoleBindingIndex == nil {
		return nil
	}
	everything := labels.Everything()
	crs, err := c.clusterRoles.List(everything)
	if err != nil {
		return nil
	}
	roles, err := c.roles.List(everything)
	if err != nil {
		return nil
	}
	return rbac.IndexOf(ofType[*rbacv1.ClusterRoleBinding](c.clusterRoleBindingIndex.List()), ofType[*rbacv1.RoleBinding](c.roleBindingIndex.List()), crs, roles)
}
