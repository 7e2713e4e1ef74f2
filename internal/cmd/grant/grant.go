// Package grant implements "kubeaccess grant": issue a client certificate
// through the CSR API, bind RBAC, write a kubeconfig and verify it.
package grant

import (
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/csr"
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
	DryRun    bool
	Output    string
	Approve   bool
	CACert    string
	CAKey     string
	Offline   bool
	Revocable bool
	issuing.Flags

	keyType   pki.KeyType
	is        *issuing.Issuer
	authority *pki.Authority // signs offline, with --ca-cert and --ca-key
	// credentialGroup is the group minted for a --revocable certificate.
	credentialGroup string

	genericiooptions.IOStreams
}

// NewOptions returns Options with defaults.
func NewOptions(streams genericiooptions.IOStreams) *Options {
	return &Options{
		TTL:       24 * time.Hour,
		KeyType:   string(pki.DefaultKeyType),
		Timeout:   60 * time.Second,
		Approve:   true,
		Flags:     issuing.NewFlags(),
		IOStreams: streams,
	}
}

// NewCmdGrant returns the "grant" command.
func NewCmdGrant(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
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

  # Sign with the cluster CA key where the API does not sign client certificates
  kubeaccess grant dave -g dev -n development --role deployer --ca-cert ca.crt --ca-key ca.key

  # Show what would be created
  kubeaccess grant dave -g dev -n development --role deployer --dry-run`,
		Args: cmdutil.Args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(flags, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.Groups, "group", "g", nil, "Group of the user (the certificate's O); repeatable")
	o.Flags.AddFlags(f, "./USER.kubeconfig")
	f.StringVar(&o.BindGroup, "bind-group", "", "Bind the access to this group (one of --group) instead of the user")
	f.DurationVar(&o.TTL, "ttl", o.TTL, "Requested certificate lifetime (at least 10m); the signer may shorten it")
	f.StringVar(&o.KeyType, "key-type", o.KeyType, "Private key type: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for the certificate to be issued")
	f.BoolVar(&o.DryRun, "dry-run", false, "Print the objects that would be created, and create nothing")
	f.StringVarP(&o.Output, "output", "o", "", "Print a summary as json or yaml")
	f.BoolVar(&o.Approve, "approve", o.Approve, "Approve the request; with --approve=false wait for another approver")
	f.StringVar(&o.CACert, "ca-cert", "", "Sign offline with this CA certificate (the cluster's client CA) instead of the CSR API")
	f.StringVar(&o.CAKey, "ca-key", "", "The private key of --ca-cert; only read")
	f.BoolVar(&o.Revocable, "revocable", false, "Bind the access to a group minted for this certificate alone, so that revoke --credential takes it away from this certificate only")
	f.BoolVar(&o.Offline, "offline", false, "With --ca-cert/--ca-key, make no API request at all (no RBAC, no verification)")
	return cmd
}

// Validate checks the flags without contacting the cluster. Every error is a
// usage error: nothing has been created.
func (o *Options) Validate() error {
	if err := o.policy().Check(o.User, o.Groups); err != nil {
		return cmdutil.UsageErrorf("%w", err)
	}
	if o.Revocable {
		if err := o.mintCredentialGroup(); err != nil {
			return err
		}
	}
	if err := csr.ValidateTTL("--ttl", o.TTL); err != nil {
		return cmdutil.UsageErrorf("%w", err)
	}
	kt, err := pki.ParseKeyType(o.KeyType)
	if err != nil {
		return cmdutil.UsageErrorf("--key-type: %w", err)
	}
	o.keyType = kt
	if err := o.is.Validate(); err != nil {
		return err
	}
	if err := o.CheckLifetime("--ttl", o.TTL); err != nil {
		return err
	}
	switch {
	case o.BindGroup != "" && !o.HasAccess():
		return cmdutil.UsageErrorf("--bind-group needs access to grant: --verb/--resource, --role or --clusterrole")
	case o.BindGroup != "" && !slices.Contains(o.Groups, o.BindGroup):
		return cmdutil.UsageErrorf("--bind-group %q must be one of the user's groups (--group)", o.BindGroup)
	}
	if err := o.validateSigning(); err != nil {
		return cmdutil.UsageErrorf("%w", err)
	}
	if o.Timeout <= 0 {
		return cmdutil.UsageErrorf("--timeout must be positive")
	}
	return cmdutil.ValidateOutputFormat(o.Output, "json", "yaml")
}

// policy is the subject policy of this grant.
func (o *Options) policy() pki.SubjectPolicy {
	return pki.SubjectPolicy{AllowPrivileged: o.AllowPrivileged, CredentialGroup: o.credentialGroup}
}

// mintCredentialGroup adds the per-credential group of a --revocable
// certificate to its groups.
func (o *Options) mintCredentialGroup() error {
	switch {
	case o.BindGroup != "":
		return cmdutil.UsageErrorf("--revocable binds the access to the certificate's own group, so --bind-group cannot be used with it")
	case o.Offline:
		return cmdutil.UsageErrorf("--revocable needs the access bound, which --offline cannot do")
	}
	group, err := pki.NewCredentialGroup()
	if err != nil {
		return err
	}
	o.credentialGroup, o.Groups = group, append(o.Groups, group)
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
	case o.Offline && o.DryRun:
		return fmt.Errorf("--offline creates no object, so --dry-run has nothing to show")
	case o.Offline && !o.AllowPrivileged:
		return fmt.Errorf("refusing to sign offline: with no API request, kubeaccess cannot ask the cluster whether %q holds escalation-grade permissions; "+
			"drop --offline to have it checked, or pass --allow-privileged to sign unchecked", o.User)
	}
	return nil
}
