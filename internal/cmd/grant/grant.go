// Package grant implements "kubeaccess grant": issue a client certificate
// through the CSR API, bind RBAC, write a kubeconfig and verify it.
package grant

import (
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/pki"
)

// Options holds the flags of "kubeaccess grant".
type Options struct {
	User      string
	Groups    []string
	BindGroup string
	TTL       time.Duration
	KeyType   string
	Timeout   time.Duration
	Approve   bool
	CACert    string
	CAKey     string
	Offline   bool
	Revocable bool
	For       time.Duration
	// Renewing writes a kubeconfig whose certificate renews itself;
	// RenewBefore is when.
	issuing.Renewing
	issuing.Flags

	Output *cmdutil.Output

	keyType pki.KeyType
	cmd     *issuing.Command
	// changed says whether a flag was given.
	changed func(name string) bool

	genericiooptions.IOStreams
}

var _ cmdutil.Options = (*Options)(nil)

// NewOptions returns Options with defaults.
func NewOptions(streams genericiooptions.IOStreams) *Options {
	return &Options{
		TTL:       24 * time.Hour,
		KeyType:   string(pki.DefaultKeyType),
		Timeout:   60 * time.Second,
		Approve:   true,
		Flags:     issuing.NewFlags(),
		Output:    cmdutil.NewOutput(),
		IOStreams: streams,
	}
}

// NewCmdGrant returns the "grant" command.
func NewCmdGrant(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewOptions(streams)
	cmd := &cobra.Command{
		Use:   "grant USER [flags]",
		Short: "Issue a client certificate for USER, bind RBAC, and write a verified kubeconfig",
		Long: `Create a private key and certificate request for USER (and groups), submit
it as a CertificateSigningRequest for kubernetes.io/kube-apiserver-client,
approve it, wait for the certificate, create the namespace, Role and
RoleBinding, write a kubeconfig, and verify with that kubeconfig that the
API server sees USER and allows exactly what was granted.`,
		Example: `  # Let dave of team dev deploy into namespace development
  kubeaccess grant dave -g dev -n development \
    --verb create,get,update,list,delete --resource pods,services,deployments

  # Bind the rules to the team instead of the person
  kubeaccess grant dave -g dev -n development --bind-group dev --verb get,list --resource pods

  # Read-only access to pods and namespaces across the cluster
  kubeaccess grant auditor --cluster-wide --verb get,list,watch --resource pods,namespaces

  # A certificate of an hour that renews itself while kubeaccess controller
  # approves (revoke stops it)
  kubeaccess grant dave -g dev -n development --role deployer --renewing --out dave.kubeconfig

  # Sign with the cluster CA key where the API does not sign client certificates
  kubeaccess grant dave -g dev -n development --role deployer --ca-cert ca.crt --ca-key ca.key

  # Show what would be created; with --dry-run=server the API server judges it too
  kubeaccess grant dave -g dev -n development --role deployer --dry-run=server`,
		Args: cmdutil.Args(cobra.ExactArgs(1)),
		RunE: cmdutil.RunE(f, o),
	}
	fs := cmd.Flags()
	fs.StringArrayVarP(&o.Groups, "group", "g", nil, "Group of the user (the certificate's O); repeatable")
	o.Flags.AddFlags(fs, "./USER.kubeconfig")
	fs.StringVar(&o.BindGroup, "bind-group", "", "Bind the access to this group (one of --group) instead of the user")
	fs.DurationVar(&o.TTL, "ttl", o.TTL, "Requested certificate lifetime (at least 10m); the signer may shorten it")
	fs.StringVar(&o.KeyType, "key-type", o.KeyType, "Private key type: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for the certificate to be issued")
	issuing.AddDryRunFlag(cmd, &o.DryRun)
	o.Output.AddFlags(cmd)
	fs.BoolVar(&o.Approve, "approve", o.Approve, "Approve the request; with --approve=false wait for another approver")
	fs.StringVar(&o.CACert, "ca-cert", "", "Sign offline with this CA certificate (the cluster's client CA) instead of the CSR API")
	fs.StringVar(&o.CAKey, "ca-key", "", "The private key of --ca-cert; only read")
	fs.DurationVar(&o.For, "for", 0, "Access that ends by itself after this long (e.g. 4h): kubeaccess controller takes it away then, and the certificate, "+
		"bound to its own group as with --revocable, lives no longer than that (at least the CSR API's 10m)")
	fs.BoolVar(&o.Revocable, "revocable", false, "Bind the access to a group minted for this certificate alone, so that revoke --credential takes it away from this certificate only")
	fs.BoolVar(&o.Offline, "offline", false, "With --ca-cert/--ca-key, make no API request at all (no RBAC, no verification)")
	o.Renewing.AddFlags(fs, "Write a kubeconfig whose short certificate renews itself (its user runs kubeaccess credential; kubeaccess controller approves each renewal; "+
		"the key stays in FILE.credential); --ttl defaults to 1h with it", true)
	o.changed = fs.Changed
	return cmd
}

