package pki

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"
)

// A signer returns the groups as DER sorts them, whatever order they were
// asked in; a missing or extra group is still refused.
func TestCheckIssuedGroupsAreASet(t *testing.T) {
	key, err := GenerateKey(ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "bob", Organization: []string{"qa", "dev"}},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckIssued(cert, key.Public(), "bob", []string{"dev", "qa"}); err != nil {
		t.Errorf("the same groups in another order: %v", err)
	}
	for _, groups := range [][]string{{"dev"}, {"dev", "qa", "ops"}, {"dev", "dev"}} {
		if err := CheckIssued(cert, key.Public(), "bob", groups); err == nil || !strings.Contains(err.Error(), "issued certificate is for") {
			t.Errorf("groups %v accepted for a certificate in [qa dev]: %v", groups, err)
		}
	}
}
