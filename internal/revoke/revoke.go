// Package revoke ends access that kubeaccess gave: it takes a subject (a
// user, a service account, or one revocable certificate's own group) out
// of the bindings kubeaccess made for it, deletes what is then unused,
// ends tokens by deleting the Secret they are bound to, marks the records
// revoked, and asks the API server whether the access is gone. It knows no
// command line and prints nothing: it returns what it did, as a Result,
// for kubeaccess revoke, apply and a controller alike. Every write carries
// the UID and resourceVersion of what was read, so that an object changed
// meanwhile is judged again, never overwritten.
package revoke

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/safe"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// DefaultCheckTimeout bounds the wait for the API server to deny what was
// taken away (its authorizer's cache may lag the bindings a moment).
const DefaultCheckTimeout = 5 * time.Second

// Revoker ends access in one cluster. Its calls share nothing but the
// client, so any number may run at once.
type Revoker struct {
	Client           kubernetes.Interface
	RecordsNamespace string
	DryRun           issue.DryRun
	// By names who revokes, in the records; "" asks the API server.
	By string
	// CheckTimeout bounds the wait in Check; 0 is DefaultCheckTimeout.
	CheckTimeout time.Duration
	// KeepTokens has Records leave the Secrets that tokens are bound to
	// alone, for a caller that may not read Secrets (kubeaccess
	// controller): the tokens stay valid until they expire, with none of
	// the access the caller has unbound.
	KeepTokens bool
}

// Target is what to revoke: every credential of User, or the one revocable
// credential that Credential names (record ID, credential group,
// fingerprint, credential ID or serial, or a unique prefix of one).
type Target struct {
	User       string
	Credential string
}

// Result is what a revocation did and found.
type Result struct {
	// User is whose access was revoked.
	User string
	// Records are the records acted on; Tampered those left alone, as
	// records that disagree with their certificates or name objects
	// kubeaccess does not make.
	Records  []records.Record
	Tampered []error
	// Steps are the bindings and roles acted on, in order.
	Steps []Step
	// Marked are the records marked revoked (or, in a dry run, that
	// would be); Ended those whose tokens were ended with their bound
	// Secret.
	Marked, Ended []string
	// Denied counts the permissions the API server now denies; Still are
	// those it allows yet, through a binding of one of the user's groups.
	Denied int
	Still  []verify.Permission
	// Remaining are bindings not touched that still give the subject or
	// their groups access.
	Remaining []Remaining
}

// StepKind is what was done to a binding or role.
type StepKind string

// The kinds of step. Removed and Deleted change the cluster; the others
// say why something was left.
const (
	Removed     StepKind = "removed"      // the subject, from a binding
	Deleted     StepKind = "deleted"      // a binding with no subject left, or a role nothing binds
	AlreadyGone StepKind = "already-gone" // the binding a record names no longer exists
	NotOurs     StepKind = "not-ours"     // kubeaccess did not make it, so it was left
	GroupBound  StepKind = "group-bound"  // it binds a group, not the subject, so it was left
)

// Step is one binding or role acted on.
type Step struct {
	Kind    StepKind
	Ref     rbac.Ref
	Subject string
	DryRun  issue.DryRun
}

// Changed reports whether the step changed (or in a dry run would change)
// the cluster.
func (s Step) Changed() bool { return s.Kind == Removed || s.Kind == Deleted }

// String says what the step did, as revoke prints it.
func (s Step) String() string {
	ref, who, suffix := s.Ref.Display(), safe.Printable(s.Subject), s.DryRun.Suffix()
	switch s.Kind {
	case Removed:
		return fmt.Sprintf("removed %s from %s%s", who, ref, suffix)
	case Deleted:
		if s.Ref.Kind == "Role" || s.Ref.Kind == "ClusterRole" {
			return fmt.Sprintf("deleted %s (nothing binds it any more)%s", ref, suffix)
		}
		return fmt.Sprintf("deleted %s (no subject left)%s", ref, suffix)
	case AlreadyGone:
		return ref + ": already gone"
	case NotOurs:
		return ref + " was not made by kubeaccess (it lacks kubeaccess's label or name); left as is"
	case GroupBound:
		return ref + ": " + who + " is not a subject of it (it binds a group); left as is"
	}
	return ref
}

