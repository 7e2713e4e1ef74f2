// Package renew replaces a credential in a kubeconfig with a fresh one for
// the same subject, groups, lifetime and access, by the path that issued
// it, as an ordinary plan of the issuance engine: the engine makes every
// check an issue makes, writes the new credential into the file's user
// entry, links the old record to the new one, and verifies it. The record
// is only a hint: who the credential is for comes from the credential
// itself, which the cluster must have issued. It knows no command line and
// prints nothing, so a controller can renew as kubeaccess renew does.
package renew

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubeaccess/kubeaccess/internal/credential"
	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/lifetime"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

// Renewer renews credentials with one engine. Its calls share only the
// engine, which is safe for concurrent use.
type Renewer struct {
	Engine           *issue.Engine
	RecordsNamespace string
	// ClusterCA is the CA of the renewer's own connection, which a
	// certificate being renewed may chain to besides the cluster's client
	// CA; Authority, when set, signs certificates issued offline, and its
	// certificate is one more CA to chain to.
	ClusterCA []byte
	Authority *pki.Authority
	// KeyType is the type of a new certificate's key.
	KeyType pki.KeyType
	// Timeout bounds the wait for a certificate.
	Timeout time.Duration
	// MaxTTL caps the renewed lifetime.
	MaxTTL          time.Duration
	AllowPrivileged bool
	DryRun          issue.DryRun
	// Events receives the engine's events and the renewer's warnings.
	Events func(issue.Event)
}

// Request is one kubeconfig to renew: its user entry User (the current
// context's when ""), only when it expires within Within (when set).
type Request struct {
	Kubeconfig string
	User       string
	Within     time.Duration
}

// Outcome is what a renewal found and did.
type Outcome struct {
	// User is the user entry renewed.
	User string
	// Due is false when the credential expires later than the window;
	// ExpiresAt is then when.
	Due       bool
	ExpiresAt time.Time
	// Old is the record of the credential renewed.
	Old records.Record
	// Result is the engine's: the new credential, its record ID, and in a
	// dry run the objects it would create.
	Result *issue.Result
}

// Renew renews the credential of req's user entry if it is due.
func (r *Renewer) Renew(ctx context.Context, req Request) (*Outcome, error) {
	name, auth, err := load(req.Kubeconfig, req.User)
	if err != nil {
		return nil, err
	}
	out := &Outcome{User: name}
	cred, err := identify(auth)
	if err != nil {
		return nil, err
	}
	out.ExpiresAt = cred.notAfter
	if req.Within > 0 && time.Until(cred.notAfter) > req.Within {
		return out, nil
	}
	out.Due = true
	store := records.Store{Client: r.Engine.Client(), Namespace: r.RecordsNamespace}
	old, err := store.Get(ctx, cred.id)
	if err != nil {
		return nil, failure.UsageErrorf("%w: kubeaccess keeps no record of this credential, so it does not know how to renew it", err)
	}
	out.Old = old
	if old.Revoked != nil {
		return nil, failure.UsageErrorf("credential %s of %s was revoked on %s; grant anew instead", old.ID, old.User, old.Revoked.Format(time.RFC3339))
	}
	if old.Until != nil && !time.Now().Before(*old.Until) {
		return nil, failure.UsageErrorf("credential %s of %s gave access until %s, which has passed; grant anew instead", old.ID, old.User, old.Until.Format(time.RFC3339))
	}
	who, err := r.trust(ctx, req.Kubeconfig, old, cred)
	if err != nil {
		return nil, err
	}
	ttl := r.lifetime(old)
	if old.Until != nil {
		// A renewal never outlasts access that ends by itself.
		ttl = min(ttl, max(time.Until(*old.Until).Round(time.Second), csr.MinTTL))
	}
	plan, err := r.plan(old, who, ttl)
	if err != nil {
		return nil, err
	}
	plan.Destination = issue.Destination{Replace: req.Kubeconfig, User: name}
	if out.Result, err = r.Engine.Execute(ctx, plan); err != nil {
		return out, err
	}
	return out, nil
}

