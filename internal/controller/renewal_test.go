package controller

import (
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/utils/ptr"

	"github.com/kubeaccess/kubeaccess/internal/issue/issuetest"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

// Only a request whose requester authenticated with a client certificate
// names one: its credential-id extra, exactly one, X509SHA256 and 64 hex.
func TestRequesterCertificate(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	for name, tc := range map[string]struct {
		extra []string
		want  string
	}{
		"a certificate":            {[]string{"X509SHA256=" + strings.ToUpper(hex)}, hex},
		"a token":                  {[]string{"JTI=0f0e"}, ""},
		"none":                     {nil, ""},
		"two":                      {[]string{"X509SHA256=" + hex, "X509SHA256=" + hex}, ""},
		"a short fingerprint":      {[]string{"X509SHA256=abcd"}, ""},
		"another name for the key": {[]string{"x509sha256=" + hex}, ""},
	} {
		req := &certificatesv1.CertificateSigningRequest{Spec: certificatesv1.CertificateSigningRequestSpec{
			Extra: map[string]certificatesv1.ExtraValue{records.CredentialIDExtra: tc.extra}}}
		got, ok := requesterCertificate(req)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%s: %q %v, want %q", name, got, ok, tc.want)
		}
	}
}

// Each check a renewal must pass refuses on its own, with its reason, and
// a request that passes them all is not refused.
func TestRefuseRenewal(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	ca := issuetest.NewAuthority(t)
	good := func() (*certificatesv1.CertificateSigningRequest, records.Record) {
		req := &certificatesv1.CertificateSigningRequest{Spec: certificatesv1.CertificateSigningRequestSpec{
			Username: "dave", ExpirationSeconds: ptr.To(int32(3600)),
			Usages: []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth, certificatesv1.UsageDigitalSignature}}}
		return req, recordOf(t, ca, "dave", []string{"dev"}, now.Add(-time.Hour), 2*time.Hour)
	}
	c := &Controller{MaxTTL: 24 * time.Hour}
	req, rec := good()
	if reason, why := c.refuseRenewal(req, rec, "dave", false, c.MaxTTL); reason != "" {
		t.Fatalf("a renewal that passes every check was refused as %q: %s", reason, why)
	}
	tests := map[string]func(*certificatesv1.CertificateSigningRequest, *records.Record){
		"tampered": func(_ *certificatesv1.CertificateSigningRequest, r *records.Record) {
			r.Groups = []string{"dev", "admins"}
		},
		"revoked": func(_ *certificatesv1.CertificateSigningRequest, r *records.Record) { r.Revoked = &now },
		"superseded": func(_ *certificatesv1.CertificateSigningRequest, r *records.Record) {
			r.ReplacedBy = "c-fedcba9876543210"
		},
		"requester": func(q *certificatesv1.CertificateSigningRequest, _ *records.Record) { q.Spec.Username = "mallory" },
		"access-ended": func(_ *certificatesv1.CertificateSigningRequest, r *records.Record) {
			r.Until = ptr.To(now.Add(-time.Second))
		},
		"lifetime": func(q *certificatesv1.CertificateSigningRequest, _ *records.Record) {
			q.Spec.ExpirationSeconds = ptr.To(int32(48 * 3600))
		},
		"usages": func(q *certificatesv1.CertificateSigningRequest, _ *records.Record) {
			q.Spec.Usages = append(q.Spec.Usages, certificatesv1.UsageServerAuth)
		},
		"expired": func(_ *certificatesv1.CertificateSigningRequest, r *records.Record) {
			*r = recordOf(t, ca, "dave", []string{"dev"}, now.Add(-3*time.Hour), time.Hour)
		},
	}
	for want, change := range tests {
		req, rec := good()
		change(req, &rec)
		if reason, why := c.refuseRenewal(req, rec, "dave", false, c.MaxTTL); reason != want {
			t.Errorf("%s: refused as %q (%s)", want, reason, why)
		}
	}
	// Without expirationSeconds the signer would issue its maximum.
	req, rec = good()
	req.Spec.ExpirationSeconds = nil
	if reason, _ := c.refuseRenewal(req, rec, "dave", false, c.MaxTTL); reason != "lifetime" {
		t.Errorf("a request without expirationSeconds: refused as %q, want lifetime", reason)
	}
	// Offline, through its renewal identity, an expired certificate is
	// renewed; a revoked one still is not.
	req, rec = good()
	rec = recordOf(t, ca, "dave", []string{"dev"}, now.Add(-3*time.Hour), time.Hour)
	if reason, why := c.refuseRenewal(req, rec, "dave", true, c.MaxTTL); reason != "" {
		t.Errorf("an expired certificate's renewal through its renewal identity: refused as %q (%s)", reason, why)
	}
	rec.Revoked = &now
	if reason, _ := c.refuseRenewal(req, rec, "dave", true, c.MaxTTL); reason != "revoked" {
		t.Errorf("a revoked, expired certificate's renewal through its renewal identity: refused as %q, want revoked", reason)
	}
	// A renewal identity lives no longer than the policy says.
	req, rec = good()
	req.Spec.ExpirationSeconds = ptr.To(int32(8 * 24 * 3600))
	if reason, _ := c.refuseRenewal(req, rec, "dave", false, 7*24*time.Hour); reason != "lifetime" {
		t.Errorf("an eight-day renewal identity under a seven-day policy: refused as %q, want lifetime", reason)
	}
	// Time-bound access: a renewal may not outlast it.
	req, rec = good()
	rec.Until = ptr.To(now.Add(15 * time.Minute))
	if reason, _ := c.refuseRenewal(req, rec, "dave", false, c.MaxTTL); reason != "lifetime" {
		t.Errorf("an hour's renewal of access that ends in 15m: refused as %q, want lifetime", reason)
	}
}

// recordOf is the record of a certificate ca signed for user in groups,
// valid from notBefore for ttl.
func recordOf(t *testing.T, ca *pki.Authority, user string, groups []string, notBefore time.Time, ttl time.Duration) records.Record {
	t.Helper()
	key, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	der, err := pki.CreateRequest(key, pki.Subject(user, groups))
	if err != nil {
		t.Fatal(err)
	}
	req, err := pki.ParseRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	issued, err := ca.Sign(req, ttl, notBefore)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.ParseCertificate(issued)
	if err != nil {
		t.Fatal(err)
	}
	info := pki.Describe(cert)
	return records.Record{ID: records.CertificateID(info.SHA256), User: user, Groups: groups, Kind: "certificate", SHA256: info.SHA256, Serial: info.Serial,
		NotBefore: info.NotBefore, NotAfter: info.NotAfter, Certificate: string(issued), IssuedVia: "offline-ca"}
}