// Remaining is a binding left in place that gives the subject, or one of
// their groups, a role.
type Remaining struct {
	Binding rbac.Binding
	// Via is the subject or "group NAME" the binding names.
	Via string
}

// String says what remains, as revoke prints it.
func (r Remaining) String() string {
	return fmt.Sprintf("still in place (not touched): %s gives %s the %s %s", r.Binding.Ref.Display(), r.Via, r.Binding.RoleRef.Kind, safe.Printable(r.Binding.RoleRef.Name))
}

// PartialError is a revocation that stopped part way: Done is what was
// done before it stopped, which stays done; running it again finishes it.
type PartialError struct {
	Err  error
	Done []Step
	// Kept says what was left because of the failure.
	Kept string
}

func (e *PartialError) Error() string {
	done := make([]string, len(e.Done))
	for i, s := range e.Done {
		done[i] = s.String()
	}
	msg := fmt.Sprintf("%v\nalready done: %s", e.Err, strings.Join(done, "; "))
	if e.Kept != "" {
		msg += "; " + e.Kept
	}
	return msg + "; run the same revoke again to finish it"
}

func (e *PartialError) Unwrap() error { return e.Err }

// Revoke ends the target's access: it unbinds the subject from every
// binding their trusted records name, deletes the roles left unbound,
// marks the records revoked, and checks with SubjectAccessReviews that the
// access those bindings gave is gone. It returns what it did even when it
// fails part way (then with a *PartialError).
func (r *Revoker) Revoke(ctx context.Context, t Target) (*Result, error) {
	recs, subject, err := r.target(ctx, t)
	if err != nil {
		return nil, err
	}
	res := &Result{User: t.User}
	if len(recs) > 0 {
		res.User = recs[0].User
	}
	for _, rec := range recs {
		if err := rec.Check(); err != nil {
			res.Tampered = append(res.Tampered, err)
			continue
		}
		res.Records = append(res.Records, rec)
	}
	var (
		given   []verify.Permission
		orphans []rbac.Ref
		gone    []rbac.Ref
	)
	seen := map[rbac.Ref]bool{}
	for _, rec := range res.Records {
		who := SubjectOf(rec)
		if rec.CredentialGroup != "" {
			who = rbac.Subject(rbacv1.GroupKind, rec.CredentialGroup)
		}
		for _, ref := range bindingsOf(rec) {
			if seen[ref] {
				continue
			}
			seen[ref] = true
			u, err := r.Unbind(ctx, ref, who)
			if err != nil {
				return res, &PartialError{Err: err, Done: res.Steps}
			}
			res.Steps = append(res.Steps, u.Step)
			given = append(given, u.Given...)
			if u.Orphan != nil {
				orphans = append(orphans, *u.Orphan)
				gone = append(gone, ref)
			}
		}
	}
	// One read of the bindings, after unbinding, tells which roles are
	// used no more and which other bindings remain.
	index, err := rbac.ReadIndex(ctx, r.Client)
	if err != nil {
		return res, &PartialError{Err: err, Done: res.Steps, Kept: "the roles of deleted bindings were kept"}
	}
	deleted, err := r.DeleteUnusedRoles(ctx, index, orphans, gone)
	res.Steps = append(res.Steps, deleted...)
	if err != nil {
		return res, &PartialError{Err: err, Done: res.Steps}
	}
	for _, rec := range res.Records {
		err := r.EndTokens(ctx, rec)
		switch {
		case errors.Is(err, ErrNotOurs):
			// Left: its note says how to end the tokens.
		case err != nil:
			return res, &PartialError{Err: err, Done: res.Steps}
		case rec.BoundSecret != "":
			res.Ended = append(res.Ended, rec.ID)
		}
	}
	if err := r.MarkRevoked(ctx, res.Records); err != nil {
		return res, &PartialError{Err: err, Done: res.Steps}
	}
	for _, rec := range res.Records {
		res.Marked = append(res.Marked, rec.ID)
	}
	if r.DryRun != issue.DryRunNone || len(res.Records) == 0 {
		return res, nil
	}
	groups := groupsOf(res.Records)
	if res.Still, err = r.Check(ctx, res.User, groups, given); err != nil {
		return res, err
	}
	res.Denied = len(verify.Unique(given)) - len(res.Still)
	res.Remaining = RemainingIn(index, subject, groups)
	return res, nil
}

