package token

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/issue"
)

// Run has the engine bind the access (and make the ServiceAccount and
// Secret when missing), request the token, and write and verify the
// kubeconfig; a failure after the first change undoes what was created.
func (o *Options) Run(ctx context.Context) error {
	subject := issue.ServiceAccountSubject(o.cmd.Namespace, o.ServiceAccount)
	source := &issue.Token{Audiences: o.Audiences, Duration: o.Duration, BoundSecret: o.BoundSecret, CreateSecret: true, CreateServiceAccount: o.Create}
	p := o.cmd.Plan("token", subject, source, o.ServiceAccount+".kubeconfig")
	o.Renewing.Apply(&p.Destination, true)
	res, err := o.cmd.Execute(ctx, o.Out, p)
	if err != nil || res == nil {
		return err
	}
	return o.printSummary(o.summary(res))
}

// Summary is what "kubeaccess token" issued.
type Summary struct {
	ServiceAccount    string    `json:"serviceAccount"`
	Namespace         string    `json:"namespace"`
	Username          string    `json:"username"`
	Audiences         []string  `json:"audiences"`
	BoundSecret       string    `json:"boundSecret,omitempty"`
	ExpiresAt         time.Time `json:"expiresAt"`
	RequestedDuration string    `json:"requestedDuration"`
	ExpiresIn         string    `json:"expiresIn"`
	Shortened         bool      `json:"shortenedByServer"`
	issuing.Issued
}

// summary reports the token's expiry from its exp claim, not the request.
func (o *Options) summary(res *issue.Result) Summary {
	cred := res.Credential
	expiresIn := time.Until(cred.Claims.ExpiresAt).Round(time.Minute)
	shortened := expiresIn < o.Duration-time.Minute
	if shortened {
		fmt.Fprintf(o.ErrOut, "warning: the API server shortened the token's lifetime: it expires in %s (asked for %s)\n", expiresIn, o.Duration)
	}
	return Summary{
		ServiceAccount: o.ServiceAccount, Namespace: o.cmd.Namespace, Username: res.Subject.User,
		Audiences: cred.Audiences, BoundSecret: cred.BoundSecret,
		ExpiresAt: cred.Claims.ExpiresAt, RequestedDuration: o.Duration.String(), ExpiresIn: expiresIn.String(), Shortened: shortened,
		Issued: issuing.IssuedOf(res),
	}
}

func (o *Options) printSummary(s Summary) error {
	if o.Output.Structured() {
		return o.Output.PrintSummary(o.Out, "Token", s.Username, s)
	}
	fmt.Fprintf(o.Out, "Issued a token for %s\n", s.Username)
	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "  audiences\t%s\n", strings.Join(s.Audiences, ", "))
	fmt.Fprintf(w, "  expires\t%s (in %s)\n", s.ExpiresAt.Format(time.RFC3339), s.ExpiresIn)
	if s.BoundSecret != "" {
		fmt.Fprintf(w, "  bound to\tSecret %s/%s: deleting it revokes the token\n", s.Namespace, s.BoundSecret)
	}
	s.PrintApplied(w, "nothing")
	fmt.Fprintf(w, "  kubeconfig\t%s (context %s, namespace %s)\n", s.Kubeconfig, s.Context, s.Namespace)
	fmt.Fprintf(w, "  verified\tthe API server sees %s; %d granted permissions allowed\n", s.Verified.Username, s.Verified.Checked)
	return w.Flush()
}
