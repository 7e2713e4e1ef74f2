// Package invite keeps self-service invites in the cluster: one-time links
// that fix an identity and its access, redeemed by a browser that makes its
// own key (see internal/portal). Only a hash of each link's token is
// stored, and every invite is sealed with a key that only those who may
// read Secrets in the records namespace hold, so that whoever can merely
// write ConfigMaps there cannot forge or alter one.
package invite

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"

	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/privilege"
)

// DefaultPublicURL is where kubeaccess serve is reached unless told
// otherwise, for the links invite prints.
const DefaultPublicURL = "https://localhost:8443"

// TokenBytes is the randomness of a link's token: 256 bits.
const TokenBytes = 32

// The approval modes of an invite.
const (
	ApprovalAuto   = "auto"
	ApprovalManual = "manual"
)

// The states of an invite.
const (
	StateOpen      = "open"      // not used yet
	StateRedeeming = "redeeming" // a browser's request is being issued
	StateUsed      = "used"      // issued: the link is spent
	StateRevoked   = "revoked"
)

// Invite is one invite: who may come, with what access, until when.
type Invite struct {
	ID        string           `json:"id"`
	TokenHash string           `json:"tokenSHA256"`
	User      string           `json:"user"`
	Groups    []string         `json:"groups,omitempty"`
	Namespace string           `json:"namespace"`
	Access    issue.AccessSpec `json:"access"`
	// CreateNamespace creates the namespace at redemption when missing.
	CreateNamespace bool   `json:"createNamespace,omitempty"`
	TTL             string `json:"ttl"`
	Approval        string `json:"approval"`
	// AllowExistingAccess issues even to a user whom bindings kubeaccess
	// did not make already name.
	AllowExistingAccess bool `json:"allowExistingAccess,omitempty"`
	// For, when set, is how long the access lasts once the link is used
	// (invite --for): it is bound to CredentialGroup, one of Groups minted
	// for this invitation's certificate alone, and ends by itself.
	For             string `json:"for,omitempty"`
	CredentialGroup string `json:"credentialGroup,omitempty"`
	// CreatedBy is who made the invite, as the API server saw them, and
	// Creator all it authenticated them with (SelfSubjectReview), sealed:
	// the access is bound only as far as they could bind it themselves,
	// checked when the invite is made and again when it is used.
	CreatedBy string                     `json:"createdBy"`
	Creator   *authenticationv1.UserInfo `json:"creator,omitempty"`
	CreatedAt time.Time                  `json:"createdAt"`
	ExpiresAt time.Time                  `json:"expiresAt"`

	// Team, when set, is the TeamAccess this invitation is for (made by
	// kubeaccess controller, on the TeamAccess's author's behalf): the
	// credential is the team's, recorded as such, and the controller binds
	// the team's access once it exists. TeamUID is the TeamAccess object's,
	// Serial counts the member's invitations of it, Grants are what the
	// team's bindings would give the member (the privilege check counts
	// them as held), and Until is when the member's access ends.
	// Renewing, when set, lets the certificate renew itself: it is bound
	// the renewer role, and the kubeconfig the page assembles says so,
	// for kubeaccess complete on the holder's side.
	Renewing *kubeconfig.Renewing `json:"renewing,omitempty"`
	Team     string               `json:"team,omitempty"`
	TeamUID  string               `json:"teamUID,omitempty"`
	Serial   int                  `json:"serial,omitempty"`
	Grants   []privilege.Grant    `json:"grants,omitempty"`
	Until    *time.Time           `json:"until,omitempty"`

	State string `json:"state"`
	// CSR is the request made when the link was used, Record the
	// credential's record, UsedAt when it was issued.
	CSR string `json:"certificateSigningRequest,omitempty"`
	// Request identifies the very request the redemption made, so that an
	// admin's approval applies to it alone.
	Request *RequestID `json:"request,omitempty"`
	Record  string     `json:"record,omitempty"`
	UsedAt  *time.Time `json:"usedAt,omitempty"`
	Revoked *time.Time `json:"revoked,omitempty"`
}

// RequestID is a CertificateSigningRequest as the API server created it:
// its UID, who the server saw submit it, and a hash of the PKCS#10 bytes.
type RequestID struct {
	UID           string `json:"uid"`
	Requester     string `json:"requester"`
	RequestSHA256 string `json:"requestSHA256"`
}

// IdentifyRequest is the RequestID of req.
func IdentifyRequest(req *certificatesv1.CertificateSigningRequest) *RequestID {
	sum := sha256.Sum256(req.Spec.Request)
	return &RequestID{UID: string(req.UID), Requester: req.Spec.Username, RequestSHA256: hex.EncodeToString(sum[:])}
}

