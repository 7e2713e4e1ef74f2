// Package apply implements "kubeaccess apply -f team.yaml" and "kubeaccess
// diff -f team.yaml": a team's access as code, brought about in one run.
package apply

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/impact"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/team"
)

// Options holds the flags of "kubeaccess apply" and "kubeaccess diff".
type Options struct {
	Filename            string
	OutDir              string
	DryRun              string
	CACert, CAKey       string
	KeyType             string
	Timeout             time.Duration
	MaxTTL              string
	RecordsNamespace    string
	AllowExistingAccess bool
	Force               bool
	Parallel            int
	ServerSide          bool
	// Snapshot and FailOn are diff's: the file to read the cluster from,
	// and what the exit status reports.
	Snapshot, FailOn string
	Output           *cmdutil.Output

	// diff only shows the plan, and exits 1 when there is one.
	diff    bool
	dryRun  issue.DryRun
	maxTTL  time.Duration
	keyType pki.KeyType
	file    *team.File
	// problems are the file's, found without the cluster; Run adds those
	// only the cluster shows, and reports them all at once.
	problems error
	factory  cmdutil.Factory
	genericiooptions.IOStreams
}

var _ cmdutil.Options = (*Options)(nil)

// bulkMemoryLimit is the soft memory limit of an apply. With privilege
// reviews of one rules review per identity, credentials are issued several
// times faster and more of them are in flight at once: at 96 MB an offline
// apply of 1,000 users peaked at 156 MB of RSS in 7.1 s, at 64 MB at 129 MB
// in 7.7 s.
const bulkMemoryLimit = 64 << 20

func newOptions(streams genericiooptions.IOStreams) *Options {
	return &Options{OutDir: ".", KeyType: string(pki.DefaultKeyType), Timeout: time.Minute, RecordsNamespace: records.DefaultNamespace,
		Parallel: team.DefaultParallel, Output: cmdutil.NewOutput(), IOStreams: streams}
}

const long = `Bring the cluster to a TeamAccess file: every user gets a certificate with
their groups (DIR/users/USER.kubeconfig, 0600), every service account a token
kubeconfig (DIR/serviceaccounts/NAMESPACE/NAME.kubeconfig); credentials
expiring within spec.renewBefore are renewed in place; the file's roles and
bindings are created or updated, and namespaces created when missing.

A group's access is bound to each of its members by name (User subjects), so
a user removed from the file, or from a group, loses that access at this
apply although their certificate is still valid; their records are marked
revoked. Objects labelled with the file's name that it no longer describes
are deleted; nothing else is touched.

The plan is printed first: + issue, ~ renew, - revoke, and each object to
create, update or delete. A second apply of an unchanged file changes
nothing and says so. Every issuance passes the checks grant makes: the
subject policy, escalation-grade permissions (including what the file's
roles give), and access through bindings kubeaccess did not make.`

// NewCmdApply returns the "apply" command.
func NewCmdApply(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := newOptions(streams)
	cmd := &cobra.Command{
		Use:   "apply -f FILE [--out-dir DIR]",
		Short: "Issue, bind, renew and revoke a whole team's access from one file",
		Long:  long,
		Example: `  kubeaccess apply -f team.yaml --out-dir ./kubeconfigs

  # The plan only: what would be issued, renewed, revoked, created and deleted
  kubeaccess apply -f team.yaml --out-dir ./kubeconfigs --dry-run

  # Sign the certificates with the cluster CA key instead of the CSR API
  kubeaccess apply -f team.yaml --out-dir ./kubeconfigs --ca-cert ca.crt --ca-key ca.key`,
		Args: cmdutil.Args(cobra.NoArgs),
		RunE: cmdutil.RunE(f, o),
	}
	o.addFlags(cmd)
	issuing.AddDryRunFlag(cmd, &o.DryRun)
	return cmd
}

