package pki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net"
	"net/url"
	"strings"
	"testing"
)

func TestCheckRequest(t *testing.T) {
	key, err := GenerateKey(DefaultKeyType)
	if err != nil {
		t.Fatal(err)
	}
	dave := Subject("dave", []string{"dev"})
	spiffe, _ := url.Parse("spiffe://cluster/ns/kube-system/sa/admin")
	for name, tc := range map[string]struct {
		tmpl    x509.CertificateRequest
		wantErr string
	}{
		"kubeaccess's own":    {tmpl: x509.CertificateRequest{Subject: dave}},
		"DNS name":            {tmpl: x509.CertificateRequest{Subject: dave, DNSNames: []string{"kubernetes.default.svc"}}, wantErr: `subject alternative names (DNS:"kubernetes.default.svc")`},
		"IP address":          {tmpl: x509.CertificateRequest{Subject: dave, IPAddresses: []net.IP{net.ParseIP("10.0.0.1")}}, wantErr: "IP:10.0.0.1"},
		"email":               {tmpl: x509.CertificateRequest{Subject: dave, EmailAddresses: []string{"root@example.com"}}, wantErr: `email:"root@example.com"`},
		"URI":                 {tmpl: x509.CertificateRequest{Subject: dave, URIs: []*url.URL{spiffe}}, wantErr: `URI:"spiffe://cluster/ns/kube-system/sa/admin"`},
		"other extension":     {tmpl: x509.CertificateRequest{Subject: dave, ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 3, 4}, Value: []byte{5, 0}}}}, wantErr: "extensions kubeaccess does not put there (1.2.3.4)"},
		"organizational unit": {tmpl: x509.CertificateRequest{Subject: pkix.Name{CommonName: "dave", OrganizationalUnit: []string{"ops"}}}, wantErr: "subject carries attribute 2.5.4.11"},
		"no common name":      {tmpl: x509.CertificateRequest{Subject: pkix.Name{Organization: []string{"dev"}}}, wantErr: "has 0 common names"},
		"two common names": {tmpl: x509.CertificateRequest{Subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: oidCommonName, Value: "dave"}, {Type: oidCommonName, Value: "admin"}}}}, wantErr: "has 2 common names"},
	} {
		t.Run(name, func(t *testing.T) {
			der, err := x509.CreateCertificateRequest(nil, &tc.tmpl, key)
			if err != nil {
				t.Fatal(err)
			}
			req, err := x509.ParseCertificateRequest(der)
			if err != nil {
				t.Fatal(err)
			}
			err = CheckRequest(req)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("refused kubeaccess's own request: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}
