package issue

import (
	"context"
	"fmt"
	"time"

	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

// keepRecord saves the record of the credential and returns where it is.
func (x *Execution) keepRecord(ctx context.Context, res *Result) (string, error) {
	p := x.Plan
	if p.RecordsNamespace == "" {
		return "", nil
	}
	r := recordOf(p, res)
	if err := x.records().Save(ctx, r); err != nil {
		return "", err
	}
	res.RecordID, res.AccessUntil = r.ID, r.Until
	if p.Replaces != "" {
		if err := x.linkReplaced(ctx, r); err != nil {
			return p.RecordsNamespace + "/" + r.ID, err
		}
	}
	return p.RecordsNamespace + "/" + r.ID, nil
}

// recordOf is what the inventory keeps of the credential p issued: never
// a key or a token.
func recordOf(p *Plan, res *Result) records.Record {
	cred := res.Credential
	r := records.Record{
		User: p.Subject.User, Groups: p.Subject.Groups, Kind: cred.Kind(), IssuedVia: cred.Via, Action: p.Action,
		IssuedAt: time.Now().UTC().Truncate(time.Second), IssuedBy: res.IssuedBy,
		Access: records.Describe(res.Changes), Namespace: p.Namespace, TTL: p.Source.Lifetime().String(),
		CredentialGroup: p.Subject.CredentialGroup, Team: p.Team, Replaces: p.Replaces, Lineage: p.Lineage,
	}
	if len(r.Access) == 0 {
		r.Access = p.KeepsAccess
	}
	if !p.AccessUntil.IsZero() {
		// Kept to the second, rounded up: access never ends early.
		until := p.AccessUntil.UTC().Truncate(time.Second)
		if until.Before(p.AccessUntil) {
			until = until.Add(time.Second)
		}
		r.Until = &until
	}
	if p.IssuedBy != "" {
		r.IssuedBy = p.IssuedBy
	}
	if p.Via != "" {
		r.IssuedVia = p.Via
	}
	if cred.Token != "" {
		r.ID, r.JTI, r.Issuer = records.TokenID(cred.Token), cred.Claims.ID, cred.Claims.Issuer
		r.NotBefore, r.NotAfter = time.Now().UTC().Truncate(time.Second), cred.Claims.ExpiresAt
		sa := p.Subject.ServiceAccount
		r.ServiceAccount, r.BoundSecret = sa.Namespace+"/"+sa.Name, cred.BoundSecret
		return r
	}
	info := pki.Describe(cred.Certificate)
	r.ID, r.Serial, r.SHA256, r.Issuer = records.CertificateID(info.SHA256), info.Serial, info.SHA256, info.Issuer
	r.NotBefore, r.NotAfter, r.CSR, r.Certificate = info.NotBefore, info.NotAfter, cred.CSRName, string(cred.CertificatePEM)
	return r
}

// records is the store of the plan's records.
func (x *Execution) records() records.Store {
	return records.Store{Client: x.Client, Namespace: x.Plan.RecordsNamespace}
}

// linkReplaced points the renewed credential's record at its successor r,
// so that list shows it renewed. When the old record was revoked
// meanwhile, the revocation passes on to r (a revocation that reads the
// old record after this link passes it on itself: see revoke.MarkRevoked),
// so that a renewal racing a revocation never outlives it.
func (x *Execution) linkReplaced(ctx context.Context, r records.Record) error {
	p := x.Plan
	var revoked *records.Record
	err := x.records().Modify(ctx, p.Replaces, func(old *records.Record) error {
		if old.Revoked != nil {
			o := *old
			revoked = &o
			return nil
		}
		old.ReplacedBy = r.ID
		return nil
	})
	if err != nil {
		return fmt.Errorf("the record %s it replaces was not linked to %s: %w", p.Replaces, r.ID, err)
	}
	if revoked == nil {
		return nil
	}
	err = x.records().Modify(ctx, r.ID, func(fresh *records.Record) error {
		if fresh.Revoked == nil {
			fresh.Revoked, fresh.RevokedBy = revoked.Revoked, revoked.RevokedBy
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("the credential it renews, %s, was revoked meanwhile, and the new one could not be recorded revoked too: %w", p.Replaces, err)
	}
	return failure.UsageErrorf("the credential it renews, %s, was revoked meanwhile (by %s): the new one, %s, is recorded revoked too, and has none of the old one's access",
		p.Replaces, revoked.RevokedBy, r.ID)
}

// Record keeps the record of a certificate issued for p outside an
// Execute (a renewal approved by a controller that stopped before it could
// record it): as Execute would have kept it, linked to the record p
// replaces. The certificate must be for exactly p's subject.
func (e *Engine) Record(ctx context.Context, p *Plan, cred *Credential) (*Result, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if cred.Certificate == nil {
		return nil, fmt.Errorf("only a certificate is recorded after the fact")
	}
	if info := pki.Describe(cred.Certificate); info.User != p.Subject.User || !pki.SameGroups(info.Groups, p.Subject.Groups) {
		return nil, failure.UsageErrorf("the certificate is for %q in %q, not %q in %q", info.User, info.Groups, p.Subject.User, p.Subject.Groups)
	}
	x := &Execution{Engine: e, Plan: p, Client: e.client}
	res := &Result{Subject: p.Subject, Credential: cred}
	if issuer, err := e.WhoIssues(ctx); err == nil && issuer != nil {
		res.IssuedBy = issuer.Username
	}
	var err error
	res.Record, err = x.keepRecord(ctx, res)
	return res, err
}
