package credential

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
	"time"

	certutil "k8s.io/client-go/util/cert"
)

func jwt(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"ES256"}`)) + "." + enc([]byte(payload)) + ".c2ln"
}

func TestParseToken(t *testing.T) {
	tests := map[string]struct {
		token   string
		want    TokenClaims
		wantErr string
	}{
		"audience as list": {
			token: jwt(`{"sub":"system:serviceaccount:ci:deployer","iss":"https://kubernetes.default.svc","aud":["a","b"],"exp":1900000000}`),
			want:  TokenClaims{Subject: "system:serviceaccount:ci:deployer", Issuer: "https://kubernetes.default.svc", Audience: []string{"a", "b"}, ExpiresAt: time.Unix(1900000000, 0).UTC()},
		},
		"audience as string": {
			token: jwt(`{"sub":"x","aud":"api"}`),
			want:  TokenClaims{Subject: "x", Audience: []string{"api"}},
		},
		"not three parts":    {token: "abc.def", wantErr: "token is not a JWT (expected 3 dot-separated parts, got 2)"},
		"payload not base64": {token: "a.!!!.c", wantErr: "token payload is not base64url"},
		"payload not JSON":   {token: jwt(`[1,2]`), wantErr: "token payload is not a JSON object"},
		"audience a number":  {token: jwt(`{"aud":5}`), wantErr: `token claim "aud" is neither a string nor a list of strings`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseToken(tc.token)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want prefix %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("claims = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestFromCertificateReadsCNAndOrganization(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := certutil.NewSelfSignedCACert(certutil.Config{CommonName: "dave", Organization: []string{"dev", "ops"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	claim := FromCertificate(cert)
	if claim.Username != "dave" || !reflect.DeepEqual(claim.Groups, []string{"dev", "ops"}) || claim.Kind != "client certificate" {
		t.Errorf("claim = %+v", claim)
	}
	if len(claim.SHA256) != 64 {
		t.Errorf("SHA256 fingerprint %q is not 64 hex digits", claim.SHA256)
	}
}

// FuzzParseToken checks that no token makes ParseToken panic.
func FuzzParseToken(f *testing.F) {
	for _, seed := range []string{
		"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIiwiYXVkIjpbImIiXSwiZXhwIjoxfQ.c2ln",
		"a.b.c", "", "...", "x.eyJleHAiOjFlMzAwfQ.y", "x.eyJhdWQiOjF9.y",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		if _, err := ParseToken(token); err == nil && strings.Count(token, ".") != 2 {
			t.Errorf("accepted %q, which is not three dot-separated parts, as a JWT", token)
		}
	})
}
