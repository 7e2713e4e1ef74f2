package inspect

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubeaccess/kubeaccess/internal/pki"
)

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// fixture holds a CA, a client certificate it signed, and their keys.
type fixture struct {
	caPEM, certPEM, keyPEM, expiredPEM, csrPEM []byte
	otherKeyPEM, otherCAPEM                    []byte
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	ca, caKey := newCA(t, "test-ca")
	other, _ := newCA(t, "other-ca")
	key := mustKey(t)
	leaf := func(notAfter time.Time) []byte {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), Subject: pki.Subject("dave", []string{"dev", "ops"}), NotBefore: now.Add(-time.Hour), NotAfter: notAfter,
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
		if err != nil {
			t.Fatal(err)
		}
		return pemBlock("CERTIFICATE", der)
	}
	csr, err := pki.CreateRequest(key, pki.Subject("erin", []string{"qa"}))
	if err != nil {
		t.Fatal(err)
	}
	return fixture{
		caPEM: pemBlock("CERTIFICATE", ca.Raw), otherCAPEM: pemBlock("CERTIFICATE", other.Raw), certPEM: leaf(now.Add(2 * time.Hour)), expiredPEM: leaf(now.Add(-time.Minute)),
		keyPEM: mustMarshal(t, key), otherKeyPEM: mustMarshal(t, mustKey(t)), csrPEM: csr,
	}
}

func newCA(t testing.TB, name string) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key := mustKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return ca, key
}

