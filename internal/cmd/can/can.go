// Package can implements "kubeaccess can": what a user, group or service
// account may do, as RBAC decides it, evaluated locally from one read of
// the cluster's roles and bindings and explained by binding and rule.
package can

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/discovery"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// Options holds the flags of "kubeaccess can".
type Options struct {
	Subject       string
	Groups        []string
	Verb          string
	Resource      string
	Name          string
	AllNamespaces bool
	Output        *cmdutil.Output

	namespace string
	user      rbac.User
	factory   cmdutil.Factory
	genericiooptions.IOStreams
}

var _ cmdutil.Options = (*Options)(nil)

// NewCmdCan returns the "can" command.
func NewCmdCan(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{Output: cmdutil.NewOutput("wide"), IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "can SUBJECT [VERB RESOURCE[/SUBRESOURCE] [NAME]] [-n NAMESPACE | -A]",
		Short: "Say what a user, group or service account may do, and through which binding and rule",
		Long: `Evaluate RBAC locally, as the API server does, from one read of the cluster's
roles and bindings, for any subject and without impersonation rights.
SUBJECT is a user name (with -g for the groups its certificate carries;
system:authenticated is added), group:NAME, or
system:serviceaccount:NAMESPACE:NAME. With a verb and a resource (or a
non-resource URL such as /healthz) it answers like kubectl auth can-i: yes or
no, exit 0 or 1, and the bindings and rules that allow it. Without them it
prints the namespace's matrix of resources and the eight standard verbs.
Members of system:masters are allowed everything before RBAC is asked; other
authorizers (webhooks, the Node authorizer) are not seen, and are named where
they may decide.`,
		Example: `  kubeaccess can dave -g dev create deployments -n development
  kubeaccess can group:dev get secrets -A
  kubeaccess can system:serviceaccount:ci:deployer -n ci -o wide`,
		Args: cmdutil.Args(func(cmd *cobra.Command, args []string) error {
			if n := len(args); n != 1 && n != 3 && n != 4 {
				return fmt.Errorf("want SUBJECT, or SUBJECT VERB RESOURCE [NAME]; got %d arguments", n)
			}
			return nil
		}),
		RunE: cmdutil.RunE(f, o),
	}
	fs := cmd.Flags()
	fs.StringArrayVarP(&o.Groups, "group", "g", nil, "A group of the user (its certificate's O); repeatable")
	fs.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "Ask about every namespace at once (cluster-wide bindings only)")
	o.Output.AddFlags(cmd)
	return cmd
}

// Complete reads the arguments, the namespace and the subject.
func (o *Options) Complete(f cmdutil.Factory, args []string) error {
	o.factory, o.Subject = f, args[0]
	if len(args) >= 3 {
		o.Verb, o.Resource = args[1], args[2]
	}
	if len(args) == 4 {
		o.Name = args[3]
	}
	var err error
	if o.namespace, err = cmdutil.QuestionNamespace(f, o.AllNamespaces); err != nil {
		return err
	}
	if o.user, err = rbac.ParseSubject(o.Subject, o.Groups); err != nil {
		return failure.UsageErrorf("%w", err)
	}
	return nil
}

// Validate checks the flags without I/O.
func (o *Options) Validate() error {
	if o.Verb != "" && !strings.HasPrefix(o.Resource, "/") {
		if err := rbac.ValidateVerbs([]string{o.Verb}); err != nil {
			return failure.UsageErrorf("%w", err)
		}
	}
	if o.Verb != "" && o.Output.Format() == "wide" {
		return failure.UsageErrorf("-o wide is for the matrix; a single answer names its bindings already")
	}
	return o.Output.Validate()
}

// Run reads the cluster's roles and bindings once, and answers the
// question, or prints the matrix.
func (o *Options) Run(ctx context.Context) error {
	index, disco, err := cmdutil.ReadRBAC(ctx, o.factory)
	if err != nil {
		return err
	}
	if o.Verb == "" {
		return o.matrix(disco, index)
	}
	return o.answer(disco, index)
}

// Answer is the decision on one question, as printed with -o json|yaml.
type Answer struct {
	Allowed bool     `json:"allowed"`
	Reasons []string `json:"reasons,omitempty"`
	Outside string   `json:"outside,omitempty"`
}

// answer decides one question and prints yes or no; no exits 1.
func (o *Options) answer(disco discovery.CachedDiscoveryInterface, index *rbac.Index) error {
	req, err := rbac.ResolveRequest(disco, o.Verb, o.Resource, o.Name, o.namespace)
	if err != nil {
		return failure.UsageErrorf("%w", err)
	}
	d := index.Decide(o.user, req)
	a := Answer{Allowed: d.Allowed, Outside: d.Outside}
	for _, r := range d.Reasons {
		a.Reasons = append(a.Reasons, r.Describe())
	}
	if o.Output.Structured() {
		if err := o.Output.PrintSummary(o.Out, "AccessDecision", o.Subject, a); err != nil {
			return err
		}
	} else {
		word := "no"
		if d.Allowed {
			word = "yes"
		}
		fmt.Fprintln(o.Out, word)
		for _, r := range a.Reasons {
			fmt.Fprintf(o.Out, "  through %s\n", r)
		}
		if d.Outside != "" {
			fmt.Fprintf(o.Out, "  note: %s\n", d.Outside)
		}
	}
	if !d.Allowed {
		return failure.ExitSilently(failure.ExitError)
	}
	return nil
}