// NewCmdDiff returns the "diff" command: the plan apply would carry out.
func NewCmdDiff(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := newOptions(streams)
	o.diff = true
	o.Output = cmdutil.NewOutput("markdown")
	cmd := &cobra.Command{
		Use:   "diff -f FILE [--out-dir DIR] [--snapshot rbac.json] [--fail-on escalation|gain]",
		Short: "Show what apply -f FILE would change, and who would gain and lose which permissions",
		Long: `Print the plan "kubeaccess apply -f FILE" would carry out, and change nothing:
credentials to issue, renew and revoke, and objects to create, update and
delete. Then its access impact: for each member of the file and each subject
of a binding it changes, the permissions gained and lost, evaluated with the
local RBAC evaluator on the roles and bindings as they are and as they would
be, over every namespace, resource and verb, collapsed into lines ("User erin
gains create secrets in staging"). Escalation-grade permissions of the
privilege catalogue that someone would newly hold are flagged.

With --snapshot it reads a file "kubeaccess snapshot" saved instead of the
cluster, so that a pull request's CI needs no credentials (every member then
counts as holding a credential). -o markdown prints a pull-request comment,
-o json the plan and the impact for tools.

As kubectl diff, it exits 0 when the cluster matches the file, 1 when it does
not, and above 1 on an error. With --fail-on it exits 1 only when someone
would gain an escalation-grade permission (escalation) or any permission
(gain), and 0 otherwise.`,
		Example: `  kubeaccess diff -f team.yaml --out-dir ./kubeconfigs
  kubeaccess diff -f team.yaml -o json
  # In CI, without access to the cluster:
  kubeaccess snapshot > rbac.json
  kubeaccess diff -f team.yaml --snapshot rbac.json -o markdown --fail-on escalation`,
		Args: cmdutil.Args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.DryRun = "client"
			return cmdutil.RunE(f, o)(cmd, args)
		},
	}
	o.addFlags(cmd)
	cmd.Flags().StringVar(&o.Snapshot, "snapshot", "", `Read the cluster from this file ("kubeaccess snapshot") instead`)
	cmd.Flags().StringVar(&o.FailOn, "fail-on", "", "Exit 1 only when someone would gain an escalation-grade permission (escalation) or any permission (gain)")
	return cmd
}

func (o *Options) addFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVarP(&o.Filename, "filename", "f", "", `The TeamAccess file ("-" reads standard input)`)
	fs.StringVar(&o.OutDir, "out-dir", o.OutDir, "Directory of the kubeconfigs: DIR/users/USER.kubeconfig, DIR/serviceaccounts/NAMESPACE/NAME.kubeconfig")
	fs.StringVar(&o.CACert, "ca-cert", "", "Sign the certificates offline with this CA certificate (the cluster's client CA) instead of the CSR API")
	fs.StringVar(&o.CAKey, "ca-key", "", "The private key of --ca-cert; only read")
	fs.StringVar(&o.KeyType, "key-type", o.KeyType, "Private key type of new certificates: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for each certificate to be issued")
	fs.StringVar(&o.MaxTTL, "max-ttl", issuing.DefaultMaxTTL, "Refuse lifetimes in the file longer than this (e.g. 90d, 720h)")
	fs.StringVar(&o.RecordsNamespace, "records-namespace", o.RecordsNamespace, "Namespace of the records of issued credentials")
	fs.BoolVar(&o.AllowExistingAccess, "allow-existing-access", false, "Issue even to users whom bindings kubeaccess did not make already name")
	fs.BoolVar(&o.Force, "force", false, "Replace kubeconfigs in --out-dir that are not this team's")
	fs.IntVar(&o.Parallel, "parallel", o.Parallel, "How many credentials to issue at once")
	if cmd.Name() == "apply" {
		fs.BoolVar(&o.ServerSide, "server-side", false, "Hand the file to kubeaccess controller as a TeamAccess object, which it reconciles in the cluster, and wait (--timeout) for its status")
	}
	o.Output.AddFlags(cmd)
}

// Complete keeps the factory the run builds its clients from.
func (o *Options) Complete(f cmdutil.Factory, args []string) error {
	o.factory = f
	return nil
}

