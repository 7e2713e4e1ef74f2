package pki

import (
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"strings"
)

// Subject attributes Kubernetes reads from a client certificate.
var (
	oidCommonName   = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidOrganization = asn1.ObjectIdentifier{2, 5, 4, 10}
)

// CheckRequest refuses a certificate request carrying more than a client
// certificate needs: subject alternative names (the controller-manager
// signer copies them into the certificate, and other systems that trust
// the client CA may honour them), any extension (kubeaccess requests
// carry none), and subject attributes besides one CN and the O groups.
func CheckRequest(req *x509.CertificateRequest) error {
	var sans []string
	for _, n := range req.DNSNames {
		sans = append(sans, fmt.Sprintf("DNS:%q", n))
	}
	for _, ip := range req.IPAddresses {
		sans = append(sans, "IP:"+ip.String())
	}
	for _, e := range req.EmailAddresses {
		sans = append(sans, fmt.Sprintf("email:%q", e))
	}
	for _, u := range req.URIs {
		sans = append(sans, fmt.Sprintf("URI:%q", u.String()))
	}
	if len(sans) > 0 {
		return fmt.Errorf("the request carries subject alternative names (%s); a client certificate needs none, and the signer would copy them", strings.Join(sans, ", "))
	}
	if len(req.Extensions) > 0 {
		oids := make([]string, len(req.Extensions))
		for i, e := range req.Extensions {
			oids[i] = e.Id.String()
		}
		return fmt.Errorf("the request carries extensions kubeaccess does not put there (%s); refusing what a client certificate does not need", strings.Join(oids, ", "))
	}
	commonNames := 0
	for _, a := range req.Subject.Names {
		switch {
		case a.Type.Equal(oidCommonName):
			commonNames++
		case a.Type.Equal(oidOrganization):
		default:
			return fmt.Errorf("the request's subject carries attribute %s; a Kubernetes client certificate has only CN (user) and O (groups)", a.Type)
		}
	}
	if commonNames != 1 {
		return fmt.Errorf("the request's subject has %d common names; it needs exactly one (the user)", commonNames)
	}
	return nil
}
