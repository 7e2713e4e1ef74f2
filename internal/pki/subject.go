package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	certutil "k8s.io/client-go/util/cert"
)

// MaxNameLength bounds user and group names (the longest Kubernetes object name).
const MaxNameLength = 253

// forbiddenNameChars are refused in names: they are separators or quoting
// in distinguished-name strings and in openssl -subj, where a name holding
// them could smuggle in another attribute.
const forbiddenNameChars = `/\,+="<>;`

// ValidateName checks a user or group name; kind ("user" or "group") names
// it in the error.
func ValidateName(kind, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%s name is empty", kind)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("%s name %q has leading or trailing white space", kind, name)
	case len(name) > MaxNameLength:
		return fmt.Errorf("%s name is %d characters long; the limit is %d", kind, len(name), MaxNameLength)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%s name %q is not valid UTF-8", kind, name)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("%s name %q contains a control character", kind, name)
		}
		// Format characters (U+200B, U+2060, U+202E, ...) and other
		// invisible ones make a name that prints like another but is a
		// different identity.
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%s name %q contains the invisible or non-printing character %U", kind, name, r)
		}
		if strings.ContainsRune(forbiddenNameChars, r) {
			return fmt.Errorf("%s name %q contains %q; these characters are not allowed: %s", kind, name, r, forbiddenNameChars)
		}
	}
	return nil
}

// BuiltinPrivilegedGroups grant cluster-admin on common distributions.
var BuiltinPrivilegedGroups = []string{"system:masters", "kubeadm:cluster-admins"}

// SubjectPolicy decides which subjects kubeaccess may issue credentials for.
type SubjectPolicy struct {
	// AllowPrivileged permits system: names and the built-in privileged
	// groups. What a name may do in the cluster is decided apart from its
	// name, by internal/privilege.
	AllowPrivileged bool
	// CredentialGroup is the one kubeaccess: group allowed: the one minted
	// for this very issuance (see NewCredentialGroup). Any other is
	// refused, privileged or not, so that no request borrows the access
	// bound to another credential's group.
	CredentialGroup string
}

// CredentialGroupPrefix starts the per-credential groups of revocable
// certificates; all kubeaccess: groups are kubeaccess's to mint.
const (
	CredentialGroupPrefix = "kubeaccess:credential:"
	reservedGroupPrefix   = "kubeaccess:"
)

// A renewal identity (see internal/renewing) is the second, longer-lived
// certificate of a renewing credential, with which it asks for its
// renewal after its short certificate has expired (a laptop back from a
// trip): its user is RenewalIdentityPrefix and a random name, never the
// credential's own, and its one group, RenewalIdentityGroup, may only
// create certificate requests and read them (deploy/controller.yaml).
// Both are kubeaccess's to mint; no grant may choose them.
const (
	RenewalIdentityPrefix = "kubeaccess:renewal:"
	RenewalIdentityGroup  = "kubeaccess:renewal-identities"
)

// NewRenewalIdentity mints the user name of a renewal identity of the
// credential of user in groups: RenewalIdentityPrefix, a digest of that
// subject, ":" and a random part. The digest binds the identity, in the
// certificate the signer issues, to the one subject it may renew: a
// record that names it the identity of another (records are ConfigMaps
// others may write) cannot make it renew someone else.
func NewRenewalIdentity(user string, groups []string) (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return RenewalIdentityPrefix + subjectDigest(user, groups) + ":" + hex.EncodeToString(b), nil
}

// subjectDigest is a short digest of a subject, its groups in any order.
func subjectDigest(user string, groups []string) string {
	// JSON, so that no two subjects are written the same.
	data, _ := json.Marshal(struct {
		User   string   `json:"user"`
		Groups []string `json:"groups"`
	}{user, slices.Sorted(slices.Values(groups))})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

// IsRenewalIdentity reports whether user and groups are a renewal
// identity's subject: its kind of name, and its one group.
func IsRenewalIdentity(user string, groups []string) bool {
	digest, random, ok := strings.Cut(strings.TrimPrefix(user, RenewalIdentityPrefix), ":")
	return strings.HasPrefix(user, RenewalIdentityPrefix) && ok && len(digest) == 16 && random != "" && slices.Equal(groups, []string{RenewalIdentityGroup})
}

// RenewsSubject reports whether the renewal identity named identity may
// renew the credential of user in groups.
func RenewsSubject(identity, user string, groups []string) bool {
	digest, _, ok := strings.Cut(strings.TrimPrefix(identity, RenewalIdentityPrefix), ":")
	return ok && strings.HasPrefix(identity, RenewalIdentityPrefix) && digest == subjectDigest(user, groups)
}

// NewCredentialGroup mints a fresh per-credential group.
func NewCredentialGroup() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return CredentialGroupPrefix + hex.EncodeToString(b), nil
}

// Check validates the user and group names and refuses privileged ones
// unless the policy allows them. The error names the offending subject and
// the flag that would allow it.
func (p SubjectPolicy) Check(user string, groups []string) error {
	if err := ValidateName("user", user); err != nil {
		return err
	}
	for _, g := range groups {
		if err := ValidateName("group", g); err != nil {
			return err
		}
	}
	if strings.HasPrefix(user, reservedGroupPrefix) {
		return fmt.Errorf("user %q is reserved for the renewal identities kubeaccess mints; a request may not choose one", user)
	}
	for _, g := range groups {
		if strings.HasPrefix(g, reservedGroupPrefix) && g != p.CredentialGroup {
			return fmt.Errorf("group %q is reserved for the per-credential groups kubeaccess mints (--revocable); a request may not choose one", g)
		}
	}
	if p.AllowPrivileged {
		return nil
	}
	if strings.HasPrefix(user, "system:") {
		return fmt.Errorf("user %q is in the reserved system: namespace of Kubernetes identities; pass --allow-privileged if this is really intended", user)
	}
	for _, g := range groups {
		switch {
		case slices.Contains(BuiltinPrivilegedGroups, g):
			return fmt.Errorf("group %q has cluster-admin rights; pass --allow-privileged if this is really intended", g)
		case strings.HasPrefix(g, "system:"):
			return fmt.Errorf("group %q is in the reserved system: namespace of Kubernetes groups; pass --allow-privileged if this is really intended", g)
		}
	}
	return nil
}

// Subject builds the certificate subject Kubernetes reads as user (CN) and
// groups (O). It is built as a value, never parsed from a string.
func Subject(user string, groups []string) pkix.Name {
	return pkix.Name{CommonName: user, Organization: append([]string(nil), groups...)}
}

// CreateRequest returns a PEM certificate request for subject signed by key.
func CreateRequest(key crypto.Signer, subject pkix.Name) ([]byte, error) {
	return certutil.MakeCSR(key, &subject, nil, nil)
}
