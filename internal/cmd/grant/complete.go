package grant

import (
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
)

// Complete resolves the user, namespace, clients and the cluster entry the
// new kubeconfig will copy. It loads configuration but makes no API request.
func (o *Options) Complete(flags *genericclioptions.ConfigFlags, args []string) error {
	o.User = args[0]
	var err error
	if o.is, err = issuing.NewIssuer(&o.Flags, flags, o.ErrOut); err != nil {
		return err
	}
	c := o.is.Cluster
	if o.Offline && (c.Server == "" || len(c.CA) == 0 && !c.Insecure) {
		return cmdutil.UsageErrorf("--offline needs the API server's URL and CA for the new kubeconfig: " +
			"from the current context, or --server-url and --certificate-authority")
	}
	return nil
}

// kubeconfigName is the default --out.
func (o *Options) kubeconfigName() string { return o.User + ".kubeconfig" }
