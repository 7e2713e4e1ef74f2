// Package token implements "kubeaccess token": a kubeconfig with a
// service-account token from the TokenRequest API, with RBAC bound to the
// service account, verified like grant's.
package token

import (
	"slices"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/failure"
)

// MinDuration is the shortest token the TokenRequest API issues.
const MinDuration = 10 * time.Minute

// Options holds the flags of "kubeaccess token".
type Options struct {
	ServiceAccount string
	Create         bool
	Duration       time.Duration
	Audiences      []string
	BoundSecret    string
	issuing.Flags
	issuing.Renewing
	Output *cmdutil.Output

	cmd *issuing.Command

	genericiooptions.IOStreams
}

var _ cmdutil.Options = (*Options)(nil)

// NewCmdToken returns the "token" command.
func NewCmdToken(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{Duration: time.Hour, Flags: issuing.NewFlags(), Output: cmdutil.NewOutput(), IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "token SERVICEACCOUNT [flags]",
		Short: "Write a verified kubeconfig with a service-account token, and bind RBAC to the service account",
		Long: `Request a token for a ServiceAccount with the TokenRequest API (never a legacy
token Secret), bind RBAC to the ServiceAccount as grant does for users,
write a kubeconfig with the token, and verify it. The expiry is read from the
token itself. With --bound-secret the token is bound to a Secret (created if
missing): deleting that Secret revokes the token.`,
		Example: `  # A CI bot that may deploy into namespace ci for 2 hours
  kubeaccess token deployer -n ci --create --duration 2h \
    --verb get,list,create,update --resource deployments

  # A bot's token that renews itself every hour while it may: revoking it ends it within the hour
  kubeaccess token deployer -n ci --role deployer --renewing --out deployer.kubeconfig

  # A token that dies with its Secret
  kubeaccess token deployer -n ci --bound-secret deployer-lease --role deployer`,
		Args: cmdutil.Args(cobra.ExactArgs(1)),
		RunE: cmdutil.RunE(f, o),
	}
	fs := cmd.Flags()
	fs.BoolVar(&o.Create, "create", false, "Create the ServiceAccount if it does not exist")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "Requested token lifetime (at least 10m); the API server may shorten it")
	fs.StringArrayVar(&o.Audiences, "audience", nil, "Audience of the token (repeatable); default the API server's")
	fs.StringVar(&o.BoundSecret, "bound-secret", "", "Bind the token to this Secret (created if missing); deleting the Secret revokes the token")
	o.Renewing.AddFlags(fs, "Write a kubeconfig whose token renews itself, for a bot that runs kubeaccess: its user runs kubeaccess credential, which asks, "+
		"with the current token, for the account's next one (a Role lets the account do only that, recorded and revoked with the token); the token stays in FILE.credential", false)
	issuing.AddDryRunFlag(cmd, &o.DryRun)
	o.Output.AddFlags(cmd)
	o.Flags.AddFlags(fs, "./SERVICEACCOUNT.kubeconfig")
	return cmd
}

// Complete reads the service account's name and resolves the namespace,
// clients and cluster entry; it makes no API request.
func (o *Options) Complete(f cmdutil.Factory, args []string) error {
	o.ServiceAccount = args[0]
	var err error
	o.cmd, err = issuing.NewCommand(&o.Flags, f, o.Output, o.ErrOut)
	return err
}

// Validate checks the flags without contacting the cluster.
func (o *Options) Validate() error {
	if errs := validation.NameIsDNSSubdomain(o.ServiceAccount, false); len(errs) > 0 {
		return failure.UsageErrorf("service account %q is not a valid name: %s", o.ServiceAccount, errs[0])
	}
	if errs := validation.NameIsDNSSubdomain(o.BoundSecret, false); o.BoundSecret != "" && len(errs) > 0 {
		return failure.UsageErrorf("--bound-secret %q is not a valid name: %s", o.BoundSecret, errs[0])
	}
	if o.Duration < MinDuration {
		return failure.UsageErrorf("--duration %s is too short: the TokenRequest API requires at least %s", o.Duration, MinDuration)
	}
	if err := o.Renewing.Validate(); err != nil {
		return err
	}
	if o.Renewing.Renewing && o.Merge != "" {
		return failure.UsageErrorf("--renewing writes a new kubeconfig (--out): it does not go with --merge")
	}
	if slices.Contains(o.Audiences, "") {
		return failure.UsageErrorf("--audience cannot be empty")
	}
	if err := o.cmd.Validate(); err != nil {
		return err
	}
	return o.CheckLifetime("--duration", o.Duration)
}