// Validate checks the flags and reads the file, reporting all of its
// errors at once, without I/O to the cluster.
func (o *Options) Validate() error {
	if o.Filename == "" {
		return failure.UsageErrorf("-f FILE is required: the TeamAccess file (\"-\" reads standard input)")
	}
	var err error
	if o.dryRun, err = issue.ParseDryRun(o.DryRun); err != nil {
		return failure.UsageErrorf("%w", err)
	}
	if o.maxTTL, err = cmdutil.ParseWindow(o.MaxTTL); err != nil {
		return failure.UsageErrorf("--max-ttl: %w", err)
	}
	if o.keyType, err = pki.ParseKeyType(o.KeyType); err != nil {
		return failure.UsageErrorf("--key-type: %w", err)
	}
	if (o.CACert == "") != (o.CAKey == "") {
		return failure.UsageErrorf("--ca-cert and --ca-key go together")
	}
	if o.Parallel < 1 {
		return failure.UsageErrorf("--parallel must be at least 1")
	}
	if o.FailOn != "" && o.FailOn != failOnEscalation && o.FailOn != failOnGain {
		return failure.UsageErrorf("--fail-on must be %s or %s", failOnEscalation, failOnGain)
	}
	if err := o.Output.Validate(); err != nil {
		return err
	}
	data, name, err := o.read()
	if err != nil {
		return failure.UsageErrorf("%w", err)
	}
	o.file, err = team.Parse(name, data)
	if o.file == nil {
		return failure.UsageErrorf("%w\nnothing was applied", err)
	}
	o.problems = o.file.Check(err, o.maxTTL)
	return nil
}

func (o *Options) read() ([]byte, string, error) {
	if o.Filename == "-" {
		data, err := io.ReadAll(o.In)
		return data, "<stdin>", err
	}
	data, err := os.ReadFile(o.Filename)
	return data, o.Filename, err
}

// Run reads the cluster, prints the plan and, unless a dry run, carries it
// out.
func (o *Options) Run(ctx context.Context) error {
	if o.ServerSide {
		return o.runServerSide(ctx)
	}
	if o.diff {
		return o.runDiff(ctx)
	}
	if o.file.Spec.Invitations != nil {
		fmt.Fprintf(o.ErrOut, "note: spec.invitations is kubeaccess controller's (apply --server-side); apply -f issues the users' kubeconfigs into --out-dir itself\n")
	}
	f := o.factory
	engine, err := issuing.BulkEngine(f)
	if err != nil {
		return err
	}
	client := engine.Client()
	plan, err := o.plan(ctx, engine, client)
	if err != nil {
		return err
	}
	if o.dryRun == issue.DryRunServer {
		if err := team.DryRunObjects(ctx, client, plan); err != nil {
			return err
		}
	}
	if o.dryRun != issue.DryRunNone || plan.Empty() {
		return o.printPlan(plan, nil)
	}
	if !o.Output.Structured() {
		if err := o.printPlan(plan, nil); err != nil {
			return err
		}
	}
	applier, err := o.applier(engine, client)
	if err != nil {
		return err
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// A bulk run keeps tens of MB live but makes garbage fast; at the
		// default pace the collector lets the heap grow to twice and more.
		// A soft limit keeps it collecting ahead (GOMEMLIMIT overrides).
		debug.SetMemoryLimit(bulkMemoryLimit)
	}
	outcome, err := applier.Apply(ctx, plan)
	if perr := o.printOutcome(plan, outcome); perr != nil && err == nil {
		err = perr
	}
	o.printRequests(outcome, engine)
	return o.result(outcome, err)
}

// runDiff prints the plan and its access impact, and exits as diff does.
func (o *Options) runDiff(ctx context.Context) error {
	var (
		plan *team.Plan
		u    impact.Universe
	)
	if o.Snapshot != "" {
		p, snap, err := o.planFromSnapshot()
		if err != nil {
			return err
		}
		plan, u = p, impact.UniverseOf(snap.Resources)
	} else {
		engine, err := issuing.BulkEngine(o.factory)
		if err != nil {
			return err
		}
		if plan, err = o.plan(ctx, engine, engine.Client()); err != nil {
			return err
		}
		disco, err := o.factory.Discovery()
		if err != nil {
			return err
		}
		if u, err = impact.UniverseFrom(disco); err != nil {
			return err
		}
	}
	im, err := impactOf(plan, u)
	if err != nil {
		return err
	}
	changes := plan.Changes()
	switch {
	case o.Output.Format() == "markdown":
		printMarkdown(o.Out, plan.Resolved.Team(), o.file.Path, changes, im)
	default:
		if err := o.printPlan(plan, &im); err != nil {
			return err
		}
		if !o.Output.Structured() {
			im.Print(o.Out)
		}
	}
	if o.FailOn != "" && o.failing(im) || o.FailOn == "" && (len(changes) > 0 || !im.Empty()) {
		return failure.ExitSilently(failure.ExitError)
	}
	return nil
}

