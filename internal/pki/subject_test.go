package pki

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
)

func TestSubjectPolicyCheck(t *testing.T) {
	tests := map[string]struct {
		policy  SubjectPolicy
		user    string
		groups  []string
		wantErr string
	}{
		"plain user and group":    {user: "dave", groups: []string{"dev"}},
		"email-like user":         {user: "dave@example.com", groups: []string{"team-a"}},
		"empty user":              {user: "", wantErr: "user name is empty"},
		"trailing space":          {user: "dave ", wantErr: `user name "dave " has leading or trailing white space`},
		"newline":                 {user: "da\nve", wantErr: `user name "da\nve" contains a control character`},
		"slash injection":         {user: "dave/O=system:masters", wantErr: `user name "dave/O=system:masters" contains '/'`},
		"equals":                  {user: "CN=dave", wantErr: `contains '='`},
		"plus multi-value RDN":    {user: "dave+O=x", wantErr: `contains '+'`},
		"semicolon in group":      {user: "dave", groups: []string{"dev;ops"}, wantErr: `group name "dev;ops" contains ';'`},
		"254 characters":          {user: strings.Repeat("a", 254), wantErr: "user name is 254 characters long; the limit is 253"},
		"253 characters":          {user: strings.Repeat("a", 253)},
		"system user":             {user: "system:admin", wantErr: `user "system:admin" is in the reserved system: namespace`},
		"system:masters":          {user: "dave", groups: []string{"dev", "system:masters"}, wantErr: `group "system:masters" has cluster-admin rights`},
		"kubeadm admins":          {user: "dave", groups: []string{"kubeadm:cluster-admins"}, wantErr: `group "kubeadm:cluster-admins" has cluster-admin rights`},
		"other system group":      {user: "dave", groups: []string{"system:nodes"}, wantErr: `group "system:nodes" is in the reserved system: namespace`},
		"zero-width space":        {user: "dave\u200b", wantErr: `user name "dave\u200b" contains the invisible or non-printing character U+200B`},
		"word joiner in group":    {user: "dave", groups: []string{"d\u2060ev"}, wantErr: `group name "d\u2060ev" contains the invisible or non-printing character U+2060`},
		"right-to-left override":  {user: "\u202eevad", wantErr: "U+202E"},
		"byte order mark":         {user: "\ufeffdave", wantErr: "U+FEFF"},
		"no-break space":          {user: "da\u00a0ve", wantErr: "U+00A0"},
		"line separator":          {user: "da\u2028ve", wantErr: "U+2028"},
		"private use":             {user: "da\ue000ve", wantErr: "U+E000"},
		"invalid UTF-8":           {user: "da\xffve", wantErr: "is not valid UTF-8"},
		"escape sequence":         {user: "\x1b[2Jdave", wantErr: "contains a control character"},
		"accented letters":        {user: "zoë", groups: []string{"équipe"}},
		"allowed when privileged": {policy: SubjectPolicy{AllowPrivileged: true}, user: "system:admin", groups: []string{"system:masters"}},
		"names checked even so":   {policy: SubjectPolicy{AllowPrivileged: true}, user: "a,b", wantErr: `contains ','`},
		"chosen credential group": {user: "dave", groups: []string{"kubeaccess:credential:0123456789abcdef"}, wantErr: `group "kubeaccess:credential:0123456789abcdef" is reserved for the per-credential groups kubeaccess mints`},
		"a renewal identity":      {policy: SubjectPolicy{AllowPrivileged: true}, user: "kubeaccess:renewal:0011", groups: []string{RenewalIdentityGroup}, wantErr: `user "kubeaccess:renewal:0011" is reserved for the renewal identities kubeaccess mints`},
		"other kubeaccess group":  {policy: SubjectPolicy{AllowPrivileged: true}, user: "dave", groups: []string{"kubeaccess:admins"}, wantErr: `group "kubeaccess:admins" is reserved`},
		"minted credential group": {policy: SubjectPolicy{CredentialGroup: "kubeaccess:credential:0123456789abcdef"}, user: "dave", groups: []string{"dev", "kubeaccess:credential:0123456789abcdef"}},
		"another's credential":    {policy: SubjectPolicy{CredentialGroup: "kubeaccess:credential:aaaa"}, user: "dave", groups: []string{"kubeaccess:credential:bbbb"}, wantErr: `group "kubeaccess:credential:bbbb" is reserved`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.policy.Check(tc.user, tc.groups)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestRequestCarriesSubjectAsValues(t *testing.T) {
	for _, kt := range KeyTypes {
		t.Run(string(kt), func(t *testing.T) {
			key, err := GenerateKey(kt)
			if err != nil {
				t.Fatal(err)
			}
			pemData, err := CreateRequest(key, Subject("dave", []string{"dev", "ops"}))
			if err != nil {
				t.Fatal(err)
			}
			req, err := parseRequestPEM(pemData)
			if err != nil {
				t.Fatal(err)
			}
			if req.Subject.CommonName != "dave" || strings.Join(req.Subject.Organization, ",") != "dev,ops" || len(req.Subject.OrganizationalUnit) != 0 {
				t.Errorf("subject = %+v", req.Subject)
			}
			if err := req.CheckSignature(); err != nil {
				t.Errorf("request signature: %v", err)
			}
			if _, err := MarshalKey(key); err != nil {
				t.Errorf("MarshalKey: %v", err)
			}
		})
	}
}

func parseRequestPEM(data []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	return x509.ParseCertificateRequest(block.Bytes)
}

// A renewal identity's name binds it to the subject it renews, whatever
// order that subject's groups come in, and to no other.
func TestRenewalIdentityNamesItsSubject(t *testing.T) {
	id, err := NewRenewalIdentity("dave", []string{"dev", "ops"})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := NewRenewalIdentity("dave", []string{"dev", "ops"})
	if id == again || !IsRenewalIdentity(id, []string{RenewalIdentityGroup}) || len(id) > 64 {
		t.Fatalf("renewal identity %q (again %q): not unique, not recognised, or longer than a CN may be", id, again)
	}
	if !RenewsSubject(id, "dave", []string{"ops", "dev"}) {
		t.Error("the identity does not renew its own subject with its groups reordered")
	}
	for what, s := range map[string]struct {
		user   string
		groups []string
	}{
		"another user":     {"mallory", []string{"dev", "ops"}},
		"a group more":     {"dave", []string{"dev", "ops", "admins"}},
		"a group fewer":    {"dave", []string{"dev"}},
		"groups in a name": {"dave\x00dev", []string{"ops"}},
	} {
		if RenewsSubject(id, s.user, s.groups) {
			t.Errorf("%s: the identity renews %q in %q", what, s.user, s.groups)
		}
	}
	for _, bad := range []string{"kubeaccess:renewal:", "kubeaccess:renewal:0011", "dave", "kubeaccess:renewal:0123456789abcdef:"} {
		if IsRenewalIdentity(bad, []string{RenewalIdentityGroup}) {
			t.Errorf("%q is taken for a renewal identity", bad)
		}
	}
	if IsRenewalIdentity(id, []string{RenewalIdentityGroup, "dev"}) {
		t.Error("a renewal identity with another group is taken for one")
	}
}