// Complete resolves the user, namespace, clients and the cluster entry the
// new kubeconfig will copy. It loads configuration but makes no API request.
func (o *Options) Complete(f cmdutil.Factory, args []string) error {
	o.User = args[0]
	var err error
	if o.cmd, err = issuing.NewCommand(&o.Flags, f, o.Output, o.ErrOut); err != nil {
		return err
	}
	c := o.cmd.Cluster
	if o.Offline && (c.Server == "" || len(c.CA) == 0 && !c.Insecure) {
		return failure.UsageErrorf("--offline needs the API server's URL and CA for the new kubeconfig: " +
			"from the current context, or --server-url and --certificate-authority")
	}
	return nil
}

// Validate checks the flags without I/O and changes nothing. Every error is
// a usage error: nothing has been created.
func (o *Options) Validate() error {
	policy := pki.SubjectPolicy{AllowPrivileged: o.AllowPrivileged}
	if err := policy.Check(o.User, o.Groups); err != nil {
		return failure.UsageErrorf("%w", err)
	}
	if o.Renewing.Renewing && (o.changed == nil || !o.changed("ttl")) {
		// A renewing certificate lives short: revoking it ends it soon.
		o.TTL = time.Hour
	}
	if err := csr.ValidateTTL("--ttl", o.TTL); err != nil {
		return failure.UsageErrorf("%w", err)
	}
	kt, err := pki.ParseKeyType(o.KeyType)
	if err != nil {
		return failure.UsageErrorf("--key-type: %w", err)
	}
	o.keyType = kt
	if err := o.cmd.Validate(); err != nil {
		return err
	}
	if err := o.CheckLifetime("--ttl", o.TTL); err != nil {
		return err
	}
	switch {
	case o.BindGroup != "" && !o.HasAccess():
		return failure.UsageErrorf("--bind-group needs access to grant: --verb/--resource, --role or --clusterrole")
	case o.BindGroup != "" && !slices.Contains(o.Groups, o.BindGroup):
		return failure.UsageErrorf("--bind-group %q must be one of the user's groups (--group)", o.BindGroup)
	case o.Revocable && o.BindGroup != "":
		return failure.UsageErrorf("--revocable binds the access to the certificate's own group, so --bind-group cannot be used with it")
	case o.Revocable && o.Offline:
		return failure.UsageErrorf("--revocable needs the access bound, which --offline cannot do")
	case o.Renewing.Renewing && (o.Merge != "" || o.Offline || o.CACert != ""):
		return failure.UsageErrorf("--renewing writes a new kubeconfig (--out) for a certificate the cluster renews: it goes with neither --merge nor offline signing")
	case o.Renewing.Validate() != nil:
		return o.Renewing.Validate()
	case o.For < 0:
		return failure.UsageErrorf("--for must be positive")
	case o.For > 0 && !o.HasAccess():
		return failure.UsageErrorf("--for ends access: give the access to grant (--verb/--resource, --role or --clusterrole)")
	case o.For > 0 && (o.BindGroup != "" || o.Offline):
		return failure.UsageErrorf("--for binds the access to the certificate's own group, so that it ends with it: it goes with neither --bind-group nor --offline")
	}
	if o.For > 0 {
		// The access is the certificate's alone, and the certificate lives
		// no longer than the access (but at least what the CSR API takes).
		o.Revocable = true
		o.TTL = max(min(o.TTL, o.For), csr.MinTTL)
	}
	if err := o.validateSigning(); err != nil {
		return failure.UsageErrorf("%w", err)
	}
	if o.Timeout <= 0 {
		return failure.UsageErrorf("--timeout must be positive")
	}
	return nil
}

// validateSigning checks the offline-signing flags.
func (o *Options) validateSigning() error {
	switch {
	case (o.CACert == "") != (o.CAKey == ""):
		return fmt.Errorf("--ca-cert and --ca-key go together")
	case o.Offline && o.CACert == "":
		return fmt.Errorf("--offline signs with the CA key: give --ca-cert and --ca-key")
	case o.Offline && o.HasAccess():
		return fmt.Errorf("--offline makes no API request, so it cannot bind RBAC: drop --offline, or bind later")
	case o.Offline && o.DryRun != "none":
		return fmt.Errorf("--offline creates no object, so --dry-run has nothing to show")
	case o.Offline && !o.AllowPrivileged:
		return fmt.Errorf("refusing to sign offline: with no API request, kubeaccess cannot ask the cluster whether %q holds escalation-grade permissions; "+
			"drop --offline to have it checked, or pass --allow-privileged to sign unchecked", o.User)
	}
	return nil
}