func mustKey(t testing.TB) crypto.Signer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustMarshal(t testing.TB, k crypto.Signer) []byte {
	b, err := pki.MarshalKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func kubeconfigWith(t testing.TB, f fixture, user *clientcmdapi.AuthInfo, ca []byte) []byte {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["prod"] = &clientcmdapi.Cluster{Server: "https://prod.example:6443", CertificateAuthorityData: ca}
	cfg.AuthInfos["dave"] = user
	cfg.Contexts["dave@prod"] = &clientcmdapi.Context{Cluster: "prod", AuthInfo: "dave"}
	cfg.CurrentContext = "dave@prod"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func jwt(payload string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"RS256"}`)) + "." + enc.EncodeToString([]byte(payload)) + ".c2ln"
}

func TestDecodeFiles(t *testing.T) {
	f := newFixture(t)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(edKey)
	block, _ := pem.Decode(f.csrPEM)
	block.Bytes[len(block.Bytes)-1] ^= 1
	tampered := pem.EncodeToMemory(block)
	tests := map[string]struct {
		data  []byte
		check func(t *testing.T, r *Report)
	}{
		"certificate": {f.certPEM, func(t *testing.T, r *Report) {
			c := r.Certificates[0]
			if r.Kind != "certificate" || c.User != "dave" || strings.Join(c.Groups, ",") != "dev,ops" || c.Issuer != "test-ca" || c.Serial != "2a" {
				t.Errorf("got %+v", c)
			}
			if strings.Join(c.Usages, ",") != "digital signature,client auth" || c.Expired || c.Remaining != "2h0m0s" || c.KeyType != "ECDSA P-256" {
				t.Errorf("usages %v, expired %v, remaining %q, key %q", c.Usages, c.Expired, c.Remaining, c.KeyType)
			}
		}},
		"expired certificate": {f.expiredPEM, func(t *testing.T, r *Report) {
			if c := r.Certificates[0]; !c.Expired || c.Remaining != "expired 1m0s ago" {
				t.Errorf("expired %v, remaining %q", c.Expired, c.Remaining)
			}
		}},
		"bundle": {append(append([]byte{}, f.certPEM...), f.caPEM...), func(t *testing.T, r *Report) {
			if len(r.Certificates) != 2 || !r.Certificates[1].IsCA || r.Certificates[0].IsCA {
				t.Errorf("got %+v", r.Certificates)
			}
		}},
		"certificate request": {f.csrPEM, func(t *testing.T, r *Report) {
			if q := r.Request; r.Kind != "certificate request" || q.User != "erin" || q.Groups[0] != "qa" || !q.SignatureValid || q.KeyType != "ECDSA P-256" {
				t.Errorf("got %+v", q)
			}
		}},
		"tampered request": {tampered, func(t *testing.T, r *Report) {
			if r.Request.SignatureValid {
				t.Error("a tampered request's signature was reported valid")
			}
		}},
		"ecdsa key":   {f.keyPEM, keyIs("ECDSA P-256")},
		"rsa key":     {pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), keyIs("RSA 2048")},
		"ed25519 key": {pemBlock("PRIVATE KEY", edDER), keyIs("Ed25519")},
		"encrypted":   {pemBlock("ENCRYPTED PRIVATE KEY", []byte{1, 2, 3}), keyIs("encrypted")},
		"kubeconfig with a matching key": {kubeconfigWith(t, f, &clientcmdapi.AuthInfo{ClientCertificateData: f.certPEM, ClientKeyData: f.keyPEM}, f.caPEM), func(t *testing.T, r *Report) {
			u := r.Kubeconfig.Users[0]
			if u.Name != "dave" || u.Cluster != "prod" || u.Server != "https://prod.example:6443" || u.Credential != "client certificate" || u.Certificate.User != "dave" {
				t.Errorf("got %+v", u)
			}
			if !u.HasKey || !*u.KeyMatches || !*u.ChainsToClusterCA {
				t.Errorf("hasKey %v, keyMatches %v, chains %v", u.HasKey, *u.KeyMatches, *u.ChainsToClusterCA)
			}
		}},
		"kubeconfig with another key and CA": {kubeconfigWith(t, f, &clientcmdapi.AuthInfo{ClientCertificateData: f.certPEM, ClientKeyData: f.otherKeyPEM}, f.otherCAPEM), func(t *testing.T, r *Report) {
			if u := r.Kubeconfig.Users[0]; *u.KeyMatches || *u.ChainsToClusterCA {
				t.Errorf("keyMatches %v, chains %v; want both false", *u.KeyMatches, *u.ChainsToClusterCA)
			}
		}},
		"kubeconfig without a key": {kubeconfigWith(t, f, &clientcmdapi.AuthInfo{ClientCertificateData: f.certPEM}, nil), func(t *testing.T, r *Report) {
			if u := r.Kubeconfig.Users[0]; u.HasKey || u.KeyMatches != nil || u.ChainsToClusterCA != nil {
				t.Errorf("got %+v", u)
			}
		}},
		"kubeconfig with a token": {kubeconfigWith(t, f, &clientcmdapi.AuthInfo{Token: jwt(`{"sub":"system:serviceaccount:ci:bot","aud":"https://kubernetes.default.svc","exp":1795000000,"iss":"k8s"}`)}, f.caPEM), func(t *testing.T, r *Report) {
			u := r.Kubeconfig.Users[0]
			if u.Credential != "bearer token" || u.Token.Subject != "system:serviceaccount:ci:bot" || u.Token.Audience[0] != "https://kubernetes.default.svc" || u.Token.ExpiresAt.Unix() != 1795000000 {
				t.Errorf("got %+v %+v", u, u.Token)
			}
		}},
		"kubeconfig with an opaque token": {kubeconfigWith(t, f, &clientcmdapi.AuthInfo{Token: "abc.def"}, nil), func(t *testing.T, r *Report) {
			if u := r.Kubeconfig.Users[0]; u.Token != nil || !strings.Contains(u.Problem, "token is not a JWT") {
				t.Errorf("got %+v", u)
			}
		}},
		"kubeconfig naming a device": {kubeconfigWith(t, f, &clientcmdapi.AuthInfo{TokenFile: "/dev/zero"}, nil), func(t *testing.T, r *Report) {
			if u := r.Kubeconfig.Users[0]; u.Problem != "token: /dev/zero is not a regular file" {
				t.Errorf("problem %q", u.Problem)
			}
		}},
		"kubeconfig with exec": {kubeconfigWith(t, f, &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{Command: "aws", APIVersion: "client.authentication.k8s.io/v1"}}, nil), func(t *testing.T, r *Report) {
			if u := r.Kubeconfig.Users[0]; u.Credential != "exec plugin" {
				t.Errorf("credential %q", u.Credential)
			}
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := Decode(tc.data, t.TempDir(), now)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, r)
		})
	}
}

func keyIs(want string) func(t *testing.T, r *Report) {
	return func(t *testing.T, r *Report) {
		if r.Kind != "private key" || r.Key.Type != want {
			t.Errorf("kind %q, key %+v; want private key %q", r.Kind, r.Key, want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := map[string]struct {
		data    string
		wantErr string
	}{
		"empty":                 {"", ErrUnknown.Error()},
		"text":                  {"hello", "not a PEM certificate, certificate request or private key, nor a kubeconfig"},
		"other YAML":            {"a: b\n", ErrUnknown.Error()},
		"unterminated PEM":      {"-----BEGIN CERTIFICATE-----\nMIIB\n", "the PEM data is malformed"},
		"certificate of junk":   {string(pemBlock("CERTIFICATE", []byte("junk"))), "certificate 1 of the PEM data cannot be parsed"},
		"request of junk":       {string(pemBlock("CERTIFICATE REQUEST", []byte("junk"))), "the certificate request cannot be parsed"},
		"key of junk":           {string(pemBlock("EC PRIVATE KEY", []byte("junk"))), "the ec private key cannot be parsed"},
		"unknown PEM":           {string(pemBlock("OPENSSH PRIVATE KEY", []byte("x"))), `the openssh private key cannot be parsed: unknown private key type "OPENSSH PRIVATE KEY"`},
		"public key":            {string(pemBlock("PUBLIC KEY", []byte("x"))), `PEM block of type "PUBLIC KEY" is not a certificate, certificate request or private key`},
		"kubeconfig of garbage": {"apiVersion: v1\nkind: Config\nusers: 7\n", "nor a kubeconfig (as a kubeconfig:"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Decode([]byte(tc.data), ".", now)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v; want one containing %q", err, tc.wantErr)
			}
		})
	}
	if _, err := Decode(nil, ".", now); !errors.Is(err, ErrUnknown) {
		t.Errorf("empty input: %v, want ErrUnknown", err)
	}
}