// Lifetime is the certificate's lifetime the invite asks for: no longer
// than access that ends by itself (but at least what the CSR API takes).
func (i *Invite) Lifetime() time.Duration {
	d, _ := time.ParseDuration(i.TTL)
	if access := i.AccessFor(); access > 0 {
		return max(min(d, access), csr.MinTTL)
	}
	if i.Until != nil {
		return max(min(d, time.Until(*i.Until)), csr.MinTTL)
	}
	return d
}

// AccessFor is how long the access lasts once the link is used; 0 when it
// does not end by itself.
func (i *Invite) AccessFor() time.Duration {
	d, _ := time.ParseDuration(i.For)
	return d
}

// Usable says why the invite's link cannot be used now, or "" if it can.
func (i *Invite) Usable(now time.Time) string {
	switch {
	case i.State == StateRevoked || i.Revoked != nil:
		return "this invitation was revoked"
	case i.State == StateUsed:
		return "this invitation was already used: each link works once"
	case i.State == StateRedeeming:
		return "this invitation is being used right now"
	case !now.Before(i.ExpiresAt):
		return fmt.Sprintf("this invitation expired on %s", i.ExpiresAt.Format(time.RFC1123))
	case i.Creator == nil:
		return "this invitation was made by an older kubeaccess, which did not seal who made it: ask for a new one"
	}
	return ""
}

// Plan is the engine's plan for the invite's credential, from source: the
// invite's subject and access, with grant's policy.
func Plan(inv *Invite, source issue.Source, recordsNamespace string, maxTTL time.Duration) *issue.Plan {
	p := &issue.Plan{
		Action: "invitation", Refusing: "refusing to issue",
		Subject: issue.Subject{User: inv.User, Groups: inv.Groups, CredentialGroup: inv.CredentialGroup},
		Source:  source, Access: inv.Access, Namespace: inv.Namespace, CreateNamespace: inv.CreateNamespace,
		RecordsNamespace: recordsNamespace,
		Policy:           issue.Policy{MaxTTL: maxTTL, RefuseExistingAccess: !inv.AllowExistingAccess},
		OnBehalfOf:       inv.Creator,
	}
	if access := inv.AccessFor(); access > 0 {
		p.AccessUntil = time.Now().Add(access)
	}
	if r := inv.Renewing; r != nil {
		// Sealed with the invitation, so read as written.
		p.Destination.Renewable = true
		_, p.Destination.RenewBefore, p.Destination.OfflineFor, _ = r.Durations()
	}
	if inv.Team != "" {
		p.Team, p.Bound.Grants = inv.Team, inv.Grants
		if inv.Until != nil {
			p.AccessUntil = *inv.Until
		}
	}
	return p
}

// TeamToken is the link token of a team's invitation: derived, with the
// invitation key, from the TeamAccess object, the member and the serial,
// so that whichever replica of kubeaccess controller makes it (before or
// after a failover, once or twice) makes the very same invitation, never a
// second one. Only those who hold the key, who could seal any invitation
// anyway, can derive it; a new TeamAccess object (a new UID) or a new
// serial gives a new token.
func TeamToken(key []byte, teamUID, user string, serial int) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "kubeaccess team invitation\x00%s\x00%s\x00%d", teamUID, user, serial)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// NewToken returns a fresh link token and its hash, as stored.
func NewToken() (token, hash string, err error) {
	b := make([]byte, TokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token), nil
}

// HashToken is the SHA-256 of a token, hex.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// IDOf is the invite ID of a token hash: its first 16 hex digits, which
// name the invite's object, so that a token finds its invite in one read.
func IDOf(hash string) string { return "i-" + hash[:16] }

// Matches compares a token with the invite's stored hash in constant time.
func (i *Invite) Matches(token string) bool {
	got := HashToken(token)
	return subtle.ConstantTimeCompare([]byte(got), []byte(i.TokenHash)) == 1
}

// ErrTampered is an invite whose seal does not match its content.
var ErrTampered = errors.New("the invitation was changed by someone without the invitation key, so it is not trusted")

// seal is the HMAC-SHA256 of the invite's JSON with key.
func seal(key []byte, data []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return hex.EncodeToString(m.Sum(nil))
}

// Seal returns the invite's JSON and its seal.
func (i *Invite) Seal(key []byte) (data []byte, mac string, err error) {
	if data, err = json.Marshal(i); err != nil {
		return nil, "", err
	}
	return data, seal(key, data), nil
}

// Open reads a sealed invite, refusing one whose seal does not match.
func Open(key, data []byte, mac string) (*Invite, error) {
	want := seal(key, data)
	if subtle.ConstantTimeCompare([]byte(want), []byte(mac)) != 1 {
		return nil, ErrTampered
	}
	var i Invite
	if err := json.Unmarshal(data, &i); err != nil {
		return nil, fmt.Errorf("reading the invitation: %w", err)
	}
	return &i, nil
}
