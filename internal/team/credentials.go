package team

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubeaccess/kubeaccess/internal/credential"
	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

// What a credential needs.
const (
	Issue  = "issue"
	Renew  = "renew"
	Revoke = "revoke"
)

// Credential is a member's credential: the one in the output directory
// when it is valid and this team's, and what it needs.
type Credential struct {
	Member
	// Path is the member's kubeconfig in the output directory.
	Path string
	// Action is Issue, Renew, or "" for nothing.
	Action string
	Reason string
	// Current is the record of the credential in Path, when it is one of
	// this team's and not revoked.
	Current *records.Record
	// Replace lets the new kubeconfig replace the file in Path.
	Replace bool
	// Refused says why nothing can be done: a file in Path that is not
	// this team's, which only --force replaces.
	Refused string
}

// Kind is "user" or "service account", for messages.
func (c Credential) Kind() string {
	if c.ServiceAccount != "" {
		return "service account"
	}
	return "user"
}

// UserPath and ServiceAccountPath are where apply writes kubeconfigs.
func UserPath(dir, user string) string { return filepath.Join(dir, "users", user+".kubeconfig") }

// ServiceAccountPath is DIR/serviceaccounts/NAMESPACE/NAME.kubeconfig.
func ServiceAccountPath(dir, namespace, name string) string {
	return filepath.Join(dir, "serviceaccounts", namespace, name+".kubeconfig")
}

// RenewWindow is how long before its expiry a credential of lifetime is
// renewed: renewBefore, unless that is not shorter than the lifetime
// (a 24h certificate under renewBefore: 168h would be renewed at every
// apply), in which case the last third of it, as cert-manager does.
func RenewWindow(renewBefore, lifetime time.Duration) time.Duration {
	if renewBefore > 0 && renewBefore < lifetime {
		return renewBefore
	}
	return lifetime / 3
}

// Credentials works out, for each member, whether the kubeconfig in dir
// holds a valid credential of this team (the file is read, but trusted only
// as far as a record of the team matches it) and what it needs; force lets
// a file that is not this team's be replaced.
func (r *Resolved) Credentials(dir string, recs []records.Record, now time.Time, force bool) []Credential {
	byID := map[string]*records.Record{}
	for i := range recs {
		byID[recs[i].ID] = &recs[i]
	}
	renewBefore := r.File.Spec.RenewBefore.Duration
	var out []Credential
	for _, m := range slices.Concat(r.Users, r.ServiceAccounts) {
		c := Credential{Member: m, Path: UserPath(dir, m.Name)}
		c.Lifetime = m.LifetimeAt(now)
		if m.ServiceAccount != "" {
			c.Path = ServiceAccountPath(dir, m.Namespace, m.ServiceAccount)
		}
		c.decide(byID, now, renewBefore, force)
		out = append(out, c)
	}
	return out
}

func (c *Credential) decide(byID map[string]*records.Record, now time.Time, renewBefore time.Duration, force bool) {
	id, notAfter, err := c.inFile()
	switch {
	case os.IsNotExist(err):
		c.Action, c.Reason = Issue, "new"
		return
	case err != nil:
		c.unknownFile(force, err.Error())
		return
	}
	rec := byID[id]
	switch {
	case rec == nil || rec.User != c.identity():
		c.unknownFile(force, "it holds no credential this team issued to "+c.identity())
		return
	case rec.Revoked != nil:
		c.Action, c.Reason, c.Replace = Issue, "its credential was revoked", true
		return
	}
	c.Replace = true
	lifetime := rec.NotAfter.Sub(rec.NotBefore)
	left := notAfter.Sub(now)
	switch {
	case left <= 0:
		c.Action, c.Reason = Issue, "its credential expired"
	case left < RenewWindow(renewBefore, lifetime):
		c.Action, c.Reason, c.Current = Renew, fmt.Sprintf("expires in %s", left.Round(time.Minute)), rec
	default:
		c.Current = rec
	}
}

// identity is the user name the API server sees for the member.
func (m Member) identity() string {
	if m.ServiceAccount != "" {
		return rbac.ServiceAccountUser(m.Namespace, m.ServiceAccount).Name
	}
	return m.Name
}

// unknownFile refuses to replace a file that is not this team's, unless
// forced.
func (c *Credential) unknownFile(force bool, why string) {
	if force {
		c.Action, c.Reason, c.Replace = Issue, "replacing "+c.Path+" (--force): "+why, true
		return
	}
	c.Refused = fmt.Sprintf("%s exists and %s; pass --force to replace it", c.Path, why)
}

// inFile reads the record ID and expiry of the credential in Path.
func (c *Credential) inFile() (id string, notAfter time.Time, err error) {
	if _, err := os.Lstat(c.Path); err != nil {
		return "", time.Time{}, err
	}
	cfg, err := clientcmd.LoadFromFile(c.Path)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("it is not a kubeconfig (%v)", err)
	}
	_, auth, err := kubeconfig.UserEntry(cfg, c.Path, "")
	if err != nil {
		return "", time.Time{}, err
	}
	if c.ServiceAccount != "" {
		claims, err := credential.ParseToken(auth.Token)
		if err != nil {
			return "", time.Time{}, fmt.Errorf("it holds no token (%v)", err)
		}
		return records.TokenID(auth.Token), claims.ExpiresAt, nil
	}
	cert, err := pki.ParseCertificate(auth.ClientCertificateData)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("it holds no client certificate (%v)", err)
	}
	if cert.Subject.CommonName != c.Name {
		return "", time.Time{}, fmt.Errorf("its certificate is %q's", cert.Subject.CommonName)
	}
	return records.CertificateID(pki.Describe(cert).SHA256), cert.NotAfter, nil
}

// Removed are the team's records, not yet revoked nor expired, of users
// and service accounts the file no longer has: their access is taken
// away, and these are marked revoked.
func (r *Resolved) Removed(recs []records.Record, now time.Time) []records.Record {
	keep := map[string]bool{}
	for _, m := range slices.Concat(r.Users, r.ServiceAccounts) {
		keep[m.identity()] = true
	}
	var out []records.Record
	for _, rec := range recs {
		if rec.Revoked == nil && now.Before(rec.NotAfter) && !keep[rec.User] {
			out = append(out, rec)
		}
	}
	return out
}