// target reads the records to revoke and the subject to unbind: all of
// the user's, or the one the credential names, whose access is bound to
// its own group.
func (r *Revoker) target(ctx context.Context, t Target) ([]records.Record, rbacv1.Subject, error) {
	store := records.Store{Client: r.Client, Namespace: r.RecordsNamespace}
	denied := func(err error) error {
		return failure.DeniedErrorf("revoking needs permission to read the records (list configmaps in namespace %s): %w", r.RecordsNamespace, err)
	}
	if t.Credential != "" {
		rec, err := store.Find(ctx, t.Credential)
		if apierrors.IsForbidden(errors.Unwrap(err)) {
			return nil, rbacv1.Subject{}, denied(err)
		} else if err != nil {
			return nil, rbacv1.Subject{}, err
		}
		if rec.CredentialGroup == "" {
			return nil, rbacv1.Subject{}, failure.UsageErrorf("credential %s of %s was issued without --revocable, so its access is shared with %s's other credentials; "+
				"revoke %s takes it from all of them", rec.ID, rec.User, rec.User, rec.User)
		}
		return []records.Record{rec}, rbac.Subject(rbacv1.GroupKind, rec.CredentialGroup), nil
	}
	recs, err := store.List(ctx, t.User)
	if apierrors.IsForbidden(err) {
		return nil, rbacv1.Subject{}, denied(err)
	}
	if err != nil {
		return nil, rbacv1.Subject{}, err
	}
	if len(recs) == 0 {
		return nil, rbacv1.Subject{}, failure.UsageErrorf("no records of %s in namespace %s: kubeaccess did not issue them a credential (see kubeaccess list --all)", t.User, r.RecordsNamespace)
	}
	return recs, SubjectOf(recs[0]), nil
}

// SubjectOf is how bindings name a record's holder.
func SubjectOf(rec records.Record) rbacv1.Subject {
	if ns, name, ok := strings.Cut(rec.ServiceAccount, "/"); ok {
		return rbac.ServiceAccountSubject(ns, name)
	}
	return rbac.Subject(rbacv1.UserKind, rec.User)
}

// bindingsOf lists the bindings a record names (Check has read them).
func bindingsOf(rec records.Record) []rbac.Ref {
	var refs []rbac.Ref
	for _, ref := range rec.Access {
		if ref.Kind == "RoleBinding" || ref.Kind == "ClusterRoleBinding" {
			refs = append(refs, ref)
		}
	}
	return refs
}

func groupsOf(recs []records.Record) []string {
	var groups []string
	for _, rec := range recs {
		for _, g := range rec.Groups {
			if !slices.Contains(groups, g) {
				groups = append(groups, g)
			}
		}
	}
	return groups
}

// Records ends credentials whose access is gone already (apply deleted a
// departed member's bindings with the team's objects): it deletes the
// Secret a token is bound to, which ends the token, and marks each record
// revoked. It goes on past a failure, and returns the IDs it finished and
// the failures joined.
func (r *Revoker) Records(ctx context.Context, recs []records.Record) ([]string, error) {
	var (
		done []string
		errs []error
	)
	for _, rec := range recs {
		if !r.KeepTokens {
			if err := r.EndTokens(ctx, rec); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if err := r.MarkRevoked(ctx, []records.Record{rec}); err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, rec.ID)
	}
	return done, errors.Join(errs...)
}

