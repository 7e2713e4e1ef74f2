// Package sign implements "kubeaccess sign": sign a user's certificate
// request offline with the cluster CA key, for the split flow on clusters
// whose API does not sign client certificates.
package sign

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/pki"
)

// Options holds the flags of "kubeaccess sign".
type Options struct {
	CSRFile   string
	CACert    string
	CAKey     string
	TTL       time.Duration
	Offline   bool
	BindGroup string
	Revocable bool
	// AllowExistingAccess signs for a subject that bindings kubeaccess did
	// not make already give access.
	AllowExistingAccess bool
	issuing.Flags
	Output *cmdutil.Output

	cmd     *issuing.Command
	request []byte
	parsed  *x509.CertificateRequest

	genericiooptions.IOStreams
}

var _ cmdutil.Options = (*Options)(nil)

// NewCmdSign returns the "sign" command.
func NewCmdSign(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{TTL: 24 * time.Hour, Flags: issuing.NewFlags(), Output: cmdutil.NewOutput(), IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "sign USER.csr --ca-cert CA.crt --ca-key CA.key [flags]",
		Short: "Sign a user's certificate request with the CA key and write a kubeconfig without a key",
		Long: `Sign the PEM certificate request (from kubeaccess request) with the cluster's
client CA, as grant --ca-cert does, refusing what approve refuses. The
certificate is client-auth only, valid from 5 minutes ago for exactly --ttl.
When the cluster is reachable the access flags are bound and checked; with
--offline no API request is made. The kubeconfig has no key: the user adds
theirs with "kubeaccess complete".`,
		Example: `  kubeaccess sign dave.csr --ca-cert ca.crt --ca-key ca.key -n development --role deployer`,
		Args:    cmdutil.Args(cobra.ExactArgs(1)),
		RunE:    cmdutil.RunE(f, o),
	}
	fs := cmd.Flags()
	fs.StringVar(&o.CACert, "ca-cert", "", "The CA certificate to sign with (the cluster's client CA)")
	fs.StringVar(&o.CAKey, "ca-key", "", "The private key of --ca-cert; only read")
	fs.DurationVar(&o.TTL, "ttl", o.TTL, "Certificate lifetime, honoured exactly (at least 10m)")
	fs.BoolVar(&o.Offline, "offline", false, "Make no API request at all (no RBAC, no verification)")
	fs.StringVar(&o.BindGroup, "bind-group", "", "Bind the access to this group (one of the request's) instead of the user")
	fs.BoolVar(&o.Revocable, "revocable", false, "Bind the access to the request's own group (from kubeaccess request --revocable)")
	fs.BoolVar(&o.AllowExistingAccess, "allow-existing-access", false, "Sign for a subject that bindings kubeaccess did not make already give access: whoever holds the key gets it")
	issuing.AddDryRunFlag(cmd, &o.DryRun)
	o.Output.AddFlags(cmd)
	o.Flags.AddFlags(fs, "./USER.kubeconfig")
	return cmd
}

// Complete reads the request file's name and resolves the namespace,
// clients and cluster entry; it makes no API request.
func (o *Options) Complete(f cmdutil.Factory, args []string) error {
	o.CSRFile = args[0]
	var err error
	o.cmd, err = issuing.NewCommand(&o.Flags, f, o.Output, o.ErrOut)
	return err
}

// Validate checks the flags without I/O.
func (o *Options) Validate() error {
	switch {
	case o.CACert == "" || o.CAKey == "":
		return failure.UsageErrorf("--ca-cert and --ca-key are required")
	case o.Offline && o.HasAccess():
		return failure.UsageErrorf("--offline makes no API request, so it cannot bind RBAC: drop --offline, or bind later")
	case o.BindGroup != "" && !o.HasAccess():
		return failure.UsageErrorf("--bind-group needs access to grant: --verb/--resource, --role or --clusterrole")
	}
	if err := csr.ValidateTTL("--ttl", o.TTL); err != nil {
		return failure.UsageErrorf("%w", err)
	}
	if err := o.cmd.Validate(); err != nil {
		return err
	}
	if err := o.CheckLifetime("--ttl", o.TTL); err != nil {
		return err
	}
	if o.Offline && o.DryRun != "none" {
		return failure.UsageErrorf("--offline creates no object, so --dry-run has nothing to show")
	}
	c := o.cmd.Cluster
	if o.Offline && (c.Server == "" || len(c.CA) == 0 && !c.Insecure) {
		return failure.UsageErrorf("--offline needs the API server's URL and CA for the new kubeconfig: " +
			"from the current context, or --server-url and --certificate-authority")
	}
	return nil
}

