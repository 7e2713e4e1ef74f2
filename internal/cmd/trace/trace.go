// Package trace implements "kubeaccess trace": every request in an API
// server's audit log made with a credential kubeaccess issued, joined to
// who issued it, when, how and for whom; and the least Role that allows
// what one credential did.
package trace

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/safe"
	"github.com/kubeaccess/kubeaccess/internal/trace"
)

// Options holds the flags of "kubeaccess trace".
type Options struct {
	Logs             []string
	Records          string
	RecordsNamespace string
	Summary          bool
	SuggestRole      string
	FailOnFlag       bool
	Output           *cmdutil.Output

	client kubernetes.Interface
	genericiooptions.IOStreams
}

var _ cmdutil.Options = (*Options)(nil)

// NewCmdTrace returns the "trace" command.
func NewCmdTrace(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{RecordsNamespace: records.DefaultNamespace, Output: cmdutil.NewOutput(), IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "trace [AUDIT-LOG...] [--summary | --suggest-role CREDENTIAL]",
		Short: "Attribute every request in an audit log to the kubeaccess credential it was made with: who issued it, when, how, for whom",
		Long: `Read API server audit logs (JSON lines, as --audit-log-format=json writes
them; gzip-compressed or not; standard input when no file or "-" is given)
and join each event's credential ID (authentication.kubernetes.io/credential-id,
Kubernetes 1.32 and later) to the records kubeaccess keeps: who issued the
credential, when, how (grant, approve, sign, token, a team, the portal, a
renewal), for whom, and whether it is still valid.

Events are flagged when made with a revoked credential (used-after-revocation
when the request came after the revocation: a certificate outlives its
revocation until it expires unless kubeaccess lock denies it), with a
kubeaccess credential no record names (unknown-kubeaccess-credential), or with
a credential whose record disagrees with its certificate (untrusted-record).

It prints every event made with a kubeaccess credential, attributed;
--summary prints one line per credential instead: its requests, first and
last use, and flags.
--suggest-role prints the least Roles and ClusterRole, bound to the
credential, that allow exactly the verbs and resources it was allowed in the
logs, for a narrower grant (denied and impersonated requests are left out).
--records reads the records from "kubeaccess list --all -o json" saved
earlier, so that no cluster is needed.`,
		Example: `  kubeaccess trace /var/log/kubernetes/audit.log
  kubeaccess trace audit.log.1.gz audit.log --summary
  zcat audit-*.gz | kubeaccess trace --records records.json -o json
  kubeaccess trace audit.log --suggest-role X509SHA256=1bfd07df79eb224a... > narrower.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Logs = args
			return cmdutil.RunE(f, o)(cmd, args)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.Records, "records", "", `Read the records from this file ("kubeaccess list --all -o json") instead of the cluster`)
	fs.StringVar(&o.RecordsNamespace, "records-namespace", o.RecordsNamespace, "Namespace of the records")
	fs.BoolVar(&o.Summary, "summary", false, "Print one line per credential instead of every attributed event")
	fs.StringVar(&o.SuggestRole, "suggest-role", "", "Print the least RBAC that allows what this credential did (record ID, fingerprint, credential ID or serial)")
	fs.BoolVar(&o.FailOnFlag, "fail-on-flag", false, "Exit 1 when any event is flagged")
	o.Output.AddFlags(cmd)
	return cmd
}

// Complete builds the client when the records are read from the cluster.
func (o *Options) Complete(f cmdutil.Factory, _ []string) error {
	if len(o.Logs) == 0 {
		o.Logs = []string{"-"}
	}
	if o.Records != "" {
		return nil
	}
	var err error
	o.client, err = f.Client()
	return err
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if o.Summary && o.SuggestRole != "" {
		return failure.UsageErrorf("--summary and --suggest-role print different things: give one")
	}
	if n := slices.Index(o.Logs, "-"); n >= 0 && slices.Index(o.Logs[n+1:], "-") >= 0 {
		return failure.UsageErrorf(`standard input ("-") can be read once`)
	}
	return o.Output.Validate()
}

// Run reads the records and the logs, and prints.
func (o *Options) Run(ctx context.Context) error {
	recs, untrusted, err := o.records(ctx)
	if err != nil {
		return err
	}
	tracer := trace.New(recs, untrusted)
	if o.SuggestRole != "" {
		return o.suggest(ctx, tracer, recs)
	}
	var sink eventSink
	if !o.Summary {
		sink = o.eventSink()
	}
	report, bad, err := trace.ReadLogs(ctx, o.Logs, o.In, tracer, func(_ *trace.Event, a *trace.Attribution) {
		if a != nil && sink != nil {
			sink.add(a)
		}
	})
	if err != nil {
		return err
	}
	trace.WarnUnreadable(o.ErrOut, bad)
	if sink != nil {
		err = sink.close()
	} else {
		err = o.printUsage(report)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(o.ErrOut, "%d events read: %d made with %d kubeaccess credentials, %d flagged.\n", report.Events, report.Attributed, len(report.Usage), report.Flagged)
	if o.FailOnFlag && report.Flagged > 0 {
		return failure.ExitSilently(failure.ExitError)
	}
	return nil
}

// records reads the records, and which of them fail their own check.
func (o *Options) records(ctx context.Context) ([]records.Record, map[string]string, error) {
	if o.Records != "" {
		recs, err := records.ReadExport(o.Records)
		return recs, nil, err
	}
	recs, err := records.Store{Client: o.client, Namespace: o.RecordsNamespace}.List(ctx, "")
	if apierrors.IsForbidden(errors.Unwrap(err)) {
		return nil, nil, failure.DeniedErrorf("reading the records needs permission to list configmaps in namespace %s (or use --records): %w", o.RecordsNamespace, err)
	}
	if err != nil {
		return nil, nil, err
	}
	untrusted := map[string]string{}
	for _, r := range recs {
		if err := r.Check(); err != nil {
			untrusted[r.ID] = err.Error()
			fmt.Fprintf(o.ErrOut, "warning: %v\n", err)
		}
	}
	return recs, untrusted, nil
}

func (o *Options) printUsage(report *trace.Report) error {
	usage := make([]*trace.Usage, 0, len(report.Usage))
	for _, u := range report.Usage {
		usage = append(usage, u)
	}
	slices.SortFunc(usage, func(a, b *trace.Usage) int { return a.First.Compare(b.First) })
	if o.Output.Structured() {
		return cmdutil.PrintList(o.Output, o.Out, "CredentialUse", usage, func(u *trace.Usage) string { return u.CredentialID })
	}
	now := time.Now()
	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "USER\tCREDENTIAL\tHOW\tISSUED-BY\tISSUED\tSTATUS\tREQUESTS\tFIRST-USED\tLAST-USED\tFLAGS")
	for _, u := range usage {
		c := u.Credential
		id, how, by, issued, status := shortID(u.CredentialID), "-", "-", "-", "unrecorded"
		if c != nil {
			id, how, by, issued, status = c.ID, c.How, c.IssuedBy, c.IssuedAt.Format(time.RFC3339), c.Status(now)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", safe.Printable(u.User), id, safe.Printable(how), safe.Printable(by), issued, status,
			u.Requests, when(u.First), when(u.Last), flagCounts(u.Flags))
	}
	return w.Flush()
}

// eventSink prints attributed events as they are read.
type eventSink interface {
	add(*trace.Attribution)
	close() error
}

// eventSink is the printer of -o: a streamed list for json, the table in
// chunks, or, for the other formats, a list printed at the end.
func (o *Options) eventSink() eventSink {
	switch {
	case o.Output.Format() == "json":
		return streamSink{cmdutil.NewListStream(o.Out, "TracedEvent")}
	case o.Output.Structured():
		return &listSink{o: o}
	}
	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TIME\tUSER\tREQUEST\tCODE\tCREDENTIAL\tHOW\tISSUED-BY\tFLAGS")
	return &tableSink{w: w}
}

type streamSink struct{ *cmdutil.ListStream }

func (s streamSink) add(a *trace.Attribution) { s.Add(a.AuditID, a) }
func (s streamSink) close() error             { return s.Close() }

type listSink struct {
	o      *Options
	events []*trace.Attribution
}

func (s *listSink) add(a *trace.Attribution) { s.events = append(s.events, a.Detached()) }
func (s *listSink) close() error {
	return cmdutil.PrintList(s.o.Output, s.o.Out, "TracedEvent", s.events, func(a *trace.Attribution) string { return a.AuditID })
}

// tableSink prints the table, aligned a chunk of rows at a time, so that
// a long log is neither held nor waited for.
type tableSink struct {
	w    *tabwriter.Writer
	rows int
	err  error
}

// tableChunk is how many rows are aligned together.
const tableChunk = 256

func (s *tableSink) add(a *trace.Attribution) {
	id, how, by := shortID(a.CredentialID), "-", "-"
	if c := a.Credential; c != nil {
		id, how, by = c.ID, c.How, c.IssuedBy
	}
	user := a.User
	if a.As != "" {
		user += " as " + a.As
	}
	flags := strings.Join(a.Flags, ",")
	if flags == "" {
		flags = "-"
	}
	fmt.Fprintf(s.w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", a.Time.Format(time.RFC3339), safe.Printable(user), safe.Printable(a.Request),
		a.Code, id, safe.Printable(how), safe.Printable(by), flags)
	if s.rows++; s.rows%tableChunk == 0 && s.err == nil {
		s.err = s.w.Flush()
	}
}

func (s *tableSink) close() error {
	if s.err != nil {
		return s.err
	}
	return s.w.Flush()
}

// when is a time in the table; "-" for none (a credential whose only
// requests were kubeaccess's own checks).
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}

// shortID shortens a credential ID no record names, for the table.
func shortID(id string) string {
	if len(id) > 28 {
		return id[:28] + "..."
	}
	if id == "" {
		return "<none>"
	}
	return id
}

func flagCounts(flags map[string]int) string {
	if len(flags) == 0 {
		return "-"
	}
	var out []string
	for f, n := range flags {
		out = append(out, fmt.Sprintf("%s(%d)", f, n))
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// suggest prints the least RBAC that allows what one credential, across
// its renewals, was allowed to do in the logs.
func (o *Options) suggest(ctx context.Context, tracer *trace.Tracer, recs []records.Record) error {
	found := records.Match(recs, o.SuggestRole)
	if len(found) == 0 {
		return failure.UsageErrorf("no record of a credential %q: give a record ID, fingerprint, credential ID (X509SHA256=... or JTI=...) or serial (see kubeaccess list --all)", o.SuggestRole)
	}
	lineage := found[0].LineageID()
	for _, r := range found[1:] {
		if r.LineageID() != lineage {
			return failure.UsageErrorf("%q names more than one credential: give more of it", o.SuggestRole)
		}
	}
	var events []*trace.Event
	_, bad, err := trace.ReadLogs(ctx, o.Logs, o.In, tracer, func(e *trace.Event, a *trace.Attribution) {
		if a != nil && a.Credential != nil && a.Credential.Lineage == lineage && a.Credential.RenewalIdentityOf == "" {
			events = append(events, e)
		}
	})
	if err != nil {
		return err
	}
	trace.WarnUnreadable(o.ErrOut, bad)
	s := trace.Suggest(trace.SubjectOf(found[0]), events)
	fmt.Fprintf(o.ErrOut, "%d events of credential %s (%s): %d denied and %d impersonated left out.\n",
		len(events), lineage, safe.Printable(found[0].User), s.Denied, s.Impersonated)
	if s.Empty() {
		return failure.UsageErrorf("credential %s was allowed nothing in these logs: there is no role to suggest", lineage)
	}
	return o.Output.PrintObjects(o.Out, s.Objects("suggested-"+lineage))
}
