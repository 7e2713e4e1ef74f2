package issuing

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/impact"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// Command is what an issuing command shares: its flags, the engine, the
// namespace and the cluster new kubeconfigs name.
type Command struct {
	*Flags
	Engine    *issue.Engine
	Namespace string
	Cluster   kubeconfig.Cluster
	Output    *cmdutil.Output
	ErrOut    io.Writer
}

// NewCommand resolves the namespace, clients and cluster entry from the
// factory. It loads configuration but makes no API request.
func NewCommand(flags *Flags, f cmdutil.Factory, output *cmdutil.Output, errOut io.Writer) (*Command, error) {
	c := &Command{Flags: flags, Output: output, ErrOut: errOut}
	var err error
	if c.Namespace, err = f.Namespace(); err != nil {
		return nil, err
	}
	client, err := f.Client()
	if err != nil {
		return nil, err
	}
	disc, err := f.Discovery()
	if err != nil {
		return nil, err
	}
	if c.Cluster, err = f.Cluster(); err != nil {
		return nil, err
	}
	if flags.Server != "" {
		c.Cluster.Server = flags.Server
	}
	c.Engine = NewEngine(f, client, disc, c.Cluster)
	return c, nil
}

// BulkEngine is an engine for many issuances at once (apply, the portal),
// on the factory's bulk client.
func BulkEngine(f cmdutil.Factory) (*issue.Engine, error) {
	client, err := f.BulkClient()
	if err != nil {
		return nil, err
	}
	disc, err := f.Discovery()
	if err != nil {
		return nil, err
	}
	cluster, err := f.Cluster()
	if err != nil {
		return nil, err
	}
	return NewEngine(f, client, disc, cluster), nil
}

// NewEngine is issue.New, with the factory's choice of privilege review.
func NewEngine(f cmdutil.Factory, client kubernetes.Interface, disc discovery.CachedDiscoveryInterface, cluster kubeconfig.Cluster) *issue.Engine {
	e := issue.New(client, disc, cluster)
	if f.FullReview() {
		e.FullReview()
	}
	return e
}

// Validate checks the flags and -o without I/O.
func (c *Command) Validate() error {
	if err := c.Flags.Validate(); err != nil {
		return failure.UsageErrorf("%w", err)
	}
	return c.Output.Validate()
}

// Plan is a plan for subject by source, with the access, destination,
// records and policy of the flags; defaultOut is --out's default.
func (c *Command) Plan(action string, subject issue.Subject, source issue.Source, defaultOut string) *issue.Plan {
	p := &issue.Plan{
		Action:          action,
		Subject:         subject,
		Source:          source,
		Access:          c.Flags.Access(),
		Namespace:       c.Namespace,
		CreateNamespace: c.CreateNamespace,
		Policy:          issue.Policy{AllowPrivileged: c.AllowPrivileged, Strict: c.Strict, MaxTTL: c.maxTTL},
		DryRun:          c.dryRun,
		Events:          c.Events(),
	}
	if !c.NoRecord {
		p.RecordsNamespace = c.RecordsNamespace
	}
	switch {
	case c.Merge != "":
		p.Destination = issue.Destination{Merge: c.Merge, Force: c.Force}
	case c.OutFile != "":
		p.Destination = issue.Destination{Path: c.OutFile, Force: c.Force}
	default:
		p.Destination = issue.Destination{Path: defaultOut, Force: c.Force}
	}
	return p
}

// Execute runs the plan and, on --dry-run, prints what it would create.
// It returns nil, nil after a dry run.
func (c *Command) Execute(ctx context.Context, out io.Writer, p *issue.Plan) (*issue.Result, error) {
	if p.RecordsNamespace == "" && !p.Offline && p.DryRun == issue.DryRunNone {
		fmt.Fprintf(c.ErrOut, "warning: --no-record: list, renew and revoke will not know of this credential\n")
	}
	res, err := c.Engine.Execute(ctx, p)
	if err != nil || p.DryRun == issue.DryRunNone {
		return res, err
	}
	if err := c.Output.PrintObjects(out, res.Objects); err != nil {
		return nil, err
	}
	return nil, c.PrintImpact(ctx, p, res.Objects)
}

