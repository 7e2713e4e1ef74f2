package approve

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/pki"
)

// Summary is what an approval issued. It holds no private key: the admin
// side never has one.
type Summary struct {
	User        string              `json:"user"`
	Groups      []string            `json:"groups"`
	CSR         string              `json:"certificateSigningRequest"`
	Requester   string              `json:"requester"`
	Certificate pki.CertificateInfo `json:"certificate"`
	ExpiresIn   string              `json:"expiresIn"`
	Namespace   string              `json:"namespace"`
	issuing.Issued
}

func (o *Options) summary(res *issue.Result) Summary {
	cred := res.Credential
	return Summary{
		User: o.user, Groups: o.groups, CSR: cred.CSRName, Requester: o.requester(),
		Certificate: pki.Describe(cred.Certificate), ExpiresIn: time.Until(cred.Certificate.NotAfter).Round(time.Minute).String(),
		Namespace: o.cmd.Namespace, Issued: issuing.IssuedOf(res),
	}
}

// requester is who submitted the request; "" when this admin submitted
// it from a file.
func (o *Options) requester() string {
	if o.req != nil {
		return o.req.Spec.Username
	}
	return ""
}

func (o *Options) printSummary(s Summary) error {
	if o.Output.Structured() {
		return o.Output.PrintSummary(o.Out, "Approval", s.CSR, s)
	}
	fmt.Fprintf(o.Out, "Approved %s for %s (groups %s)\n", s.CSR, s.User, strings.Join(s.Groups, ","))
	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	c := s.Certificate
	fmt.Fprintf(w, "  serial\t%s\n  sha256\t%s\n  valid\t%s to %s (expires in %s)\n", c.Serial, c.SHA256, c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339), s.ExpiresIn)
	s.PrintApplied(w, "")
	fmt.Fprintf(w, "  kubeconfig\t%s (context %s, no key)\n", s.Kubeconfig, s.Context)
	fmt.Fprintf(w, "  verified\t%d granted permissions allowed for %s\n", s.Verified.Checked, s.User)
	if err := w.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(o.Out, "Send %s to %s, who adds their key with:\n  kubeaccess complete %s --key %s.key\n", s.Kubeconfig, s.User, s.Kubeconfig, s.User)
	return err
}

// pemOf encodes a parsed request back to PEM, exactly as it was signed.
func pemOf(req *x509.CertificateRequest) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: req.Raw})
}
