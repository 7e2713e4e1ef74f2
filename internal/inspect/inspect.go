// Package inspect decodes the files kubeaccess deals in (certificates,
// certificate requests, private keys and kubeconfigs) into reports. A
// report never holds key material: of a private key it tells the type.
package inspect

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

// Report is what a file holds.
type Report struct {
	// Kind is "certificate", "certificate request", "private key" or "kubeconfig".
	Kind         string        `json:"kind"`
	Certificates []Certificate `json:"certificates,omitempty"`
	Request      *Request      `json:"certificateRequest,omitempty"`
	Key          *Key          `json:"privateKey,omitempty"`
	Kubeconfig   *Kubeconfig   `json:"kubeconfig,omitempty"`
}

// Certificate describes one certificate.
type Certificate struct {
	pki.CertificateInfo
	// CredentialID is how the API server names the credential (kubectl
	// auth whoami, audit logs); RecordID is how kubeaccess's records do.
	// Either names it to revoke --credential and list --credential.
	CredentialID string   `json:"credentialID"`
	RecordID     string   `json:"recordID"`
	IsCA         bool     `json:"isCA"`
	Usages       []string `json:"usages"`
	// Remaining is the time left, or how long ago it expired.
	Remaining string `json:"remaining"`
	Expired   bool   `json:"expired"`
}

// Request describes a certificate request.
type Request struct {
	User           string   `json:"user"`
	Groups         []string `json:"groups"`
	KeyType        string   `json:"keyType"`
	SignatureValid bool     `json:"signatureValid"`
	// Names are subject alternative names, which a client certificate
	// for Kubernetes does not need.
	Names []string `json:"subjectAlternativeNames,omitempty"`
}

// Key tells a private key's type, never its content.
type Key struct {
	Type string `json:"type"`
}

// ErrUnknown means the input is none of the kinds inspect reads.
var ErrUnknown = errors.New("not a PEM certificate, certificate request or private key, nor a kubeconfig")

// Decode reads data as PEM or, failing that, as a kubeconfig; dir resolves
// the relative file names a kubeconfig may hold. now dates the reports.
func Decode(data []byte, dir string, now time.Time) (*Report, error) {
	if block, _ := pem.Decode(data); block != nil {
		return decodePEM(block, data, now)
	}
	if bytes.Contains(data, []byte("-----BEGIN")) {
		return nil, errors.New("the PEM data is malformed (a BEGIN line without a matching END, or bad base64)")
	}
	return decodeKubeconfig(data, dir, now)
}

func decodePEM(first *pem.Block, data []byte, now time.Time) (*Report, error) {
	switch t := first.Type; {
	case t == "CERTIFICATE":
		certs, err := parseCertificates(data)
		if err != nil {
			return nil, err
		}
		r := &Report{Kind: "certificate"}
		for _, c := range certs {
			r.Certificates = append(r.Certificates, DescribeCertificate(c, now))
		}
		return r, nil
	case t == "CERTIFICATE REQUEST" || t == "NEW CERTIFICATE REQUEST":
		req, err := describeRequest(first.Bytes)
		if err != nil {
			return nil, err
		}
		return &Report{Kind: "certificate request", Request: req}, nil
	case strings.HasSuffix(t, "PRIVATE KEY"):
		key, err := describeKey(first)
		if err != nil {
			return nil, err
		}
		return &Report{Kind: "private key", Key: key}, nil
	default:
		return nil, fmt.Errorf("PEM block of type %q is not a certificate, certificate request or private key", t)
	}
}

// parseCertificates reads every CERTIFICATE block of a PEM bundle.
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for i := 1; ; i++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d of the PEM data cannot be parsed: %w", i, err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// DescribeCertificate reports a certificate as of now.
func DescribeCertificate(c *x509.Certificate, now time.Time) Certificate {
	left := c.NotAfter.Sub(now)
	remaining := left.Round(time.Second).String()
	if left <= 0 {
		remaining = "expired " + (-left).Round(time.Second).String() + " ago"
	}
	info := pki.Describe(c)
	return Certificate{
		CertificateInfo: info,
		CredentialID:    records.CertificateCredentialPrefix + info.SHA256,
		RecordID:        records.CertificateID(info.SHA256),
		IsCA:            c.BasicConstraintsValid && c.IsCA,
		Usages:          usages(c),
		Remaining:       remaining,
		Expired:         left <= 0,
	}
}

var keyUsageNames = []struct {
	usage x509.KeyUsage
	name  string
}{
	{x509.KeyUsageDigitalSignature, "digital signature"},
	{x509.KeyUsageContentCommitment, "content commitment"},
	{x509.KeyUsageKeyEncipherment, "key encipherment"},
	{x509.KeyUsageDataEncipherment, "data encipherment"},
	{x509.KeyUsageKeyAgreement, "key agreement"},
	{x509.KeyUsageCertSign, "cert sign"},
	{x509.KeyUsageCRLSign, "crl sign"},
}

var extKeyUsageNames = map[x509.ExtKeyUsage]string{
	x509.ExtKeyUsageAny:             "any",
	x509.ExtKeyUsageServerAuth:      "server auth",
	x509.ExtKeyUsageClientAuth:      "client auth",
	x509.ExtKeyUsageCodeSigning:     "code signing",
	x509.ExtKeyUsageEmailProtection: "email protection",
	x509.ExtKeyUsageTimeStamping:    "timestamping",
	x509.ExtKeyUsageOCSPSigning:     "ocsp signing",
}

// usages names a certificate's key usages in the words of the
// CertificateSigningRequest API.
func usages(c *x509.Certificate) []string {
	var names []string
	for _, u := range keyUsageNames {
		if c.KeyUsage&u.usage != 0 {
			names = append(names, u.name)
		}
	}
	for _, u := range c.ExtKeyUsage {
		name, ok := extKeyUsageNames[u]
		if !ok {
			name = fmt.Sprintf("extended usage %d", u)
		}
		names = append(names, name)
	}
	return names
}

func describeRequest(der []byte) (*Request, error) {
	req, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("the certificate request cannot be parsed: %w", err)
	}
	r := &Request{
		User:           req.Subject.CommonName,
		Groups:         req.Subject.Organization,
		KeyType:        pki.DescribePublicKey(req.PublicKey),
		SignatureValid: req.CheckSignature() == nil,
	}
	r.Names = append(r.Names, req.DNSNames...)
	r.Names = append(r.Names, req.EmailAddresses...)
	for _, ip := range req.IPAddresses {
		r.Names = append(r.Names, ip.String())
	}
	for _, u := range req.URIs {
		r.Names = append(r.Names, u.String())
	}
	return r, nil
}

func describeKey(block *pem.Block) (*Key, error) {
	if block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] != "" {
		return &Key{Type: "encrypted"}, nil
	}
	key, err := pki.ParseKeyBlock(block)
	if err != nil {
		return nil, fmt.Errorf("the %s cannot be parsed: %w", strings.ToLower(block.Type), err)
	}
	return &Key{Type: pki.DescribePublicKey(key.Public())}, nil
}
