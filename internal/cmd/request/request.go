// Package request implements "kubeaccess request": the user's side of the
// split flow. The private key is created here and never leaves this machine;
// only the certificate request goes to the admin.
package request

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/pki"
)

// Options holds the flags of "kubeaccess request".
type Options struct {
	User      string
	Groups    []string
	KeyType   string
	Dir       string
	Force     bool
	Submit    bool
	TTL       time.Duration
	Revocable bool
	DryRun    string

	keyType pki.KeyType
	dryRun  issue.DryRun
	factory cmdutil.Factory
	genericiooptions.IOStreams
}

var _ cmdutil.Options = (*Options)(nil)

// NewCmdRequest returns the "request" command.
func NewCmdRequest(factory cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{KeyType: string(pki.DefaultKeyType), Dir: ".", TTL: 24 * time.Hour, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "request USER [flags]",
		Short: "Create your private key and a certificate request for an admin to approve",
		Long: `Create a private key (USER.key, mode 0600) and a certificate request (USER.csr)
for USER and groups, here, where the key will be used. Send the request, never
the key, to a cluster admin; with --submit, create the CertificateSigningRequest
yourself (this needs create on certificatesigningrequests). The admin's
kubeconfig comes back without a key: add yours with "kubeaccess complete".`,
		Example: `  kubeaccess request dave -g dev
  kubeaccess request dave -g dev --submit --ttl 8h

  # The CertificateSigningRequest --submit would create, judged by the API server; no file is written
  kubeaccess request dave -g dev --submit --dry-run=server`,
		Args: cmdutil.Args(cobra.ExactArgs(1)),
		RunE: cmdutil.RunE(factory, o),
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.Groups, "group", "g", nil, "Group (the certificate's O); repeatable")
	f.StringVar(&o.KeyType, "key-type", o.KeyType, "Private key type: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519")
	f.StringVar(&o.Dir, "dir", o.Dir, "Directory for USER.key and USER.csr")
	f.BoolVar(&o.Force, "force", false, "Replace existing USER.key and USER.csr")
	f.BoolVar(&o.Submit, "submit", false, "Also create the CertificateSigningRequest in the cluster")
	f.DurationVar(&o.TTL, "ttl", o.TTL, "With --submit, the requested lifetime (at least 10m)")
	f.BoolVar(&o.Revocable, "revocable", false, "Carry a group minted for this certificate alone, so that its access can be revoked on its own (approve --revocable)")
	issuing.AddDryRunFlag(cmd, &o.DryRun)
	return cmd
}

// Complete keeps the factory the run builds its clients from and reads the user.
func (o *Options) Complete(f cmdutil.Factory, args []string) error {
	o.User = args[0]
	o.factory = f
	return nil
}

// Validate refuses what an admin would refuse, before a key is made.
func (o *Options) Validate() error {
	if err := (pki.SubjectPolicy{}).Check(o.User, o.Groups); err != nil {
		return failure.UsageErrorf("%w", err)
	}
	kt, err := pki.ParseKeyType(o.KeyType)
	if err != nil {
		return failure.UsageErrorf("--key-type: %w", err)
	}
	o.keyType = kt
	if o.Submit {
		if err := csr.ValidateTTL("--ttl", o.TTL); err != nil {
			return failure.UsageErrorf("%w", err)
		}
	}
	if o.dryRun, err = issue.ParseDryRun(o.DryRun); err != nil {
		return failure.UsageErrorf("%w", err)
	}
	if o.dryRun != issue.DryRunNone && !o.Submit {
		return failure.UsageErrorf("--dry-run goes with --submit: without it nothing reaches the cluster")
	}
	return nil
}

