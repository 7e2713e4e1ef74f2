package grant

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/pki"
)

// Summary is what a grant issued, printed for people or with -o.
type Summary struct {
	User         string              `json:"user"`
	Groups       []string            `json:"groups"`
	CSR          string              `json:"certificateSigningRequest,omitempty"`
	Certificate  pki.CertificateInfo `json:"certificate"`
	RequestedTTL string              `json:"requestedTTL"`
	Lifetime     string              `json:"lifetime"`
	ExpiresIn    string              `json:"expiresIn"`
	Clamped      bool                `json:"clampedBySigner"`
	Revocable    bool                `json:"revocable,omitempty"`
	Until        *time.Time          `json:"accessUntil,omitempty"`
	Namespace    string              `json:"namespace"`
	issuing.Issued
}

// summary describes the issued certificate. Its lifetime is read from the
// certificate, since a signer may shorten the requested TTL: the
// kube-controller-manager signer backdates NotBefore and keeps
// NotAfter-NotBefore equal to the TTL unless its --cluster-signing-duration
// (or its CA's expiry) is shorter.
func (o *Options) summary(res *issue.Result) Summary {
	cred, cert := res.Credential, res.Credential.Certificate
	lifetime := cert.NotAfter.Sub(cert.NotBefore)
	expiresIn := time.Until(cert.NotAfter).Round(time.Minute)
	clamped := lifetime < o.TTL-time.Second
	if clamped {
		fmt.Fprintf(o.ErrOut, "warning: the signer shortened the certificate's lifetime: it expires in %s (asked for %s)\n", expiresIn, o.TTL)
	}
	return Summary{
		User: o.User, Groups: res.Subject.Groups, CSR: cred.CSRName, Certificate: pki.Describe(cert),
		RequestedTTL: o.TTL.String(), Lifetime: lifetime.String(), ExpiresIn: expiresIn.String(), Clamped: clamped,
		Revocable: res.Subject.CredentialGroup != "", Namespace: o.cmd.Namespace, Issued: issuing.IssuedOf(res),
		Until: res.AccessUntil,
	}
}

func (o *Options) printSummary(s Summary) error {
	if o.Output.Structured() {
		return o.Output.PrintSummary(o.Out, "Grant", s.User, s)
	}
	groups := "no groups"
	if len(s.Groups) > 0 {
		groups = "groups " + strings.Join(s.Groups, ",")
	}
	fmt.Fprintf(o.Out, "Granted %s (%s) a client certificate\n", s.User, groups)
	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	c := s.Certificate
	fmt.Fprintf(w, "  serial\t%s\n  sha256\t%s\n  key\t%s\n", c.Serial, c.SHA256, c.KeyType)
	fmt.Fprintf(w, "  valid\t%s to %s (expires in %s)\n", c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339), s.ExpiresIn)
	s.PrintApplied(w, "nothing: no access was asked for, so the certificate only authenticates "+s.User)
	fmt.Fprintf(w, "  kubeconfig\t%s (context %s, namespace %s)\n", s.Kubeconfig, s.Context, s.Namespace)
	if o.Offline {
		fmt.Fprintf(w, "  verified\tnot tried (--offline)\n")
	} else {
		fmt.Fprintf(w, "  verified\tthe API server sees %s in [%s]; %d granted permissions allowed\n",
			s.Verified.Username, strings.Join(s.Verified.Groups, " "), s.Verified.Checked)
	}
	if s.Record != "" {
		fmt.Fprintf(w, "  record\t%s\n", s.Record)
	}
	if s.Until != nil {
		fmt.Fprintf(w, "  access until\t%s: kubeaccess controller takes it away then\n", s.Until.Format(time.RFC3339))
	}
	return w.Flush()
}
