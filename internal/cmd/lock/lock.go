// Package lock implements "kubeaccess lock": deny a credential's writes,
// exec, attach and port-forward at once, through an admission policy on
// its credential ID (see internal/lock), until it expires.
package lock

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/lock"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/safe"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// Options holds the flags of "kubeaccess lock".
type Options struct {
	User             string
	Credential       string
	RecordsNamespace string
	List, Remove     bool
	// CheckTimeout bounds the wait for the API server to enforce a lock.
	CheckTimeout time.Duration

	client kubernetes.Interface
	config *rest.Config
	getter genericclioptions.RESTClientGetter
	genericiooptions.IOStreams
}

var _ cmdutil.Options = (*Options)(nil)

// NewCmdLock returns the "lock" command.
func NewCmdLock(f cmdutil.Factory, getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{RecordsNamespace: records.DefaultNamespace, CheckTimeout: 15 * time.Second, getter: getter, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "lock USER | --credential ID",
		Short: "Deny a credential's writes, exec, attach and port-forward at once, until it expires",
		Long: `Lock every unexpired credential of USER (and the renewal identities of its
renewing ones), or one credential (--credential): a ValidatingAdmissionPolicy,
created on first use, denies every create, update, delete and connect (exec,
attach, port-forward) of a request authenticated with a locked credential, as
the API server names it (authentication.kubernetes.io/credential-id, Kubernetes
1.32 and later). It acts at once, where revoke cannot: a client certificate
keeps authenticating until it expires.

Admission never sees reads: a locked credential may still get, list and watch
what its bindings allow until it expires. Revoke it too, so that it is not
renewed and its bindings go. kubeaccess controller removes a lock once its
credential has expired.

Once locked, kubeaccess checks that the API server denies such a write (a
server dry run impersonating system:masters with the locked credential's ID);
without the right to impersonate, it says the lock was not checked.`,
		Example: `  # Stop all of dave's credentials writing, now; then take their access away
  kubeaccess lock dave
  kubeaccess revoke dave

  # One credential, by its record, fingerprint or credential ID
  kubeaccess lock --credential X509SHA256=1bfd07df79eb224a...

  # What is locked, and until when; unlock one locked by mistake
  kubeaccess lock --list
  kubeaccess lock --remove --credential c-1bfd07df79eb224a`,
		Args: cmdutil.Args(cobra.MaximumNArgs(1)),
		RunE: cmdutil.RunE(f, o),
	}
	fs := cmd.Flags()
	fs.StringVar(&o.Credential, "credential", "", "Lock only this credential: its record ID, fingerprint, credential ID (X509SHA256=... or JTI=...) or serial")
	fs.BoolVar(&o.List, "list", false, "List the locks")
	fs.BoolVar(&o.Remove, "remove", false, "Unlock the credentials named instead")
	fs.StringVar(&o.RecordsNamespace, "records-namespace", o.RecordsNamespace, "Namespace of the records, which holds the locks")
	fs.DurationVar(&o.CheckTimeout, "check-timeout", o.CheckTimeout, "How long to wait for the API server to enforce a new lock")
	return cmd
}

// Complete builds the clients.
func (o *Options) Complete(f cmdutil.Factory, args []string) error {
	if len(args) == 1 {
		o.User = args[0]
	}
	var err error
	if o.client, err = f.Client(); err != nil {
		return err
	}
	if o.config, err = o.getter.ToRESTConfig(); err != nil {
		return err
	}
	return nil
}

// Validate checks that one target is named, or --list.
func (o *Options) Validate() error {
	switch {
	case o.List && (o.User != "" || o.Credential != "" || o.Remove):
		return failure.UsageErrorf("--list takes no USER, --credential or --remove")
	case o.List:
		return nil
	case o.User != "" && o.Credential != "":
		return failure.UsageErrorf("name a USER or give --credential ID, not both")
	case o.User == "" && o.Credential == "":
		return failure.UsageErrorf("name the USER whose credentials to lock, or --credential ID for one")
	case o.CheckTimeout <= 0:
		return failure.UsageErrorf("--check-timeout must be positive")
	}
	return nil
}

// Run lists, locks or unlocks.
func (o *Options) Run(ctx context.Context) error {
	locks := lock.Store{Client: o.client, Namespace: o.RecordsNamespace}
	if o.List {
		return o.list(ctx, locks)
	}
	targets, err := o.targets(ctx)
	if err != nil {
		return err
	}
	if o.Remove {
		ids := make([]string, len(targets))
		for i, t := range targets {
			ids[i] = t.CredentialID
		}
		removed, err := locks.Remove(ctx, ids)
		if err != nil {
			return err
		}
		for _, id := range removed {
			fmt.Fprintf(o.Out, "unlocked %s\n", id)
		}
		if len(removed) == 0 {
			fmt.Fprintln(o.ErrOut, "nothing was locked")
		}
		return nil
	}
	if me, err := verify.WhoAmI(ctx, o.client); err == nil {
		for i := range targets {
			targets[i].LockedBy = me.Username
		}
	}
	if err := lock.EnsurePolicy(ctx, o.client, o.RecordsNamespace); err != nil {
		return err
	}
	if err := locks.Add(ctx, targets); err != nil {
		return fmt.Errorf("locking: %w; nothing was locked", err)
	}
	for _, t := range targets {
		fmt.Fprintf(o.Out, "locked credential %s of %s (%s) until it expires at %s\n", t.Record, safe.Printable(t.User), t.CredentialID, t.Until.Format(time.RFC3339))
	}
	if err := o.check(ctx, targets[0].CredentialID); err != nil {
		fmt.Fprintf(o.ErrOut, "warning: the lock was not checked: %v\n", err)
	} else {
		fmt.Fprintln(o.Out, "checked: the API server denies a write by a locked credential")
	}
	fmt.Fprintf(o.ErrOut, "note: admission never sees reads: until it expires, a locked credential may still get, list and watch what its bindings allow; "+
		"revoke it too, so that its bindings go and it is not renewed (kubeaccess lock --remove undoes this)\n")
	return nil
}

