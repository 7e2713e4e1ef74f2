// Package approve implements "kubeaccess approve": the admin's side of the
// split flow. It approves a user's certificate request (by name, or from a
// CSR file it submits), binds access, and writes a kubeconfig without a key
// for the user to complete. With no request named it lists those pending.
package approve

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/pki"
)

// Options holds the flags of "kubeaccess approve".
type Options struct {
	Name      string
	CSRFile   string
	TTL       time.Duration
	BindGroup string
	Revocable bool
	// AllowExistingAccess approves a subject that bindings kubeaccess did
	// not make already give access.
	AllowExistingAccess bool
	Timeout             time.Duration
	issuing.Flags
	issuing.Renewing
	Output *cmdutil.Output

	cmd *issuing.Command
	// The request being approved: the object (nil until a file is
	// submitted), its parsed content, and the subject it asks for.
	req    *certificatesv1.CertificateSigningRequest
	parsed *x509.CertificateRequest
	user   string
	groups []string
	// credentialGroup is the request's own group, with --revocable.
	credentialGroup string

	genericiooptions.IOStreams
}

var _ cmdutil.Options = (*Options)(nil)

// NewCmdApprove returns the "approve" command.
func NewCmdApprove(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{TTL: 24 * time.Hour, Timeout: 60 * time.Second, Flags: issuing.NewFlags(), Output: cmdutil.NewOutput(), IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "approve [NAME | --csr-file USER.csr] [flags]",
		Short: "Approve a user's certificate request, bind access, and write a kubeconfig without a key",
		Long: `Approve the CertificateSigningRequest NAME, or submit and approve the request in
--csr-file, after showing its subject, groups, key type and lifetime and
refusing what grant refuses (system: names, groups with cluster-admin rights).
Then wait for the certificate, bind the access flags as grant does, check it
with SubjectAccessReviews, and write a kubeconfig with the certificate and no
key: the user adds theirs with "kubeaccess complete". With neither NAME nor
--csr-file, list the requests waiting for approval.`,
		Example: `  # What waits for approval?
  kubeaccess approve

  # Approve dave's request file and let him deploy into development
  kubeaccess approve --csr-file dave.csr -n development --role deployer --out dave.kubeconfig`,
		Args: cmdutil.Args(cobra.MaximumNArgs(1)),
		RunE: cmdutil.RunE(f, o),
	}
	fs := cmd.Flags()
	fs.StringVar(&o.CSRFile, "csr-file", "", "Submit this PEM certificate request (from kubeaccess request) and approve it")
	fs.DurationVar(&o.TTL, "ttl", o.TTL, "With --csr-file, the requested lifetime (at least 10m); the signer may shorten it")
	fs.StringVar(&o.BindGroup, "bind-group", "", "Bind the access to this group (one of the request's) instead of the user")
	fs.BoolVar(&o.AllowExistingAccess, "allow-existing-access", false, "Approve a subject that bindings kubeaccess did not make already give access: whoever holds the key gets it")
	fs.BoolVar(&o.Revocable, "revocable", false, "Bind the access to the request's own group (from kubeaccess request --revocable), so that revoke --credential takes it from this certificate only")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for the certificate to be issued")
	o.Renewing.AddFlags(fs, "Let the certificate renew itself: bind it the kubeaccess-renewer role and say so in the kubeconfig, "+
		"which kubeaccess complete on the holder's side then makes renew itself (kubeaccess controller approves each renewal); keep the request's lifetime short", true)
	issuing.AddDryRunFlag(cmd, &o.DryRun)
	o.Output.AddFlags(cmd)
	o.Flags.AddFlags(fs, "./USER.kubeconfig")
	return cmd
}

// Complete reads the request's name, if any, and resolves the namespace,
// clients and cluster entry; it makes no API request.
func (o *Options) Complete(f cmdutil.Factory, args []string) error {
	if len(args) == 1 {
		o.Name = args[0]
	}
	var err error
	o.cmd, err = issuing.NewCommand(&o.Flags, f, o.Output, o.ErrOut)
	return err
}

// Validate checks the flags without I/O.
func (o *Options) Validate() error {
	switch {
	case o.Name != "" && o.CSRFile != "":
		return failure.UsageErrorf("name a CertificateSigningRequest or give --csr-file, not both")
	case o.Timeout <= 0:
		return failure.UsageErrorf("--timeout must be positive")
	case o.Revocable && o.BindGroup != "":
		return failure.UsageErrorf("--revocable binds the access to the certificate's own group, so --bind-group cannot be used with it")
	case o.BindGroup != "" && !o.HasAccess():
		return failure.UsageErrorf("--bind-group needs access to grant: --verb/--resource, --role or --clusterrole")
	case o.Renewing.Validate() != nil:
		return o.Renewing.Validate()
	case o.Renewing.Renewing && o.Merge != "":
		return failure.UsageErrorf("--renewing writes a new kubeconfig (--out), which its holder completes: it does not go with --merge")
	}
	if o.CSRFile != "" {
		if err := csr.ValidateTTL("--ttl", o.TTL); err != nil {
			return failure.UsageErrorf("%w", err)
		}
	}
	if err := o.cmd.Validate(); err != nil {
		return err
	}
	if o.CSRFile != "" {
		return o.CheckLifetime("--ttl", o.TTL)
	}
	return nil
}