// MarkRevoked marks records revoked, now and by r.By, with optimistic
// concurrency: a record written meanwhile is read again, and one revoked
// already keeps when and by whom. A record renewed already passes the
// revocation on to its successor (and so on down the chain), so that a
// renewal racing a revocation never outlives it: either the renewal links
// the old record first and is revoked here, or it finds the old record
// revoked and revokes its own (see issue.Plan.Replaces). A dry run marks
// nothing.
func (r *Revoker) MarkRevoked(ctx context.Context, recs []records.Record) error {
	if r.DryRun != issue.DryRunNone || len(recs) == 0 {
		return nil
	}
	by := r.by(ctx)
	store := records.Store{Client: r.Client, Namespace: r.RecordsNamespace}
	now := time.Now().UTC().Truncate(time.Second)
	seen := map[string]bool{}
	for _, rec := range recs {
		id, user, replaces := rec.ID, "", ""
		for id != "" && !seen[id] {
			seen[id] = true
			var next, holder string
			successor := user != ""
			err := store.Modify(ctx, id, func(rec *records.Record) error {
				if successor && (rec.User != user || rec.Replaces != replaces) {
					// Not the successor it is said to be: left alone.
					return errNotSuccessor
				}
				if rec.Revoked == nil {
					rec.Revoked, rec.RevokedBy = &now, by
				}
				next, holder = rec.ReplacedBy, rec.User
				return nil
			})
			if errors.Is(err, errNotSuccessor) || successor && apierrors.IsNotFound(errors.Unwrap(err)) {
				break
			}
			if err != nil {
				return err
			}
			id, user, replaces = next, holder, id
		}
	}
	return nil
}

// errNotSuccessor is a record that a renewed record names as its
// successor, but that does not name it back, or is someone else's.
var errNotSuccessor = errors.New("not the successor it is said to be")

// by is who revokes: r.By, or as the API server sees the client.
func (r *Revoker) by(ctx context.Context) string {
	if r.By != "" {
		return r.By
	}
	if id, err := verify.WhoAmI(ctx, r.Client); err == nil {
		return id.Username
	}
	return ""
}

// Check asks, with SubjectAccessReviews, until the API server denies user
// (with groups) every one of perms, or the wait ends; it returns those
// still allowed then.
func (r *Revoker) Check(ctx context.Context, user string, groups []string, perms []verify.Permission) ([]verify.Permission, error) {
	perms = verify.Unique(perms)
	if len(perms) == 0 {
		return nil, nil
	}
	timeout := r.CheckTimeout
	if timeout == 0 {
		timeout = DefaultCheckTimeout
	}
	var allowed []verify.Permission
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		missing, err := verify.MissingFor(ctx, r.Client, user, groups, perms)
		if err != nil {
			return false, err
		}
		allowed = slices.DeleteFunc(slices.Clone(perms), func(p verify.Permission) bool { return slices.Contains(missing, p) })
		return len(allowed) == 0, nil
	})
	if len(allowed) > 0 {
		// Still allowed when the wait ended, however it ended.
		return allowed, nil
	}
	return nil, err
}

// RemainingIn lists the bindings of index that still give subject, or
// one of groups, a role.
func RemainingIn(index *rbac.Index, subject rbacv1.Subject, groups []string) []Remaining {
	names := func(s rbacv1.Subject) bool {
		return sameSubject(subject)(s) || s.Kind == rbacv1.GroupKind && slices.Contains(groups, s.Name)
	}
	var out []Remaining
	for _, b := range index.BindingsOf(names) {
		via := safe.Printable(subject.Name)
		if !slices.ContainsFunc(b.Subjects, sameSubject(subject)) {
			i := slices.IndexFunc(b.Subjects, names)
			via = "group " + safe.Printable(b.Subjects[i].Name)
		}
		out = append(out, Remaining{Binding: b, Via: via})
	}
	return out
}
