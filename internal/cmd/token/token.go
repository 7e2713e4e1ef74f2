// Package token implements "kubeaccess token": a kubeconfig with a
// service-account token from the TokenRequest API, with RBAC bound to the
// service account, verified like grant's.
package token

import (
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
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
	Output         string
	issuing.Flags

	is *issuing.Issuer
	// needed are the ServiceAccount and Secret to create, if missing.
	needed []runtime.Object

	genericiooptions.IOStreams
}

// NewCmdToken returns the "token" command.
func NewCmdToken(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{Duration: time.Hour, Flags: issuing.NewFlags(), IOStreams: streams}
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

  # A token that dies with its Secret
  kubeaccess token deployer -n ci --bound-secret deployer-lease --role deployer`,
		Args: cmdutil.Args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ServiceAccount = args[0]
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
	f.BoolVar(&o.Create, "create", false, "Create the ServiceAccount if it does not exist")
	f.DurationVar(&o.Duration, "duration", o.Duration, "Requested token lifetime (at least 10m); the API server may shorten it")
	f.StringArrayVar(&o.Audiences, "audience", nil, "Audience of the token (repeatable); default the API server's")
	f.StringVar(&o.BoundSecret, "bound-secret", "", "Bind the token to this Secret (created if missing); deleting the Secret revokes the token")
	f.StringVarP(&o.Output, "output", "o", "", "Print a summary as json or yaml")
	o.Flags.AddFlags(f, "./SERVICEACCOUNT.kubeconfig")
	return cmd
}

// Validate checks the flags without contacting the cluster.
func (o *Options) Validate() error {
	if errs := validation.NameIsDNSSubdomain(o.ServiceAccount, false); len(errs) > 0 {
		return cmdutil.UsageErrorf("service account %q is not a valid name: %s", o.ServiceAccount, errs[0])
	}
	if errs := validation.NameIsDNSSubdomain(o.BoundSecret, false); o.BoundSecret != "" && len(errs) > 0 {
		return cmdutil.UsageErrorf("--bound-secret %q is not a valid name: %s", o.BoundSecret, errs[0])
	}
	if o.Duration < MinDuration {
		return cmdutil.UsageErrorf("--duration %s is too short: the TokenRequest API requires at least %s", o.Duration, MinDuration)
	}
	if slices.Contains(o.Audiences, "") {
		return cmdutil.UsageErrorf("--audience cannot be empty")
	}
	if err := o.is.Validate(); err != nil {
		return err
	}
	if err := o.CheckLifetime("--duration", o.Duration); err != nil {
		return err
	}
	return cmdutil.ValidateOutputFormat(o.Output, "json", "yaml")
}

// username is how the API server names the service account.
func (o *Options) username() string {
	return fmt.Sprintf("system:serviceaccount:%s:%s", o.is.Namespace, o.ServiceAccount)
}

// groups are those the API server puts every token of the account in.
func (o *Options) groups() []string {
	return []string{"system:serviceaccounts", "system:serviceaccounts:" + o.is.Namespace}
}

func (o *Options) kubeconfigName() string { return o.ServiceAccount + ".kubeconfig" }
