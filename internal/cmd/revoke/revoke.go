// Package revoke implements "kubeaccess revoke USER": take away the access
// kubeaccess bound for a user, mark their records revoked, prove it with
// SubjectAccessReviews, and say what remains.
package revoke

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// Options holds the flags of "kubeaccess revoke".
type Options struct {
	User             string
	Credential       string
	RecordsNamespace string
	DryRun           string

	dryRun issue.DryRun
	// deleted are the bindings deleted so far (or that a dry run would
	// delete), which no longer keep a role in use.
	deleted []rbac.Ref
	client  kubernetes.Interface
	admin   string
	genericiooptions.IOStreams
}

// NewCmdRevoke returns the "revoke" command.
func NewCmdRevoke(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{RecordsNamespace: records.DefaultNamespace, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "revoke USER",
		Short: "Take away the access kubeaccess bound for USER, and check it is gone",
		Long: `Remove USER from every binding kubeaccess created or joined for them, deleting
bindings left without subjects and the roles kubeaccess made for them; mark
USER's records revoked; then check with SubjectAccessReviews that USER has no
access left through those rules. Other bindings that still give USER or their
groups access are listed, not touched. Kubernetes cannot revoke a client
certificate: it keeps authenticating until it expires, which is said plainly.
For a service account, USER is system:serviceaccount:NAMESPACE:NAME.`,
		Example: `  kubeaccess revoke dave

  # Only the certificate issued with grant --revocable as record c-1bfd07df79eb224a
  kubeaccess revoke --credential c-1bfd07df79eb224a

  # The same certificate, by the credential ID its holder's kubectl auth whoami shows
  kubeaccess revoke --credential X509SHA256=1bfd07df79eb224a...

  # What would be removed and deleted, sent to the API server as a dry run
  kubeaccess revoke dave --dry-run=server`,
		Args: cmdutil.Args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && o.Credential != "":
				return cmdutil.UsageErrorf("name a USER or give --credential ID, not both")
			case len(args) == 1:
				o.User = args[0]
			case o.Credential == "":
				return cmdutil.UsageErrorf("name the USER to revoke, or --credential ID for one revocable certificate")
			}
			var err error
			if o.dryRun, err = issue.ParseDryRun(o.DryRun); err != nil {
				return cmdutil.UsageErrorf("%w", err)
			}
			if o.client, err = f.Client(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&o.Credential, "credential", "", "Revoke only this credential, issued with --revocable: its record ID, credential group, fingerprint, "+
		"credential ID as kubectl auth whoami shows it (X509SHA256=...), or serial; a unique prefix will do")
	cmd.Flags().StringVar(&o.RecordsNamespace, "records-namespace", o.RecordsNamespace, "Namespace of the records")
	issuing.AddDryRunFlag(cmd, &o.DryRun)
	return cmd
}

// Run revokes, checks and reports.
func (o *Options) Run(ctx context.Context) error {
	store := records.Store{Client: o.client, Namespace: o.RecordsNamespace}
	recs, subject, err := o.target(ctx, store)
	if err != nil {
		return err
	}
	if id, err := verify.WhoAmI(ctx, o.client); err == nil {
		o.admin = id.Username
	}
	recs, tampered := o.trusted(recs)
	var (
		rules   []scopedRules
		done    []string
		orphans []rbac.Ref
	)
	seen := map[rbac.Ref]bool{}
	for _, rec := range recs {
		who := subjectOf(rec)
		if rec.CredentialGroup != "" {
			who = rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: rec.CredentialGroup}
		}
		for _, ref := range bindingsOf(rec) {
			if seen[ref] {
				continue
			}
			seen[ref] = true
			r, what, orphan, err := o.unbind(ctx, ref, who)
			if err != nil {
				return fmt.Errorf("%w\nalready done: %s", err, strings.Join(done, "; "))
			}
			rules = append(rules, r...)
			done = append(done, what...)
			if orphan != nil {
				orphans = append(orphans, *orphan)
			}
		}
	}
	// One read of the bindings, after unbinding, tells which roles are
	// used no more and which other bindings remain.
	index, err := rbac.ReadIndex(ctx, o.client)
	if err != nil {
		return fmt.Errorf("%w\nalready done: %s; the roles of deleted bindings were kept", err, strings.Join(done, "; "))
	}
	deleted, err := o.deleteUnusedRoles(ctx, index, orphans)
	done = append(done, deleted...)
	if err != nil {
		return fmt.Errorf("%w\nalready done: %s", err, strings.Join(done, "; "))
	}
	for _, what := range done {
		fmt.Fprintln(o.Out, what)
	}
	if o.dryRun != issue.DryRunNone {
		for _, r := range recs {
			fmt.Fprintf(o.Out, "marked record %s revoked%s\n", r.ID, o.dryRun.Suffix())
		}
		return o.tamperedError(tampered)
	}
	if err := o.markRevoked(ctx, store, recs); err != nil {
		return err
	}
	if len(recs) == 0 {
		return fmt.Errorf("nothing was revoked: every record of %s was tampered with (listed above); find out who wrote them", o.User)
	}
	groups := groupsOf(recs)
	still, err := o.checkGone(ctx, groups, rules)
	if err != nil {
		return err
	}
	o.reportOthers(index, subject, groups)
	o.reportValidity(recs)
	if err := o.tamperedError(tampered); err != nil {
		return err
	}
	if len(still) > 0 {
		return fmt.Errorf("%s may still %s, through a binding of one of their groups (listed above): a certificate keeps its groups, "+
			"so remove that binding, or the user from it, to take this away", o.User, still[0])
	}
	return nil
}