// PrintImpact says, to stderr, what the dry run's roles and bindings
// would give and take: to the subject, and to every subject of a binding
// they change.
func (c *Command) PrintImpact(ctx context.Context, p *issue.Plan, objs []runtime.Object) error {
	if p.Offline {
		return nil
	}
	change := impact.Change{Subjects: []impact.Subject{impact.UserSubject(p.Subject.User, p.Subject.Groups)}}
	if sa := p.Subject.ServiceAccount; sa != nil {
		change.Subjects = []impact.Subject{impact.SubjectOf(rbac.ServiceAccountSubject(sa.Namespace, sa.Name), "")}
	}
	for _, obj := range objs {
		if obj.GetObjectKind().GroupVersionKind().Group == rbacv1.GroupName {
			change.Put = append(change.Put, obj)
		}
	}
	return impact.Show(ctx, c.Engine.Client(), c.Engine.Discovery(), change, c.ErrOut)
}

// Events prints the engine's events to stderr: progress only when stdout
// is for people, warnings and notes always.
func (c *Command) Events() func(issue.Event) {
	return PrintEvents(c.ErrOut, !c.Output.Structured() && c.dryRun == issue.DryRunNone)
}

// PrintEvents prints the engine's warnings and notes to errOut, and its
// progress too when progress is set.
func PrintEvents(errOut io.Writer, progress bool) func(issue.Event) {
	return func(e issue.Event) {
		switch {
		case e.Kind == issue.Warning:
			fmt.Fprintf(errOut, "warning: %s\n", e.Message)
		case e.Kind == issue.Note:
			fmt.Fprintf(errOut, "note: %s\n", e.Message)
		case progress:
			fmt.Fprintln(errOut, e.Message)
		}
	}
}

// Applied names each change, as summaries list them.
func Applied(changes []rbac.Change) []string {
	applied := make([]string, len(changes))
	for i, ch := range changes {
		applied[i] = ch.String()
	}
	return applied
}

// AddDryRunFlag registers --dry-run as kubectl has it.
func AddDryRunFlag(cmd *cobra.Command, value *string) {
	cmd.Flags().StringVar(value, "dry-run", "none", `Must be "none", "client" or "server": with client, print the objects that would be created and create nothing; `+
		`with server, also send them to the API server as a dry run, so that admission and RBAC refusals show, and persist nothing`)
	cmd.Flags().Lookup("dry-run").NoOptDefVal = "client"
}

// Issued is what every issuing command's summary holds, embedded in it.
type Issued struct {
	Kind       string             `json:"kind"`
	IssuedVia  string             `json:"issuedVia"`
	IssuedBy   string             `json:"issuedBy,omitempty"`
	Applied    []string           `json:"applied"`
	Kubeconfig string             `json:"kubeconfig"`
	Context    string             `json:"context"`
	Verified   issue.Verification `json:"verified"`
	Record     string             `json:"record,omitempty"`
}

// IssuedOf is the part of a summary every issuance has.
func IssuedOf(res *issue.Result) Issued {
	return Issued{
		Kind: res.Credential.Kind(), IssuedVia: res.Credential.Via, IssuedBy: res.IssuedBy, Applied: Applied(res.Changes),
		Kubeconfig: res.Kubeconfig, Context: res.Entry.ContextName, Verified: res.Verified, Record: res.Record,
	}
}

// PrintApplied prints the applied line of a summary's table; none is said
// when nothing was applied ("" prints no line).
func (s Issued) PrintApplied(w io.Writer, none string) {
	switch {
	case len(s.Applied) > 0:
		fmt.Fprintf(w, "  applied\t%s\n", strings.Join(s.Applied, ", "))
	case none != "":
		fmt.Fprintf(w, "  applied\t%s\n", none)
	}
}
