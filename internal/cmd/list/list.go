// Package list implements "kubeaccess list": who has access, until when,
// from the records kubeaccess keeps in the cluster.
package list

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/safe"
	"github.com/kubeaccess/kubeaccess/internal/trace"
)

// expiringShare is the part of its lifetime left at which a credential
// counts as expiring, unless --expiring gives a window.
const expiringShare = 5

// Options holds the flags of "kubeaccess list".
type Options struct {
	User             string
	Credential       string
	Expiring         string
	All              bool
	LastUsed         []string
	Output           *cmdutil.Output
	RecordsNamespace string

	window time.Duration
	client kubernetes.Interface
	genericiooptions.IOStreams
}

var _ cmdutil.Options = (*Options)(nil)

// Entry is a record with its status now.
type Entry struct {
	records.Record
	Status    string `json:"status"` // active, expiring, expired, revoked or tampered
	Remaining string `json:"remaining"`
	// LastUsed is when the --last-used audit logs last show a request
	// made with it; nil when they show none.
	LastUsed *time.Time `json:"lastUsed,omitempty"`
}

// NewCmdList returns the "list" command.
func NewCmdList(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{RecordsNamespace: records.DefaultNamespace, Output: cmdutil.NewOutput("wide"), IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "list [flags]",
		Short: "List the credentials kubeaccess issued: who, what kind, until when, with what access",
		Long: `List the credentials recorded in the cluster, soonest expiry first. Expired and
revoked ones are hidden unless --all. A credential is expiring when less than
a fifth of its lifetime is left; --expiring shows only those that expire
within a window instead (as "7d" or "72h").`,
		Example: `  kubeaccess list
  kubeaccess list --user dave --all -o wide
  kubeaccess list --expiring 7d -o json
  kubeaccess list --last-used /var/log/kubernetes/audit.log

  # Which credential is this, as kubectl auth whoami names it?
  kubeaccess list --credential X509SHA256=1bfd07df79eb224a...`,
		Args: cmdutil.Args(cobra.NoArgs),
		RunE: cmdutil.RunE(f, o),
	}
	fs := cmd.Flags()
	fs.StringVar(&o.User, "user", "", "Only this user's credentials")
	fs.StringVar(&o.Credential, "credential", "", "Only this credential, expired or revoked too: its record ID, credential group, fingerprint, credential ID (X509SHA256=... or JTI=...) or serial")
	fs.StringVar(&o.Expiring, "expiring", "", "Only credentials expiring within this window, e.g. 7d or 72h")
	fs.BoolVar(&o.All, "all", false, "Include expired and revoked credentials")
	fs.StringArrayVar(&o.LastUsed, "last-used", nil, `Add when each credential last made a request, from this API server audit log (JSON lines, gzip or not; "-" for standard input); repeatable`)
	fs.StringVar(&o.RecordsNamespace, "records-namespace", o.RecordsNamespace, "Namespace of the records")
	o.Output.AddFlags(cmd)
	return cmd
}

// Complete builds the client; list takes no arguments.
func (o *Options) Complete(f cmdutil.Factory, _ []string) error {
	var err error
	o.client, err = f.Client()
	return err
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if o.Credential != "" && (o.User != "" || o.Expiring != "") {
		return failure.UsageErrorf("--credential names one credential: it goes with neither --user nor --expiring")
	}
	if o.Expiring != "" {
		d, err := cmdutil.ParseWindow(o.Expiring)
		if err != nil {
			return failure.UsageErrorf("--expiring: %w", err)
		}
		o.window = d
	}
	return o.Output.Validate()
}

