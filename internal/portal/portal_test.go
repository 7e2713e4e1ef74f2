package portal

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/time/rate"

	"github.com/kubeaccess/kubeaccess/internal/invite"
)

func request(t *testing.T, key any, subject pkix.Name, dns ...string) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject, DNSNames: dns}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// Only a request for exactly the invited subject, with a P-256 key and
// nothing else, is taken.
func TestCheckRequest(t *testing.T) {
	inv := &invite.Invite{User: "dave", Groups: []string{"dev", "qa"}}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	tests := map[string]struct {
		pem  []byte
		want string
	}{
		"exact, groups in another order": {request(t, p256, pkix.Name{CommonName: "dave", Organization: []string{"qa", "dev"}}), ""},
		"another user":                   {request(t, p256, pkix.Name{CommonName: "admin", Organization: []string{"dev", "qa"}}), `not "dave" in`},
		"an extra group":                 {request(t, p256, pkix.Name{CommonName: "dave", Organization: []string{"dev", "qa", "system:masters"}}), "not for the invited subject"},
		"a missing group":                {request(t, p256, pkix.Name{CommonName: "dave", Organization: []string{"dev"}}), "not for the invited subject"},
		"an OU":                          {request(t, p256, pkix.Name{CommonName: "dave", Organization: []string{"dev", "qa"}, OrganizationalUnit: []string{"x"}}), "only CN (user) and O (groups)"},
		"a SAN":                          {request(t, p256, pkix.Name{CommonName: "dave", Organization: []string{"dev", "qa"}}, "evil.example"), "DNS"},
		"P-384":                          {request(t, p384, pkix.Name{CommonName: "dave", Organization: []string{"dev", "qa"}}), "ECDSA P-256"},
		"ed25519":                        {request(t, ed, pkix.Name{CommonName: "dave", Organization: []string{"dev", "qa"}}), "ECDSA P-256"},
		"not PEM":                        {[]byte("hello"), "not valid"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := checkRequest(tc.pem, inv)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	// A request whose signature does not match its key.
	good := request(t, p256, pkix.Name{CommonName: "dave", Organization: []string{"dev", "qa"}})
	block, _ := pem.Decode(good)
	block.Bytes[len(block.Bytes)-3] ^= 0xff
	if err := checkRequest(pem.EncodeToMemory(block), inv); err == nil {
		t.Error("a request with a broken signature was taken")
	}
}

// Every answer carries the security headers; an unknown route gets a page,
// not a listing; a client over its rate is turned away.
func TestHeadersAndRateLimit(t *testing.T) {
	s := &Server{Limiter: NewLimiter(rate.Limit(1), 3)}
	h := s.Handler()
	for i := range 5 {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/assets/", nil)
		req.RemoteAddr = "192.0.2.1:1234"
		h.ServeHTTP(rec, req)
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("CSP %q", csp)
		}
		for header, want := range map[string]string{"Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
			if got := rec.Header().Get(header); got != want {
				t.Errorf("%s: %q, want %q", header, got, want)
			}
		}
		if i >= 3 && rec.Code != http.StatusTooManyRequests {
			t.Errorf("request %d of a client allowed 3 at once: %d, want 429", i+1, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/assets/portal.js", nil)
	req.RemoteAddr = "192.0.2.2:1"
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "crypto.subtle.generateKey") {
		t.Errorf("the page's script: %d", rec.Code)
	}
	if strings.Contains(rec.Body.String(), "innerHTML") || strings.Contains(rec.Body.String(), "eval(") {
		t.Error("the page's script writes HTML or evaluates strings")
	}
}

func TestRateLimitKeysOnTheClient(t *testing.T) {
	l := NewLimiter(rate.Limit(1), 3)
	l.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	req := func(peer string, forwarded ...string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = peer
		for _, f := range forwarded {
			r.Header.Add("X-Forwarded-For", f)
		}
		return r
	}
	for name, tc := range map[string]struct {
		r    *http.Request
		want string
	}{
		"direct":                           {req("192.0.2.7:4000"), "192.0.2.7"},
		"direct, forwarded header ignored": {req("192.0.2.7:4000", "198.51.100.1"), "192.0.2.7"},
		"behind the ingress":               {req("10.1.2.3:4000", "198.51.100.1"), "198.51.100.1"},
		"a client's own forged hops":       {req("10.1.2.3:4000", "203.0.113.9, 198.51.100.1"), "198.51.100.1"},
		"two trusted hops":                 {req("10.1.2.3:4000", "198.51.100.1, 10.9.9.9"), "198.51.100.1"},
		"IPv6 by its /64":                  {req("[2001:db8:1:2:3:4:5:6]:4000"), "2001:db8:1:2::/64"},
	} {
		if got := l.clientOf(tc.r); got != tc.want {
			t.Errorf("%s: client %q, want %q", name, got, tc.want)
		}
	}
}

func TestRateLimitMapIsBounded(t *testing.T) {
	l := NewLimiter(rate.Limit(1), 3)
	for i := range maxClients + 500 {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 1).String()
		l.get(r)
	}
	if n := len(l.clients); n > maxClients {
		t.Errorf("%d buckets kept, want at most %d", n, maxClients)
	}
}
