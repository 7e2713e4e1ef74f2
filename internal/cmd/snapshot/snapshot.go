// Package snapshot implements "kubeaccess snapshot": the cluster's roles,
// bindings, namespaces and API resources as one JSON document, which
// "kubeaccess diff --snapshot" reads to say what a change gives and takes
// with no cluster at hand.
package snapshot

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/impact"
)

// Options holds the flags of "kubeaccess snapshot".
type Options struct {
	client kubernetes.Interface
	disco  discovery.CachedDiscoveryInterface
	genericiooptions.IOStreams
}

var _ cmdutil.Options = (*Options)(nil)

// NewCmdSnapshot returns the "snapshot" command.
func NewCmdSnapshot(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{IOStreams: streams}
	return &cobra.Command{
		Use:   "snapshot > rbac.json",
		Short: "Save the cluster's roles, bindings, namespaces and API resources, for diff --snapshot without a cluster",
		Long: `Print, as one JSON document, what "kubeaccess diff --snapshot" needs to say
what a team file gives and takes: every ClusterRole, ClusterRoleBinding, Role
and RoleBinding, the namespaces, and the API's resources with their verbs.
It holds no secret and no credential: commit it, or hand it to CI, so that a
pull request's access review needs no access to the cluster. Take it again
when the cluster's RBAC changes.`,
		Example: `  kubeaccess snapshot > rbac.json
  kubeaccess diff -f team.yaml --snapshot rbac.json -o markdown`,
		Args: cmdutil.Args(cobra.NoArgs),
		RunE: cmdutil.RunE(f, o),
	}
}

// Complete builds the clients.
func (o *Options) Complete(f cmdutil.Factory, _ []string) error {
	var err error
	if o.client, err = f.Client(); err != nil {
		return err
	}
	o.disco, err = f.Discovery()
	return err
}

// Validate has nothing to check.
func (o *Options) Validate() error { return nil }

// Run reads the cluster and prints the snapshot.
func (o *Options) Run(ctx context.Context) error {
	o.disco.Invalidate()
	s, err := impact.Take(ctx, o.client, o.disco)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(o.Out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return err
	}
	fmt.Fprintf(o.ErrOut, "Snapshot of %d namespaces, %d roles and %d bindings.\n", len(s.Namespaces), len(s.Roles)+len(s.ClusterRoles), len(s.RoleBindings)+len(s.ClusterRoleBindings))
	return nil
}