// Run writes the key and the request, and submits it with --submit.
func (o *Options) Run(ctx context.Context) error {
	factory := o.factory
	keyPath, csrPath := filepath.Join(o.Dir, o.User+".key"), filepath.Join(o.Dir, o.User+".csr")
	for _, p := range []string{keyPath, csrPath} {
		if o.dryRun != issue.DryRunNone {
			break
		}
		if _, err := os.Lstat(p); err == nil && !o.Force {
			return failure.UsageErrorf("%s already exists; pass --force to replace it (a new key needs a new certificate)", p)
		}
	}
	var client kubernetes.Interface
	if o.Submit {
		var err error
		if client, err = factory.Client(); err != nil {
			return err
		}
	}
	groups := o.Groups
	if o.Revocable {
		group, err := pki.NewCredentialGroup()
		if err != nil {
			return err
		}
		groups = append(slices.Clone(groups), group)
	}
	key, err := pki.GenerateKey(o.keyType)
	if err != nil {
		return err
	}
	keyPEM, err := pki.MarshalKey(key)
	if err != nil {
		return err
	}
	request, err := pki.CreateRequest(key, pki.Subject(o.User, groups))
	if err != nil {
		return err
	}
	if o.dryRun != issue.DryRunNone {
		return o.dryRunSubmit(ctx, client, request)
	}
	if err := kubeconfig.WriteFileAtomic(keyPath, keyPEM, o.Force); err != nil {
		return err
	}
	if err := kubeconfig.WriteFileAtomic(csrPath, request, o.Force); err != nil {
		return fmt.Errorf("%w (the key was written to %s)", err, keyPath)
	}
	fmt.Fprintf(o.ErrOut, "wrote %s (keep it here, mode 0600) and %s\n", keyPath, csrPath)
	if !o.Submit {
		fmt.Fprintf(o.Out, "Send %s (not the key) to a cluster admin, who runs:\n  kubeaccess approve --csr-file %s%s [-n NAMESPACE --role ROLE ...] --out %s.kubeconfig\n",
			csrPath, filepath.Base(csrPath), o.revocableFlag(), o.User)
		fmt.Fprintf(o.Out, "Then add your key to the kubeconfig they send back:\n  kubeaccess complete %s.kubeconfig --key %s\n", o.User, keyPath)
		return nil
	}
	created, err := csr.Create(ctx, client, csr.Build(o.User, request, o.TTL))
	if err != nil {
		return fmt.Errorf("submitting the request: %w (the key and request were written to %s and %s)", err, keyPath, csrPath)
	}
	fmt.Fprintf(o.Out, "Submitted CertificateSigningRequest %s. A cluster admin runs:\n  kubeaccess approve %s%s [-n NAMESPACE --role ROLE ...] --out %s.kubeconfig\n", created.Name, created.Name, o.revocableFlag(), o.User)
	fmt.Fprintf(o.Out, "Then add your key to the kubeconfig they send back:\n  kubeaccess complete %s.kubeconfig --key %s\n", o.User, keyPath)
	return nil
}

// dryRunSubmit prints the CertificateSigningRequest --submit would create,
// as the API server returns it with --dry-run=server; the key it was made
// with is thrown away and no file is written.
func (o *Options) dryRunSubmit(ctx context.Context, client kubernetes.Interface, request []byte) error {
	obj := csr.Build(o.User, request, o.TTL)
	if o.dryRun == issue.DryRunServer {
		created, err := csr.Create(ctx, client, obj, o.dryRun.Options()...)
		if err != nil {
			return fmt.Errorf("submitting the request%s: %w", o.dryRun.Suffix(), err)
		}
		obj = created
	}
	obj.APIVersion, obj.Kind = certificatesv1.SchemeGroupVersion.String(), "CertificateSigningRequest"
	if err := cmdutil.NewOutput().PrintObjects(o.Out, []runtime.Object{obj}); err != nil {
		return err
	}
	fmt.Fprintf(o.ErrOut, "nothing was submitted and no key or request file was written%s\n", o.dryRun.Suffix())
	return nil
}

func (o *Options) revocableFlag() string {
	if o.Revocable {
		return " --revocable"
	}
	return ""
}
