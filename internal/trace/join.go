package trace

import (
	"bytes"
	"strings"
	"time"

	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

// The flags trace puts on an event.
const (
	// FlagRevoked: the credential is revoked now.
	FlagRevoked = "revoked"
	// FlagAfterRevocation: the request came after the revocation, which
	// a certificate outlives until it expires (see kubeaccess lock).
	FlagAfterRevocation = "used-after-revocation"
	// FlagAfterExpiry: the request came after the credential's record
	// says it expired, which the API server does not accept.
	FlagAfterExpiry = "used-after-expiry"
	// FlagUnknown: the credential carries a kubeaccess group or user name
	// but no record names it.
	FlagUnknown = "unknown-kubeaccess-credential"
	// FlagUntrusted: the record that names the credential disagrees
	// with its own certificate (records.Record.Check): it may be forged.
	FlagUntrusted = "untrusted-record"
)

// Credential is a credential's record as trace reports it.
type Credential struct {
	ID             string     `json:"id"`
	User           string     `json:"user"`
	Groups         []string   `json:"groups,omitempty"`
	ServiceAccount string     `json:"serviceAccount,omitempty"`
	Kind           string     `json:"kind"`
	How            string     `json:"how"`
	IssuedBy       string     `json:"issuedBy,omitempty"`
	IssuedAt       time.Time  `json:"issuedAt"`
	NotAfter       time.Time  `json:"notAfter"`
	Lineage        string     `json:"lineage"`
	Team           string     `json:"team,omitempty"`
	Revoked        *time.Time `json:"revoked,omitempty"`
	RevokedBy      string     `json:"revokedBy,omitempty"`
	// RenewalIdentityOf, for a renewal identity, is the credential
	// (lineage) it renews: it acts for that credential.
	RenewalIdentityOf string `json:"renewalIdentityOf,omitempty"`
	// Untrusted says why the record is not believed.
	Untrusted string `json:"untrusted,omitempty"`
}

// Status is the credential's state at now: active, expired or revoked.
func (c *Credential) Status(now time.Time) string {
	switch {
	case c.Untrusted != "":
		return "untrusted"
	case c.Revoked != nil:
		return "revoked"
	case !now.Before(c.NotAfter):
		return "expired"
	}
	return "active"
}

// Attribution is one event joined to the credential it was made with.
type Attribution struct {
	AuditID    string    `json:"auditID"`
	Stage      string    `json:"stage,omitempty"`
	Time       time.Time `json:"time"`
	Verb       string    `json:"verb"`
	RequestURI string    `json:"requestURI"`
	// Request names what was asked: "get pods/log development/web".
	Request      string `json:"request"`
	User         string `json:"user"`
	As           string `json:"impersonatedUser,omitempty"`
	Code         int32  `json:"code,omitempty"`
	CredentialID string `json:"credentialID,omitempty"`
	// Credential is nil for a kubeaccess credential no record names.
	Credential *Credential `json:"credential,omitempty"`
	Flags      []string    `json:"flags,omitempty"`

	event *Event
}

// Event is the audit event attributed.
func (a *Attribution) Event() *Event { return a.event }

// Detached is the attribution without its event, to keep many of them.
func (a *Attribution) Detached() *Attribution {
	c := *a
	c.event = nil
	return &c
}

// Tracer attributes events to the credentials of a set of records.
type Tracer struct {
	byID map[string]*Credential
}

// New indexes recs by the API server's credential IDs: a certificate's
// X509SHA256=<fingerprint>, a token's JTI=<id>. untrusted names the
// records (by ID) that failed records.Record.Check, and why.
func New(recs []records.Record, untrusted map[string]string) *Tracer {
	t := &Tracer{byID: map[string]*Credential{}}
	revokedLineage := map[string]*records.Record{}
	byRecord := map[string]records.Record{}
	for _, r := range recs {
		byRecord[r.ID] = r
		if r.Revoked == nil {
			continue
		}
		// A revocation ends the credential: every renewal of it, and its
		// renewal identities, whichever record revoke marked.
		if old, ok := revokedLineage[r.LineageID()]; !ok || r.Revoked.Before(*old.Revoked) {
			revokedLineage[r.LineageID()] = &r
		}
	}
	for _, r := range recs {
		c := &Credential{
			ID: r.ID, User: r.User, Groups: r.Groups, ServiceAccount: r.ServiceAccount, Kind: r.Kind, How: How(r, byRecord),
			IssuedBy: r.IssuedBy, IssuedAt: r.IssuedAt, NotAfter: r.NotAfter, Lineage: r.LineageID(), Team: r.Team,
			Revoked: r.Revoked, RevokedBy: r.RevokedBy, Untrusted: untrusted[r.ID],
		}
		lineage := c.Lineage
		if r.RenewalIdentityOf != "" {
			lineage = r.RenewalIdentityOf
			if of, ok := byRecord[r.RenewalIdentityOf]; ok {
				lineage = of.LineageID()
			}
			c.RenewalIdentityOf = lineage
		}
		if rev, ok := revokedLineage[lineage]; ok && (c.Revoked == nil || rev.Revoked.Before(*c.Revoked)) {
			c.Revoked, c.RevokedBy = rev.Revoked, rev.RevokedBy
		}
		for _, id := range r.CredentialIDs() {
			t.byID[id] = c
		}
	}
	return t
}

// How says how a record's credential came to be, as trace prints it.
func How(r records.Record, byRecord map[string]records.Record) string {
	switch {
	case r.RenewalIdentityOf != "":
		return "renewal identity"
	case r.Replaces != "" || r.Action == "renewal":
		if first, ok := byRecord[r.LineageID()]; ok && first.ID != r.ID {
			return "renewal of " + How(first, nil)
		}
		return "renewal"
	case r.Team != "":
		return "team " + r.Team
	case r.IssuedVia == "portal" || r.Action == "invitation":
		return "portal"
	}
	switch r.Action {
	case "approval":
		return "approve"
	case "signing":
		return "sign"
	case "grant", "token":
		return r.Action
	}
	// Records written before they kept the action.
	switch {
	case r.Kind == "token":
		return "token"
	case r.IssuedVia == "offline-ca":
		return "grant (offline CA)"
	}
	return "grant or approve"
}

// mayConcern reports, without decoding it, whether an event line can be
// one trace attributes: it holds a recorded credential's ID, or names a
// kubeaccess group, user or binding (all begin "kubeaccess:"). An event
// whose line holds none of these has neither in its user nor in its
// authorization reason, so decoding it would find nothing to report.
func (t *Tracer) mayConcern(line []byte) bool {
	if bytes.Contains(line, kubeaccessPrefix) {
		return true
	}
	for _, prefix := range idPrefixes {
		rest := line
		for {
			i := bytes.Index(rest, prefix)
			if i < 0 {
				break
			}
			rest = rest[i:]
			end := bytes.IndexByte(rest, '"')
			if end < 0 {
				break
			}
			if _, ok := t.byID[string(rest[:end])]; ok {
				return true
			}
			rest = rest[end:]
		}
	}
	return false
}

var (
	kubeaccessPrefix = []byte("kubeaccess:")
	idPrefixes       = [][]byte{[]byte(records.CertificateCredentialPrefix), []byte(records.TokenCredentialPrefix)}
)

// decode reads a line that may concern kubeaccess (mayConcern) and joins
// its event to its credential; the attribution is nil when the event was
// not made with a kubeaccess credential.
func (t *Tracer) decode(line []byte) (*Event, *Attribution, error) {
	e, err := Decode(line)
	if err != nil {
		return nil, nil, err
	}
	return e, t.AttributeEvent(e), nil
}

// AttributeEvent joins a decoded event to its credential: nil when it was
// not made with a kubeaccess credential.
func (t *Tracer) AttributeEvent(e *Event) *Attribution {
	id := e.CredentialID()
	c := t.byID[id]
	if c == nil && !kubeaccessIdentity(e) {
		return nil
	}
	a := &Attribution{
		AuditID: e.AuditID, Stage: e.Stage, Time: e.Received, Verb: e.Verb, RequestURI: e.RequestURI,
		User: e.User.Username, Code: e.Code(), CredentialID: id, Credential: c, Request: e.What(), event: e,
	}
	if e.ImpersonatedUser != nil {
		a.As = e.ImpersonatedUser.Username
	}
	switch {
	case c == nil:
		a.Flags = append(a.Flags, FlagUnknown)
	case c.Untrusted != "":
		a.Flags = append(a.Flags, FlagUntrusted)
	default:
		if c.Revoked != nil {
			a.Flags = append(a.Flags, FlagRevoked)
			if e.Received.After(*c.Revoked) {
				a.Flags = append(a.Flags, FlagAfterRevocation)
			}
		}
		if !e.Received.IsZero() && e.Received.After(c.NotAfter) {
			a.Flags = append(a.Flags, FlagAfterExpiry)
		}
	}
	return a
}

// kubeaccessIdentity reports whether the event's credential is one only
// kubeaccess issues: a certificate with a per-credential group, or a
// renewal identity.
func kubeaccessIdentity(e *Event) bool {
	if strings.HasPrefix(e.User.Username, pki.RenewalIdentityPrefix) {
		return true
	}
	for _, g := range e.User.Groups {
		if strings.HasPrefix(g, pki.CredentialGroupPrefix) {
			return true
		}
	}
	return false
}