// tamperedError says that records were tampered with and left alone.
func (o *Options) tamperedError(tampered int) error {
	if tampered == 0 {
		return nil
	}
	return fmt.Errorf("%d record(s) of %s were tampered with and not acted on (listed above): find out who wrote them, and check the bindings they name by hand", tampered, o.User)
}

// target reads the records to revoke and the subject to unbind: all of
// USER's, or the one --credential names, whose access is bound to its own
// group.
func (o *Options) target(ctx context.Context, store records.Store) ([]records.Record, rbacv1.Subject, error) {
	if o.Credential != "" {
		r, err := store.Find(ctx, o.Credential)
		if apierrors.IsForbidden(errors.Unwrap(err)) {
			return nil, rbacv1.Subject{}, cmdutil.DeniedErrorf("revoking needs permission to read the records (list configmaps in namespace %s): %w", o.RecordsNamespace, err)
		} else if err != nil {
			return nil, rbacv1.Subject{}, err
		}
		if r.CredentialGroup == "" {
			return nil, rbacv1.Subject{}, cmdutil.UsageErrorf("credential %s of %s was issued without --revocable, so its access is shared with %s's other credentials; "+
				"revoke %s takes it from all of them", r.ID, r.User, r.User, r.User)
		}
		o.User = r.User
		return []records.Record{r}, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: r.CredentialGroup}, nil
	}
	recs, err := store.List(ctx, o.User)
	if apierrors.IsForbidden(err) {
		return nil, rbacv1.Subject{}, cmdutil.DeniedErrorf("revoking needs permission to read the records (list configmaps in namespace %s): %w", o.RecordsNamespace, err)
	}
	if err != nil {
		return nil, rbacv1.Subject{}, err
	}
	if len(recs) == 0 {
		return nil, rbacv1.Subject{}, cmdutil.UsageErrorf("no records of %s in namespace %s: kubeaccess did not issue them a credential (see kubeaccess list --all)", o.User, o.RecordsNamespace)
	}
	return recs, subjectOf(recs[0]), nil
}

// subjectOf is how bindings name the credential's holder.
func subjectOf(r records.Record) rbacv1.Subject {
	if ns, name, ok := strings.Cut(r.ServiceAccount, "/"); ok {
		return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}
	}
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: r.User}
}

// trusted keeps the records that agree with their certificates and name
// only kubeaccess's objects, and reports the others as tampered: a record
// is a ConfigMap others may have written, so nothing is done on its word.
func (o *Options) trusted(recs []records.Record) ([]records.Record, int) {
	var ok []records.Record
	for _, r := range recs {
		if err := r.Check(); err != nil {
			fmt.Fprintf(o.Out, "tampered: %v; not acted on\n", err)
			continue
		}
		ok = append(ok, r)
	}
	return ok, len(recs) - len(ok)
}

// bindingsOf lists the bindings a record names (Check has read them).
func bindingsOf(r records.Record) []rbac.Ref {
	var refs []rbac.Ref
	for _, ref := range r.Access {
		if ref.Kind == "RoleBinding" || ref.Kind == "ClusterRoleBinding" {
			refs = append(refs, ref)
		}
	}
	return refs
}

func groupsOf(recs []records.Record) []string {
	var groups []string
	for _, r := range recs {
		for _, g := range r.Groups {
			if !slices.Contains(groups, g) {
				groups = append(groups, g)
			}
		}
	}
	return groups
}

func (o *Options) markRevoked(ctx context.Context, store records.Store, recs []records.Record) error {
	now := time.Now().UTC().Truncate(time.Second)
	for _, r := range recs {
		err := store.Modify(ctx, r.ID, func(r *records.Record) error {
			if r.Revoked == nil {
				r.Revoked, r.RevokedBy = &now, o.admin
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// checkGone asks, with SubjectAccessReviews, until none of rules is allowed
// to the user (with their groups), and returns what still is.
func (o *Options) checkGone(ctx context.Context, groups []string, rules []scopedRules) ([]verify.Permission, error) {
	var perms []verify.Permission
	for _, r := range rules {
		perms = append(perms, verify.RulePermissions(r.rules, r.namespace)...)
	}
	if len(perms) == 0 {
		return nil, nil
	}
	var allowed []verify.Permission
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
		missing, err := verify.MissingFor(ctx, o.client, o.User, groups, perms)
		if err != nil {
			return false, err
		}
		allowed = slices.DeleteFunc(slices.Clone(perms), func(p verify.Permission) bool { return slices.Contains(missing, p) })
		return len(allowed) == 0, nil
	})
	switch {
	case len(allowed) > 0:
		// Still allowed when the wait ended, however it ended.
		return allowed, nil
	case err != nil:
		return nil, err
	}
	fmt.Fprintf(o.Out, "checked: the API server now denies %s all %d permissions those bindings gave\n", o.User, len(perms))
	return nil, nil
}

// reportValidity says how long the credentials keep authenticating.
func (o *Options) reportValidity(recs []records.Record) {
	for _, r := range recs {
		if time.Now().After(r.NotAfter) {
			continue
		}
		switch r.Kind {
		case "token":
			fmt.Fprintf(o.Out, "note: token %s still authenticates as %s until %s (delete its ServiceAccount or bound Secret to end it now)\n",
				r.ID, r.User, r.NotAfter.Format(time.RFC3339))
		default:
			fmt.Fprintf(o.Out, "note: certificate %s (serial %s) still authenticates as %s until %s: Kubernetes cannot revoke a client certificate, so %s keeps an identity, now without this access\n",
				r.ID, r.Serial, r.User, r.NotAfter.Format(time.RFC3339), r.User)
		}
	}
}

// kubeaccessMade reports whether kubeaccess made an object: its label and
// one of the names it gives.
func kubeaccessMade(m metav1.Object) bool {
	return rbac.Managed(m.GetLabels(), m.GetName())
}