// targets are the credentials named: unexpired, each with its credential
// ID. A token without a recorded ID cannot be locked, which is said.
func (o *Options) targets(ctx context.Context) ([]lock.Lock, error) {
	store := records.Store{Client: o.client, Namespace: o.RecordsNamespace}
	var recs []records.Record
	if o.Credential != "" {
		r, err := store.Find(ctx, o.Credential)
		if err != nil {
			return nil, err
		}
		recs = []records.Record{r}
	} else {
		all, err := store.List(ctx, "")
		if err != nil {
			return nil, err
		}
		own := map[string]bool{}
		for _, r := range all {
			if r.User == o.User {
				own[r.ID] = true
			}
		}
		for _, r := range all {
			// Its credentials, and the renewal identities of them.
			if own[r.ID] || own[r.RenewalIdentityOf] {
				recs = append(recs, r)
			}
		}
	}
	now := time.Now()
	var out []lock.Lock
	for _, r := range recs {
		if err := r.Check(); err != nil {
			// Locking only denies: a tampered record's credential is
			// locked all the same, and said to be.
			fmt.Fprintf(o.ErrOut, "warning: %v; locked all the same\n", err)
		}
		var id string
		switch {
		case !now.Before(r.NotAfter) && !o.Remove:
			continue
		case r.Kind == "token" && r.JTI == "":
			fmt.Fprintf(o.ErrOut, "warning: token %s of %s has no recorded credential ID (JTI) and cannot be locked; delete its ServiceAccount or bound Secret\n",
				r.ID, safe.Printable(r.User))
			continue
		case r.Kind == "token":
			id = records.TokenCredentialPrefix + r.JTI
		case r.SHA256 != "":
			id = records.CertificateCredentialPrefix + r.SHA256
		default:
			continue
		}
		out = append(out, lock.Lock{CredentialID: id, Entry: lock.Entry{Record: r.ID, User: r.User, Until: r.NotAfter, LockedAt: now.UTC()}})
	}
	if len(out) == 0 {
		what := fmt.Sprintf("user %q", o.User)
		if o.Credential != "" {
			what = fmt.Sprintf("credential %q", o.Credential)
		}
		return nil, failure.UsageErrorf("%s has no unexpired credential on record in namespace %s to lock (see kubeaccess list --all); nothing was locked", what, o.RecordsNamespace)
	}
	return out, nil
}

// check waits until the API server denies a write made with credential
// id: a server dry run of a ConfigMap, impersonating a member of
// system:masters (which RBAC never forbids) with that credential ID.
func (o *Options) check(ctx context.Context, id string) error {
	cfg := rest.CopyConfig(o.config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "kubeaccess:lock-check", Groups: []string{"system:masters"},
		Extra: map[string][]string{records.CredentialIDExtra: {id}}}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	probe := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kubeaccess-lock-check", Namespace: o.RecordsNamespace}}
	deadline := time.Now().Add(o.CheckTimeout)
	for {
		_, err := client.CoreV1().ConfigMaps(o.RecordsNamespace).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		switch {
		case err != nil && strings.Contains(err.Error(), "locked by kubeaccess lock"):
			return nil
		case err != nil && !strings.Contains(err.Error(), "already exists"):
			return fmt.Errorf("a dry run as a locked credential: %w", err)
		case time.Now().After(deadline):
			return errors.New("the API server did not deny a dry-run write by a locked credential within " + o.CheckTimeout.String())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// list prints the locks.
func (o *Options) list(ctx context.Context, locks lock.Store) error {
	all, err := locks.List(ctx)
	if err != nil {
		return err
	}
	if len(all) == 0 {
		fmt.Fprintf(o.ErrOut, "no credential is locked (namespace %s)\n", o.RecordsNamespace)
		return nil
	}
	slices.SortFunc(all, func(a, b lock.Lock) int { return strings.Compare(a.User+a.Record, b.User+b.Record) })
	w := tabwriter.NewWriter(o.Out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "USER\tRECORD\tCREDENTIAL ID\tUNTIL")
	for _, l := range all {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", safe.Printable(l.User), safe.Printable(l.Record), safe.Printable(l.CredentialID), l.Until.Format(time.RFC3339))
	}
	return w.Flush()
}
