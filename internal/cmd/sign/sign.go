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
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/privilege"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
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
	Output              string
	issuing.Flags

	is     *issuing.Issuer
	parsed *x509.CertificateRequest

	genericiooptions.IOStreams
}

// NewCmdSign returns the "sign" command.
func NewCmdSign(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{TTL: 24 * time.Hour, Flags: issuing.NewFlags(), IOStreams: streams}
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
		RunE: func(cmd *cobra.Command, args []string) error {
			o.CSRFile = args[0]
			var err error
			if o.is, err = issuing.NewIssuer(&o.Flags, flags, o.ErrOut); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.CACert, "ca-cert", "", "The CA certificate to sign with (the cluster's client CA)")
	f.StringVar(&o.CAKey, "ca-key", "", "The private key of --ca-cert; only read")
	f.DurationVar(&o.TTL, "ttl", o.TTL, "Certificate lifetime, honoured exactly (at least 10m)")
	f.BoolVar(&o.Offline, "offline", false, "Make no API request at all (no RBAC, no verification)")
	f.StringVar(&o.BindGroup, "bind-group", "", "Bind the access to this group (one of the request's) instead of the user")
	f.BoolVar(&o.Revocable, "revocable", false, "Bind the access to the request's own group (from kubeaccess request --revocable)")
	f.BoolVar(&o.AllowExistingAccess, "allow-existing-access", false, "Sign for a subject that bindings kubeaccess did not make already give access: whoever holds the key gets it")
	f.StringVarP(&o.Output, "output", "o", "", "Print a summary as json or yaml")
	o.Flags.AddFlags(f, "./USER.kubeconfig")
	return cmd
}

// Validate checks the flags without I/O.
func (o *Options) Validate() error {
	switch {
	case o.CACert == "" || o.CAKey == "":
		return cmdutil.UsageErrorf("--ca-cert and --ca-key are required")
	case o.Offline && o.HasAccess():
		return cmdutil.UsageErrorf("--offline makes no API request, so it cannot bind RBAC: drop --offline, or bind later")
	case o.BindGroup != "" && !o.HasAccess():
		return cmdutil.UsageErrorf("--bind-group needs access to grant: --verb/--resource, --role or --clusterrole")
	}
	if err := csr.ValidateTTL("--ttl", o.TTL); err != nil {
		return cmdutil.UsageErrorf("%w", err)
	}
	if err := o.is.Validate(); err != nil {
		return err
	}
	if err := o.CheckLifetime("--ttl", o.TTL); err != nil {
		return err
	}
	c := o.is.Cluster
	if o.Offline && (c.Server == "" || len(c.CA) == 0 && !c.Insecure) {
		return cmdutil.UsageErrorf("--offline needs the API server's URL and CA for the new kubeconfig: " +
			"from the current context, or --server-url and --certificate-authority")
	}
	return cmdutil.ValidateOutputFormat(o.Output, "json", "yaml")
}

