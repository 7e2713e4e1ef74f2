// Package whocan implements "kubeaccess who-can": every user, group and
// service account RBAC allows to do something, with the binding and role,
// evaluated locally from one read of the cluster's roles and bindings.
package whocan

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/safe"
)

// Options holds the flags of "kubeaccess who-can".
type Options struct {
	Verb          string
	Resource      string
	Name          string
	AllNamespaces bool
	Output        *cmdutil.Output

	namespace string
	factory   cmdutil.Factory
	genericiooptions.IOStreams
}

var _ cmdutil.Options = (*Options)(nil)

// Holder is one subject allowed, and how.
type Holder struct {
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	Binding   string `json:"binding"`
	Role      string `json:"role"`
}

// NewCmdWhoCan returns the "who-can" command.
func NewCmdWhoCan(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{Output: cmdutil.NewOutput(), IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "who-can VERB RESOURCE[/SUBRESOURCE] [NAME] [-n NAMESPACE | -A]",
		Short: "List every user, group and service account RBAC allows to do something, with the binding and role",
		Long: `Evaluate RBAC locally, as the API server does, from one read of the cluster's
roles and bindings, and list every subject a binding allows the request:
users, groups (system:authenticated and system:serviceaccounts included) and
service accounts, with the binding and role. With -A the question is about
every namespace at once, which only cluster-wide bindings answer. Members of
system:masters may do everything, whatever RBAC says.`,
		Example: `  kubeaccess who-can get secrets -n kube-system
  kubeaccess who-can create pods/exec -A -o json
  kubeaccess who-can get /metrics`,
		Args: cmdutil.Args(cobra.RangeArgs(2, 3)),
		RunE: cmdutil.RunE(f, o),
	}
	cmd.Flags().BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "Ask about every namespace at once (cluster-wide bindings only)")
	o.Output.AddFlags(cmd)
	return cmd
}

// Complete reads the arguments and the namespace.
func (o *Options) Complete(f cmdutil.Factory, args []string) error {
	o.factory, o.Verb, o.Resource = f, args[0], args[1]
	if len(args) == 3 {
		o.Name = args[2]
	}
	var err error
	o.namespace, err = cmdutil.QuestionNamespace(f, o.AllNamespaces)
	return err
}

// Run reads the cluster's roles and bindings once and lists who holds the
// permission.
func (o *Options) Run(ctx context.Context) error {
	index, disco, err := cmdutil.ReadRBAC(ctx, o.factory)
	if err != nil {
		return err
	}
	req, err := rbac.ResolveRequest(disco, o.Verb, o.Resource, o.Name, o.namespace)
	if err != nil {
		return failure.UsageErrorf("%w", err)
	}
	return o.print(Holders(index, req))
}

// Validate checks the flags without I/O.
func (o *Options) Validate() error {
	if !strings.HasPrefix(o.Resource, "/") {
		if err := rbac.ValidateVerbs([]string{o.Verb}); err != nil {
			return failure.UsageErrorf("%w", err)
		}
	}
	return o.Output.Validate()
}

// Holders lists the subjects of every binding whose role allows req where
// the binding applies, in the order of the bindings.
func Holders(index *rbac.Index, req rbac.Request) []Holder {
	var out []Holder
	for _, b := range index.Bindings {
		if b.Ref.Namespace != "" && (req.Path != "" || b.Ref.Namespace != req.Namespace) {
			continue
		}
		role := b.RoleOf()
		if !slices.ContainsFunc(index.Roles[role], func(r rbacv1.PolicyRule) bool { return rbac.RuleAllows(r, req) }) {
			continue
		}
		for _, s := range b.Subjects {
			h := Holder{Kind: s.Kind, Name: s.Name, Namespace: s.Namespace, Binding: b.Ref.String(), Role: role.String()}
			if s.Kind == rbacv1.ServiceAccountKind && s.Namespace == "" {
				h.Namespace = b.Ref.Namespace
			}
			out = append(out, h)
		}
	}
	return out
}

func (o *Options) print(holders []Holder) error {
	if o.Output.Structured() {
		return cmdutil.PrintList(o.Output, o.Out, "Subject", holders, func(h Holder) string { return h.Name })
	}
	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "KIND\tNAME\tBINDING\tROLE")
	for _, h := range holders {
		name := safe.Printable(h.Name)
		if h.Kind == rbacv1.ServiceAccountKind {
			name = safe.Printable(h.Namespace + "/" + h.Name)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", h.Kind, name, safe.Printable(h.Binding), safe.Printable(h.Role))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(o.ErrOut, "note: members of system:masters may do everything, whatever RBAC says")
	return nil
}
