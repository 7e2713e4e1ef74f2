package cmdutil

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/client-go/discovery"

	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// Options are a command's flags and the work they ask for, in kubectl's
// three steps: Complete takes the arguments and builds what the flags
// leave open (clients, parsed values) without an API request; Validate
// checks the options without I/O; Run does the work.
type Options interface {
	Complete(f Factory, args []string) error
	Validate() error
	Run(ctx context.Context) error
}

// RunE is the RunE of every command: Complete, Validate, then Run.
func RunE(f Factory, o Options) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := o.Complete(f, args); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		return o.Run(cmd.Context())
	}
}

// ReadRBAC reads what questions about access (can, who-can) are answered
// from: the cluster's roles and bindings, and its discovery.
func ReadRBAC(ctx context.Context, f Factory) (*rbac.Index, discovery.CachedDiscoveryInterface, error) {
	client, err := f.Client()
	if err != nil {
		return nil, nil, err
	}
	disco, err := f.Discovery()
	if err != nil {
		return nil, nil, err
	}
	index, err := rbac.ReadIndex(ctx, client)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the cluster's roles and bindings: %w", err)
	}
	return index, disco, nil
}

// QuestionNamespace is the namespace a question is about: -n or the
// context's, or "" (every namespace at once) with -A.
func QuestionNamespace(f Factory, all bool) (string, error) {
	ns, err := f.Namespace()
	if err != nil || all {
		return "", err
	}
	return ns, nil
}