// Run signs the request, binds the access unless --offline, and writes the
// kubeconfig; a failure undoes what this run created.
func (o *Options) Run(ctx context.Context) error {
	data, err := os.ReadFile(o.CSRFile)
	if err != nil {
		return cmdutil.UsageErrorf("reading %s: %w", o.CSRFile, err)
	}
	if o.parsed, err = pki.ParseRequest(data); err != nil {
		return cmdutil.UsageErrorf("%s: %w", o.CSRFile, err)
	}
	if err := pki.CheckRequest(o.parsed); err != nil {
		return cmdutil.UsageErrorf("refusing to sign %s: %w", o.CSRFile, err)
	}
	user, groups := o.parsed.Subject.CommonName, o.parsed.Subject.Organization
	if o.Offline && !o.AllowPrivileged {
		return cmdutil.UsageErrorf("refusing to sign offline: with no API request, kubeaccess cannot ask the cluster whether %q holds escalation-grade "+
			"permissions or access through others' bindings; sign with the cluster reachable, or pass --allow-privileged to sign unchecked", user)
	}
	policy := pki.SubjectPolicy{AllowPrivileged: o.AllowPrivileged}
	if o.Revocable {
		if policy.CredentialGroup = issuing.CredentialGroupOf(groups); policy.CredentialGroup == "" || o.Offline {
			return cmdutil.UsageErrorf("--revocable needs a request made with kubeaccess request --revocable, and the cluster reachable to bind its group")
		}
		if err := o.is.CheckFreshCredentialGroup(ctx, policy.CredentialGroup); err != nil {
			return fmt.Errorf("refusing to sign: %w", err)
		}
	}
	if err := policy.Check(user, groups); err != nil {
		return cmdutil.UsageErrorf("refusing to sign: %w", err)
	}
	if o.BindGroup != "" && !slices.Contains(groups, o.BindGroup) {
		return cmdutil.UsageErrorf("--bind-group %q must be one of the request's groups %v", o.BindGroup, groups)
	}
	authority, err := pki.LoadAuthority(o.CACert, o.CAKey)
	if err != nil {
		return cmdutil.UsageErrorf("%w", err)
	}
	fmt.Fprintf(o.ErrOut, "request for user %q in groups %q, key %s; signing for %s with the CA %q\n",
		user, groups, pki.DescribePublicKey(o.parsed.PublicKey), o.TTL, authority.Cert.Subject.CommonName)
	entry := o.is.Entry(user)
	if err := o.is.CheckDestination(entry, user+".kubeconfig"); err != nil {
		return err
	}
	var (
		acc             *issuing.Access
		createNamespace bool
	)
	if !o.Offline {
		subject, base := issuing.BindingSubject(user, policy.CredentialGroup, o.BindGroup)
		acc, createNamespace, err = o.is.Preflight(ctx, issuing.Checks{
			Command: "signing", Refusing: "refusing to sign", Subject: subject, Base: base,
			Identity: privilege.ForUser(user, groups), RefuseExistingAccess: !o.AllowExistingAccess,
		})
		if err != nil {
			return err
		}
	}
	issued, err := authority.Sign(o.parsed, o.TTL, time.Now())
	if err != nil {
		return cmdutil.UsageErrorf("%w", err)
	}
	cert, err := pki.ParseCertificate(issued)
	if err != nil {
		return err
	}
	var changes []rbac.Change
	if !o.Offline {
		if changes, err = o.is.Apply(ctx, createNamespace, acc, nil); err != nil {
			return o.cleanUp(err, changes)
		}
	}
	entry.Certificate = issued
	path, err := o.is.WriteKubeconfig(entry, user+".kubeconfig")
	if err != nil {
		return o.cleanUp(err, changes)
	}
	s := summary{User: user, Groups: groups, Kind: "certificate", IssuedVia: "offline-ca", Certificate: pki.Describe(cert), Kubeconfig: path, Context: entry.ContextName}
	for _, c := range changes {
		s.Applied = append(s.Applied, c.String())
	}
	if !o.Offline {
		recorded := issuing.Async(func() (string, error) {
			r := issuing.CertificateRecord("offline-ca", "", issued, s.Certificate, changes, o.is.Namespace, o.TTL)
			r.CredentialGroup = policy.CredentialGroup
			return o.is.Record(ctx, r)
		})
		s.Verified, err = o.is.VerifyFor(ctx, user, groups, acc)
		var recordErr error
		if s.Record, recordErr = recorded(); recordErr != nil {
			return fmt.Errorf("%s was written but the credential was not recorded: %w", path, recordErr)
		}
		if err != nil {
			return fmt.Errorf("%s was written but the access does not work as granted: %w", path, err)
		}
	}
	return o.print(s)
}

func (o *Options) cleanUp(cause error, changes []rbac.Change) error {
	return o.is.Failed(cause, changes)
}

// summary is what sign issued; it holds no key.
type summary struct {
	User        string               `json:"user"`
	Groups      []string             `json:"groups"`
	Kind        string               `json:"kind"`
	IssuedVia   string               `json:"issuedVia"`
	Certificate pki.CertificateInfo  `json:"certificate"`
	Applied     []string             `json:"applied"`
	Kubeconfig  string               `json:"kubeconfig"`
	Context     string               `json:"context"`
	Verified    issuing.Verification `json:"verified"`
	Record      string               `json:"record,omitempty"`
}

func (o *Options) print(s summary) error {
	if o.Output != "" {
		return cmdutil.PrintStructured(o.Out, o.Output, s)
	}
	c := s.Certificate
	fmt.Fprintf(o.Out, "Signed a certificate for %s (groups %s)\n", s.User, strings.Join(s.Groups, ","))
	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "  serial\t%s\n  valid\t%s to %s\n", c.Serial, c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339))
	if len(s.Applied) > 0 {
		fmt.Fprintf(w, "  applied\t%s\n", strings.Join(s.Applied, ", "))
	}
	fmt.Fprintf(w, "  kubeconfig\t%s (context %s, no key)\n", s.Kubeconfig, s.Context)
	if err := w.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(o.Out, "Send %s to %s, who adds their key with:\n  kubeaccess complete %s --key %s.key\n", s.Kubeconfig, s.User, s.Kubeconfig, s.User)
	return err
}
