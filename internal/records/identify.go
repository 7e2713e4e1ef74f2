package records

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/safe"
)

// CredentialIDExtra is the extra in which the API server (from v1.32)
// names the credential a request was authenticated with; a
// CertificateSigningRequest copies its requester's extras.
const CredentialIDExtra = "authentication.kubernetes.io/credential-id"

// The prefixes the API server gives credential IDs, as kubectl auth whoami
// and the audit log show them.
const (
	CertificateCredentialPrefix = "X509SHA256="
	TokenCredentialPrefix       = "JTI="
)

// CredentialIDs are the IDs the API server gives r's credential in audit
// events and whoami: X509SHA256=<fingerprint>, or JTI=<token ID>.
func (r Record) CredentialIDs() []string {
	var ids []string
	if r.SHA256 != "" {
		ids = append(ids, CertificateCredentialPrefix+r.SHA256)
	}
	if r.JTI != "" {
		ids = append(ids, TokenCredentialPrefix+r.JTI)
	}
	return ids
}

// minPrefix is the shortest prefix of a fingerprint, serial or group
// suffix taken as naming a credential.
const minPrefix = 6

// Match returns the records ident names, in any of the forms a credential
// is known by: the record ID (or a prefix of it), the credential group or
// its suffix, the SHA-256 fingerprint, the API server's credential ID
// (X509SHA256=... or JTI=...), or the certificate's serial; fingerprints,
// serials and suffixes may be given by a prefix of at least six
// characters, in either case, with or without colons.
func Match(recs []Record, ident string) []Record {
	want := strings.TrimSpace(ident)
	var out []Record
	for _, r := range recs {
		if r.matches(want) {
			out = append(out, r)
		}
	}
	return out
}

func (r Record) matches(ident string) bool {
	if ident == "" {
		return false
	}
	if r.ID == ident || strings.HasPrefix(r.ID, ident) && len(ident) >= len("c-")+minPrefix {
		return true
	}
	if r.CredentialGroup != "" && (ident == r.CredentialGroup || hexPrefix(strings.TrimPrefix(r.CredentialGroup, pki.CredentialGroupPrefix), ident)) {
		return true
	}
	if id, ok := strings.CutPrefix(ident, TokenCredentialPrefix); ok {
		return r.JTI != "" && r.JTI == id
	}
	fingerprint := strings.TrimPrefix(ident, CertificateCredentialPrefix)
	return hexPrefix(r.SHA256, fingerprint) || hexPrefix(r.Serial, ident)
}

// hexPrefix reports whether s, a lower-case hex string, starts with
// prefix given in any case and with colons.
func hexPrefix(s, prefix string) bool {
	p := strings.ToLower(strings.ReplaceAll(prefix, ":", ""))
	return s != "" && len(p) >= minPrefix && strings.HasPrefix(s, p)
}

// Find reads the one record ident names; none, or more than one, is a
// usage error that says which.
func (s Store) Find(ctx context.Context, ident string) (Record, error) {
	recs, err := s.List(ctx, "")
	if err != nil {
		return Record{}, err
	}
	found := Match(recs, ident)
	switch len(found) {
	case 0:
		return Record{}, failure.UsageErrorf("no record of a credential %q in namespace %s: give a record ID, credential group, fingerprint, "+
			"credential ID (X509SHA256=... or JTI=...) or serial (see kubeaccess list --all)", ident, s.Namespace)
	case 1:
		return found[0], nil
	}
	names := make([]string, len(found))
	for i, r := range found {
		names[i] = fmt.Sprintf("%s (%s, %s)", r.ID, safe.Printable(r.User), r.Kind)
	}
	slices.Sort(names)
	return Record{}, failure.UsageErrorf("%q names %d credentials: %s; give more of it", ident, len(found), strings.Join(names, ", "))
}