// plan reads the cluster and works out what the file needs.
func (o *Options) plan(ctx context.Context, engine *issue.Engine, client kubernetes.Interface) (*team.Plan, error) {
	name := o.file.Metadata.Name
	catalog, err := engine.Catalog()
	var state *team.State
	if err == nil {
		state, err = team.ReadState(ctx, client, o.RecordsNamespace, name)
	}
	if err != nil {
		if o.problems != nil {
			return nil, failure.UsageErrorf("%w\nnothing was applied (and the cluster could not be read to check the rest: %v)", o.problems, err)
		}
		return nil, err
	}
	engine.UseIndex(state.Index)
	resolved, err := team.Resolve(o.file, catalog, state.Index, o.problems)
	if err != nil {
		return nil, failure.UsageErrorf("%w\nnothing was applied", err)
	}
	plan, err := team.MakePlan(resolved, state, o.OutDir, time.Now(), o.Force)
	if err != nil {
		return nil, failure.UsageErrorf("%w\nnothing was applied", err)
	}
	return plan, nil
}

// applier carries plans out with the engine, as grant would issue.
func (o *Options) applier(engine *issue.Engine, client kubernetes.Interface) (*team.Applier, error) {
	a := &team.Applier{
		Engine: engine, Client: client, RecordsNamespace: o.RecordsNamespace, MaxTTL: o.maxTTL,
		AllowExistingAccess: o.AllowExistingAccess, Parallel: o.Parallel,
		By:       "kubeaccess apply (team " + o.file.Metadata.Name + ")",
		Progress: newProgress(o.ErrOut).update,
		Warn: func(name, msg string) {
			fmt.Fprintf(o.ErrOut, "warning: %s: %s\n", name, msg)
		},
	}
	approvedBy := "approved by kubeaccess apply -f (team " + o.file.Metadata.Name + ")"
	a.Source = func(c team.Credential) issue.Source {
		return &issue.CSR{KeyType: o.keyType, TTL: c.Lifetime, Approve: true, Timeout: o.Timeout, ApprovedBy: approvedBy,
			Instead: issue.NoSigner("sign offline: kubeaccess apply --ca-cert --ca-key")}
	}
	if o.CACert != "" {
		authority, err := pki.LoadAuthority(o.CACert, o.CAKey)
		if err != nil {
			return nil, failure.UsageErrorf("%w", err)
		}
		a.Source = func(c team.Credential) issue.Source {
			return &issue.Authority{CA: authority, KeyType: o.keyType, TTL: c.Lifetime}
		}
	}
	return a, nil
}

// printRequests says, on stderr, what each credential issued or renewed
// cost the API server, by kind of request: the whole run's requests
// (reading the cluster, binding, recording) shared among them; and, when
// the privilege reviews could not use rules reviews, why.
func (o *Options) printRequests(out *team.Outcome, engine *issue.Engine) {
	if out == nil {
		return
	}
	n := 0
	for _, c := range out.Done {
		if c.Action == team.Issue || c.Action == team.Renew {
			n++
		}
	}
	if line := cmdutil.RequestCounter.PerCredential(n); line != "" {
		fmt.Fprintf(o.ErrOut, "%d credentials, %d API requests: %s\n", n, cmdutil.RequestCounter.Total(), line)
	}
	if why := engine.Reviews(); why != "" && n > 0 {
		fmt.Fprintf(o.ErrOut, "privilege reviews asked one SubjectAccessReview per question: %s\n", why)
	}
}

// result is the command's error: interrupted (130), or failures (1).
func (o *Options) result(out *team.Outcome, err error) error {
	switch {
	case out != nil && out.Interrupted:
		return failure.InterruptedErrorf("interrupted: what was done is listed above and is consistent; " +
			"credentials issued are written and recorded, and their access is bound at the next apply: run it again to finish")
	case err != nil:
		return err
	case len(out.Failures) > 0:
		return failure.ExitSilently(failure.ExitError)
	}
	return nil
}