// Run reads the records and prints those asked for.
func (o *Options) Run(ctx context.Context) error {
	store := records.Store{Client: o.client, Namespace: o.RecordsNamespace}
	var (
		recs []records.Record
		err  error
	)
	if o.Credential != "" {
		var r records.Record
		r, err = store.Find(ctx, o.Credential)
		recs = []records.Record{r}
	} else {
		recs, err = store.List(ctx, o.User)
	}
	if apierrors.IsForbidden(errors.Unwrap(err)) {
		return failure.DeniedErrorf("reading the records needs permission to list configmaps in namespace %s: %w", o.RecordsNamespace, err)
	}
	if err != nil {
		return err
	}
	entries := Select(recs, time.Now(), o.window, o.Expiring != "", o.All || o.Credential != "")
	for i := range entries {
		// Anyone who can write in the records namespace may have forged a
		// record: one that disagrees with its certificate says so.
		if err := entries[i].Check(); err != nil {
			entries[i].Status = "tampered"
			fmt.Fprintf(o.ErrOut, "warning: %v\n", err)
		}
	}
	if len(o.LastUsed) > 0 {
		if err := o.addLastUsed(ctx, recs, entries); err != nil {
			return err
		}
	}
	if o.Output.Structured() {
		return cmdutil.PrintList(o.Output, o.Out, "Credential", entries, func(e Entry) string { return e.ID })
	}
	if len(entries) == 0 {
		fmt.Fprintln(o.ErrOut, "No credentials to show (expired and revoked ones need --all).")
		return nil
	}
	return o.printTable(entries)
}

// Select gives each record its status at now and keeps those to show:
// with expiringOnly those expiring within window (0: within a fifth of
// their lifetime); expired and revoked ones only with all.
func Select(recs []records.Record, now time.Time, window time.Duration, expiringOnly, all bool) []Entry {
	entries := []Entry{}
	for _, r := range recs {
		soon := window
		if soon == 0 {
			soon = r.NotAfter.Sub(r.NotBefore) / expiringShare
		}
		e := Entry{Record: r, Status: "active"}
		left := r.NotAfter.Sub(now)
		e.Remaining = duration.HumanDuration(left)
		switch {
		case r.Revoked != nil:
			e.Status = "revoked"
		case left <= 0:
			e.Status, e.Remaining = "expired", "-"
		case left < soon:
			e.Status = "expiring"
		}
		if (e.Status == "expired" || e.Status == "revoked") && !all {
			continue
		}
		if expiringOnly && e.Status != "expiring" {
			continue
		}
		entries = append(entries, e)
	}
	return entries
}

func (o *Options) printTable(entries []Entry) error {
	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	header := "USER\tGROUPS\tKIND\tID\tEXPIRES\tREMAINING\tSTATUS\tACCESS\tACCESS-UNTIL"
	if len(o.LastUsed) > 0 {
		header += "\tLAST-USED"
	}
	if o.Output.Format() == "wide" {
		header += "\tISSUED-VIA\tISSUED-BY\tISSUED\tSERIAL"
	}
	fmt.Fprintln(w, header)
	for _, e := range entries {
		refs := make([]string, len(e.Access))
		for i, ref := range e.Access {
			refs[i] = ref.Display()
		}
		access := strings.Join(refs, ",")
		if access == "" {
			access = "<none>"
		}
		groups := make([]string, len(e.Groups))
		for i, g := range e.Groups {
			groups[i] = safe.Printable(g)
		}
		if len(groups) == 0 {
			groups = []string{"<none>"}
		}
		until := "<none>"
		if e.Until != nil {
			until = e.Until.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", safe.Printable(e.User), strings.Join(groups, ","), e.Kind, e.ID, e.NotAfter.Format(time.RFC3339), e.Remaining, e.Status, access, until)
		if len(o.LastUsed) > 0 {
			last := "never"
			if e.LastUsed != nil {
				last = e.LastUsed.Format(time.RFC3339)
			}
			fmt.Fprintf(w, "\t%s", last)
		}
		if o.Output.Format() == "wide" {
			fmt.Fprintf(w, "\t%s\t%s\t%s\t%s", e.IssuedVia, e.IssuedBy, e.IssuedAt.Format(time.RFC3339), e.Serial)
		}
		fmt.Fprintln(w)
	}
	return w.Flush()
}

// addLastUsed reads the --last-used audit logs and sets when each entry's
// credential last made a request.
func (o *Options) addLastUsed(ctx context.Context, recs []records.Record, entries []Entry) error {
	report, bad, err := trace.ReadLogs(ctx, o.LastUsed, o.In, trace.New(recs, nil), nil)
	if err != nil {
		return err
	}
	trace.WarnUnreadable(o.ErrOut, bad)
	for i := range entries {
		if last := report.LastUsed(entries[i].Record); !last.IsZero() {
			entries[i].LastUsed = &last
		}
	}
	return nil
}