// Run signs the request through the engine, binding the access unless
// --offline, and writes the kubeconfig; a failure undoes what this run
// created.
func (o *Options) Run(ctx context.Context) error {
	var err error
	if o.request, err = os.ReadFile(o.CSRFile); err != nil {
		return failure.UsageErrorf("reading %s: %w", o.CSRFile, err)
	}
	if o.parsed, err = pki.ParseRequest(o.request); err != nil {
		return failure.UsageErrorf("%s: %w", o.CSRFile, err)
	}
	if err := pki.CheckRequest(o.parsed); err != nil {
		return failure.UsageErrorf("refusing to sign %s: %w", o.CSRFile, err)
	}
	user, groups := o.parsed.Subject.CommonName, o.parsed.Subject.Organization
	if o.Offline && !o.AllowPrivileged {
		return failure.UsageErrorf("refusing to sign offline: with no API request, kubeaccess cannot ask the cluster whether %q holds escalation-grade "+
			"permissions or access through others' bindings; sign with the cluster reachable, or pass --allow-privileged to sign unchecked", user)
	}
	subject := issue.Subject{User: user, Groups: groups}
	if o.Revocable {
		if subject.CredentialGroup = issue.CredentialGroupOf(groups); subject.CredentialGroup == "" || o.Offline {
			return failure.UsageErrorf("--revocable needs a request made with kubeaccess request --revocable, and the cluster reachable to bind its group")
		}
	}
	policy := pki.SubjectPolicy{AllowPrivileged: o.AllowPrivileged, CredentialGroup: subject.CredentialGroup}
	if err := policy.Check(user, groups); err != nil {
		return failure.UsageErrorf("refusing to sign: %w", err)
	}
	if o.BindGroup != "" && !slices.Contains(groups, o.BindGroup) {
		return failure.UsageErrorf("--bind-group %q must be one of the request's groups %v", o.BindGroup, groups)
	}
	authority, err := pki.LoadAuthority(o.CACert, o.CAKey)
	if err != nil {
		return failure.UsageErrorf("%w", err)
	}
	fmt.Fprintf(o.ErrOut, "request for user %q in groups %q, key %s; signing for %s with the CA %q\n",
		user, groups, pki.DescribePublicKey(o.parsed.PublicKey), o.TTL, authority.Cert.Subject.CommonName)
	p := o.cmd.Plan("signing", subject, &issue.Authority{CA: authority, Request: o.request, TTL: o.TTL}, user+".kubeconfig")
	p.Refusing = "refusing to sign"
	p.Access.BindGroup = o.BindGroup
	p.Offline = o.Offline
	p.Policy.RefuseExistingAccess = !o.AllowExistingAccess
	if o.Offline {
		p.RecordsNamespace = ""
	}
	res, err := o.cmd.Execute(ctx, o.Out, p)
	if err != nil || res == nil {
		return err
	}
	return o.print(summary{User: user, Groups: groups, Certificate: pki.Describe(res.Credential.Certificate), Issued: issuing.IssuedOf(res)})
}

// summary is what sign issued; it holds no key.
type summary struct {
	User        string              `json:"user"`
	Groups      []string            `json:"groups"`
	Certificate pki.CertificateInfo `json:"certificate"`
	issuing.Issued
}

func (o *Options) print(s summary) error {
	if o.Output.Structured() {
		return o.Output.PrintSummary(o.Out, "Signing", s.User, s)
	}
	c := s.Certificate
	fmt.Fprintf(o.Out, "Signed a certificate for %s (groups %s)\n", s.User, strings.Join(s.Groups, ","))
	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "  serial\t%s\n  valid\t%s to %s\n", c.Serial, c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339))
	s.PrintApplied(w, "")
	fmt.Fprintf(w, "  kubeconfig\t%s (context %s, no key)\n", s.Kubeconfig, s.Context)
	if err := w.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(o.Out, "Send %s to %s, who adds their key with:\n  kubeaccess complete %s --key %s.key\n", s.Kubeconfig, s.User, s.Kubeconfig, s.User)
	return err
}