// load reads the kubeconfig and picks the user entry, refusing one that
// kubeaccess would not connect with (see kubeconfig.RESTConfigFor).
func load(path, user string) (string, *clientcmdapi.AuthInfo, error) {
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return "", nil, failure.UsageErrorf("reading %s: %w", path, err)
	}
	name, auth, err := kubeconfig.UserEntry(cfg, path, user)
	if err != nil {
		return "", nil, failure.UsageErrorf("%w", err)
	}
	if _, err := kubeconfig.RESTConfigFor(cfg, path, name); err != nil {
		return "", nil, failure.UsageErrorf("%w", err)
	}
	return name, auth, nil
}

// credentialInFile is the credential of the entry being renewed.
type credentialInFile struct {
	id       string
	notAfter time.Time
	cert     *x509.Certificate
	token    string
}

// identify finds the record ID and expiry of the entry's credential.
func identify(auth *clientcmdapi.AuthInfo) (credentialInFile, error) {
	switch {
	case len(auth.ClientCertificateData) > 0:
		cert, err := pki.ParseCertificate(auth.ClientCertificateData)
		if err != nil {
			return credentialInFile{}, failure.UsageErrorf("reading the client certificate: %w", err)
		}
		return credentialInFile{id: records.CertificateID(pki.Describe(cert).SHA256), notAfter: cert.NotAfter, cert: cert}, nil
	case auth.Token != "":
		claims, err := credential.ParseToken(auth.Token)
		if err != nil {
			return credentialInFile{}, failure.UsageErrorf("reading the token: %w", err)
		}
		return credentialInFile{id: records.TokenID(auth.Token), notAfter: claims.ExpiresAt, token: auth.Token}, nil
	}
	return credentialInFile{}, failure.UsageErrorf("the user entry holds neither an embedded client certificate nor a token")
}

// plan renews by the old credential's path: a token from the TokenRequest
// API, a certificate signed offline by the Authority, or through the CSR
// API; the engine links the old record, and the new one keeps its access.
func (r *Renewer) plan(old records.Record, who subject, ttl time.Duration) (*issue.Plan, error) {
	p := &issue.Plan{
		Action: "renewal", Refusing: "refusing to renew", Namespace: old.Namespace,
		RecordsNamespace: r.RecordsNamespace, Replaces: old.ID, KeepsAccess: old.Access,
		Policy: issue.Policy{AllowPrivileged: r.AllowPrivileged, MaxTTL: r.MaxTTL, Renewal: true},
		DryRun: r.DryRun, Events: r.Events,
	}
	if p.Namespace == "" {
		p.Namespace = "default"
	}
	if old.Until != nil {
		p.AccessUntil = *old.Until
	}
	if old.Kind == "token" {
		p.Subject, p.Namespace = issue.ServiceAccountSubject(who.namespace, who.serviceAccount), who.namespace
		p.Source = &issue.Token{Audiences: who.audiences, Duration: ttl, BoundSecret: who.boundSecret}
		return p, nil
	}
	p.Subject = issue.Subject{User: who.user, Groups: who.groups, CredentialGroup: old.CredentialGroup}
	switch {
	case old.IssuedVia == "offline-ca" && r.Authority == nil:
		return nil, failure.UsageErrorf("credential %s was signed offline: give --ca-cert and --ca-key to renew it the same way", old.ID)
	case old.IssuedVia == "offline-ca":
		p.Source = &issue.Authority{CA: r.Authority, KeyType: r.KeyType, TTL: ttl}
	default:
		p.Source = &issue.CSR{KeyType: r.KeyType, TTL: ttl, Approve: true, Timeout: r.Timeout, ApprovedBy: "approved by kubeaccess renew for " + who.user,
			Instead: "sign the renewal offline: kubeaccess request, then kubeaccess sign --ca-cert --ca-key"}
	}
	return p, nil
}

// lifetime is the recorded lifetime, capped by MaxTTL.
func (r *Renewer) lifetime(old records.Record) time.Duration {
	ttl, err := time.ParseDuration(old.TTL)
	if err != nil || ttl <= 0 {
		ttl = old.NotAfter.Sub(old.NotBefore)
	}
	if r.MaxTTL > 0 && ttl > r.MaxTTL {
		r.warn("the recorded lifetime %s is longer than --max-ttl %s; renewing for %s", ttl, lifetime.Format(r.MaxTTL), r.MaxTTL)
		return r.MaxTTL
	}
	return ttl
}

func (r *Renewer) warn(format string, args ...any) {
	if r.Events != nil {
		r.Events(issue.Event{Kind: issue.Warning, Message: fmt.Sprintf(format, args...)})
	}
}