// load reads the request to approve, from the file or the cluster, and
// checks it is a client-certificate request kubeaccess may approve.
func (o *Options) load(ctx context.Context) error {
	if o.CSRFile != "" {
		data, err := os.ReadFile(o.CSRFile)
		if err != nil {
			return failure.UsageErrorf("reading %s: %w", o.CSRFile, err)
		}
		if o.parsed, err = pki.ParseRequest(data); err != nil {
			return failure.UsageErrorf("%s: %w", o.CSRFile, err)
		}
		if err := pki.CheckRequest(o.parsed); err != nil {
			return failure.UsageErrorf("refusing to approve %s: %w", o.CSRFile, err)
		}
		o.user, o.groups = o.parsed.Subject.CommonName, o.parsed.Subject.Organization
		return nil
	}
	req, err := csr.Get(ctx, o.cmd.Engine.Client(), o.Name)
	if err != nil {
		return err
	}
	if err := checkPending(req); err != nil {
		return err
	}
	if o.parsed, err = pki.ParseRequest(req.Spec.Request); err != nil {
		return failure.UsageErrorf("CertificateSigningRequest %s: %w", o.Name, err)
	}
	if err := pki.CheckRequest(o.parsed); err != nil {
		return failure.UsageErrorf("refusing to approve CertificateSigningRequest %s: %w", o.Name, err)
	}
	o.req, o.user, o.groups = req, o.parsed.Subject.CommonName, o.parsed.Subject.Organization
	return o.checkRequestedLifetime()
}

// checkRequestedLifetime refuses a request asking for longer than
// --max-ttl; one that asks for nothing gets the signer's maximum.
func (o *Options) checkRequestedLifetime() error {
	if o.req.Spec.ExpirationSeconds == nil {
		if issue.SignerMaxLifetime > o.MaxLifetime() {
			return failure.UsageErrorf("refusing to approve CertificateSigningRequest %s: it sets no expirationSeconds, so the signer issues its maximum "+
				"(%s by default), longer than --max-ttl %s; ask the user for a request with a lifetime, or raise --max-ttl to allow it", o.Name, issue.SignerMaxLifetime, o.MaxTTL)
		}
		return nil
	}
	return o.CheckLifetime("CertificateSigningRequest "+o.Name+" asks for a lifetime of", issue.RequestedLifetime(o.req))
}

// describeRequest shows what is about to be approved and who asked,
// every string from the request quoted, so that no escape sequence in it
// reaches the terminal, and calls out a request made for someone else.
func (o *Options) describeRequest() {
	requester := "you, from " + strconv.Quote(o.CSRFile)
	if o.CSRFile == "" {
		requester = fmt.Sprintf("%q (groups %q, uid %q)", o.req.Spec.Username, o.req.Spec.Groups, o.req.Spec.UID)
	}
	fmt.Fprintf(o.ErrOut, "request for user %q in groups %q, key %s, lifetime %s\n  asked by %s\n",
		o.user, o.groups, pki.DescribePublicKey(o.parsed.PublicKey), o.lifetime(), requester)
	if o.CSRFile == "" && o.req.Spec.Username != o.user {
		fmt.Fprintf(o.ErrOut, "warning: %q asked for a certificate for %q, a different user: approving lets whoever holds %q's key act as %q\n",
			o.req.Spec.Username, o.user, o.req.Spec.Username, o.user)
	}
}

// checkPending refuses a request kubeaccess should not approve.
func checkPending(req *certificatesv1.CertificateSigningRequest) error {
	if req.Spec.SignerName != certificatesv1.KubeAPIServerClientSignerName {
		return failure.UsageErrorf("CertificateSigningRequest %s is for signer %s; kubeaccess approves only %s",
			req.Name, req.Spec.SignerName, certificatesv1.KubeAPIServerClientSignerName)
	}
	for _, u := range req.Spec.Usages {
		if !slices.Contains(allowedUsages, u) {
			return failure.UsageErrorf("CertificateSigningRequest %s asks for usage %q; a client certificate needs only %v", req.Name, u, allowedUsages)
		}
	}
	if state := csr.State(req); state != "" {
		return failure.UsageErrorf("CertificateSigningRequest %s is already %s", req.Name, state)
	}
	return nil
}

// allowedUsages are what a Kubernetes client certificate may carry.
var allowedUsages = []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth, certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment}

// lifetime is the requested lifetime, as the request (or --ttl) says.
func (o *Options) lifetime() string {
	switch {
	case o.req == nil:
		return o.TTL.String()
	case o.req.Spec.ExpirationSeconds != nil:
		return (time.Duration(*o.req.Spec.ExpirationSeconds) * time.Second).String()
	}
	return "the signer's default"
}
