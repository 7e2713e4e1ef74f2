package team

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/revoke"
)

// DefaultParallel is how many credentials are issued at once.
const DefaultParallel = 32

// Applier carries a plan out.
type Applier struct {
	Engine *issue.Engine
	Client kubernetes.Interface
	// Source is how a user's certificate comes to be (the CSR API, or a
	// CA key offline); service accounts get tokens.
	Source           func(Credential) issue.Source
	RecordsNamespace string
	MaxTTL           time.Duration
	// AllowExistingAccess issues to a user whom bindings kubeaccess did
	// not make already name, as grant --allow-existing-access does.
	AllowExistingAccess bool
	Parallel            int
	// Progress is told of each credential issued or failed.
	Progress func(Progress)
	// Warn receives the engine's warnings, with the member's name.
	Warn func(name, message string)
	// By names who did it, in records.
	By string
	// KeepTokens leaves revoked tokens' bound Secrets alone (see
	// revoke.Revoker.KeepTokens).
	KeepTokens bool
}

// Progress counts the credentials of a run.
type Progress struct {
	Done, Failed, Total int
	// Last is the member just finished.
	Last string
}

// Failure is a member whose credential could not be issued.
type Failure struct {
	Kind  string `json:"kind"`
	Name  string `json:"name"`
	Error string `json:"error"`
}

// Outcome is what a run did.
type Outcome struct {
	Done     []Change
	Failures []Failure
	// Interrupted is set when the run was stopped: what was done is
	// consistent, and the next apply finishes the rest.
	Interrupted bool
}

// Apply brings the cluster to the plan: namespaces first, then every
// credential, concurrently and each on its own (one failing does not stop
// the others), then the roles and bindings, with the members that now
// hold a valid credential as subjects, then the revocations. Interrupted
// while issuing, it stops there: what was issued is written and recorded,
// and bound at the next apply.
func (a *Applier) Apply(ctx context.Context, p *Plan) (*Outcome, error) {
	out := &Outcome{}
	team := p.Resolved.Team()
	if len(p.Namespaces) > 0 {
		if err := a.createNamespaces(ctx, team, p.Namespaces); err != nil {
			return out, err
		}
		for _, ns := range p.Namespaces {
			out.Done = append(out.Done, Change{Action: "create", Kind: "Namespace", Name: ns})
		}
	}
	for _, c := range p.Credentials {
		if c.Refused != "" {
			out.Failures = append(out.Failures, Failure{Kind: c.Kind(), Name: c.Name, Error: c.Refused})
		}
	}
	bound := a.issue(ctx, p, out)
	if ctx.Err() != nil {
		out.Interrupted = true
		return out, nil
	}
	changes, err := p.diff(bound)
	if err != nil {
		return out, err
	}
	if err := a.applyObjects(ctx, changes, p.State.Index, out); err != nil {
		return out, err
	}
	return out, a.revoke(ctx, p.Revocations, out)
}

func (a *Applier) createNamespaces(ctx context.Context, team string, names []string) error {
	objs := make([]runtime.Object, len(names))
	for i, ns := range names {
		obj := rbac.BuildNamespace(ns)
		obj.Labels = Labels(team)
		objs[i] = obj
	}
	_, err := rbac.Apply(ctx, a.Client, objs)
	return err
}

// issue issues every credential the plan needs, Parallel at once, and
// returns the members that hold a valid credential afterwards.
func (a *Applier) issue(ctx context.Context, p *Plan, out *Outcome) map[string]bool {
	r := &issuing{Applier: a, team: p.Resolved.Team(), refs: Owned(p.Resolved.Team(), p.State.Index), bound: map[string]bool{}, out: out,
		renewing: p.Resolved.File.Spec.Renewing}
	var todo []Credential
	for _, c := range p.Credentials {
		switch {
		case c.Refused != "":
		case c.Action == "":
			r.bound[c.Name] = true
		default:
			todo = append(todo, c)
		}
	}
	r.progress.Total = len(todo)
	work := make(chan Credential)
	var wg sync.WaitGroup
	for range max(a.Parallel, 1) {
		wg.Go(func() {
			for c := range work {
				r.one(ctx, c)
			}
		})
	}
feed:
	for _, c := range todo {
		select {
		case work <- c:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	return r.bound
}

// issuing is one run's issuance: what it has bound and done so far.
type issuing struct {
	*Applier
	team     string
	refs     []rbac.Ref
	mu       sync.Mutex
	bound    map[string]bool
	progress Progress
	out      *Outcome
	// renewing is the team's spec.renewing.
	renewing *Renewing
}

// one issues c's credential and accounts for it.
func (r *issuing) one(ctx context.Context, c Credential) {
	if ctx.Err() != nil {
		return
	}
	id, err := r.issueOne(ctx, r.team, c, r.refs)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case id != "":
		// Written and recorded, even if then interrupted: it is the
		// member's credential now.
		r.bound[c.Name] = true
		r.out.Done = append(r.out.Done, credentialChange(c, c.Action, c.describe()+"; record "+id))
		if err != nil && ctx.Err() == nil {
			r.out.Failures = append(r.out.Failures, Failure{Kind: c.Kind(), Name: c.Name, Error: err.Error()})
			r.progress.Failed++
		} else {
			r.progress.Done++
		}
	case ctx.Err() != nil:
		return
	default:
		if c.Current != nil {
			// A renewal that failed leaves the credential in place.
			r.bound[c.Name] = true
		}
		r.out.Failures = append(r.out.Failures, Failure{Kind: c.Kind(), Name: c.Name, Error: err.Error()})
		r.progress.Failed++
	}
	r.progress.Last = c.Name
	if r.Progress != nil {
		r.Progress(r.progress)
	}
}

// issueOne has the engine issue one member's credential, with the checks
// grant makes; a renewal's plan names the record it replaces, which the
// engine links.
func (r *issuing) issueOne(ctx context.Context, team string, c Credential, refs []rbac.Ref) (string, error) {
	a := r.Applier
	plan := &issue.Plan{
		Action: "credential", Refusing: "refusing to issue",
		Subject:          issue.Subject{User: c.Name, Groups: c.Groups},
		Namespace:        c.Namespace,
		RecordsNamespace: a.RecordsNamespace,
		Destination:      issue.Destination{Path: c.Path, Force: c.Replace},
		Policy:           issue.Policy{MaxTTL: a.MaxTTL, RefuseExistingAccess: !a.AllowExistingAccess, Renewal: c.Action == Renew},
		Team:             team,
		Bound:            issue.Bound{Grants: c.Grants, Refs: refs},
		Events: func(e issue.Event) {
			if e.Kind == issue.Warning && a.Warn != nil {
				a.Warn(c.Name, e.Message)
			}
		},
	}
	if c.Current != nil {
		plan.Replaces = c.Current.ID
	}
	// The record keeps when the access ends, which list shows.
	plan.AccessUntil = c.Until
	if err := os.MkdirAll(filepath.Dir(c.Path), 0o700); err != nil {
		return "", err
	}
	if rn := r.renewing; rn != nil && c.ServiceAccount == "" {
		// The holder's side makes it renew itself (kubeaccess complete).
		plan.Destination.Renewable, plan.Destination.RenewBefore, plan.Destination.OfflineFor = true, rn.RenewBefore.Duration, rn.Offline()
	}
	if c.ServiceAccount != "" {
		plan.Subject = issue.ServiceAccountSubject(c.Namespace, c.ServiceAccount)
		plan.CreateNamespace = true
		plan.Source = &issue.Token{Duration: c.Lifetime, BoundSecret: BoundSecretName(team, c.ServiceAccount), CreateSecret: true, CreateServiceAccount: true}
	} else {
		plan.Source = a.Source(c)
	}
	res, err := a.Engine.Execute(ctx, plan)
	if res == nil {
		return "", err
	}
	return res.RecordID, err
}

// BoundSecretName is the Secret a team's service account tokens are bound
// to: deleting it, when the account leaves the file, ends them. A team
// name is a DNS label, without dots, so the first dot ends it: no two
// teams' accounts share a name (as "kubeaccess-team-a-b-c" was both team
// a-b's account c and team a's account b-c).
func BoundSecretName(team, serviceAccount string) string {
	return "kubeaccess-team-" + team + "." + serviceAccount
}

// checkBoundSecret says why a team record's bound Secret is not one that
// kubeaccess gives the team's account, or "" when it is (or it has none).
func checkBoundSecret(team string, r records.Record) string {
	if r.BoundSecret == "" {
		return ""
	}
	_, sa, _ := strings.Cut(r.ServiceAccount, "/")
	if want := BoundSecretName(team, sa); r.BoundSecret != want {
		return fmt.Sprintf("record %s names bound Secret %q, not %q, the name kubeaccess gives team %s's account %s "+
			"(a record from before kubeaccess named them apart: delete that Secret yourself to end its tokens)", r.ID, r.BoundSecret, want, team, r.ServiceAccount)
	}
	return ""
}

// applyObjects deletes first (a binding whose role changes is deleted and
// created again), then creates and updates. A delete applies only to the
// object as index read it (its UID and resourceVersion): one changed since
// was not judged, and is left for the next apply.
func (a *Applier) applyObjects(ctx context.Context, changes []ObjectChange, index *rbac.Index, out *Outcome) error {
	var apply []runtime.Object
	for _, ch := range changes {
		if ch.Action == "delete" || ch.Replace {
			v, ok := index.Versions[ch.Ref]
			if !ok {
				return fmt.Errorf("deleting %s: it was not read with the team's objects, so it is left alone", ch.Ref.Display())
			}
			err := deleteRef(ctx, a.Client, ch.Ref, metav1.DeleteOptions{Preconditions: v.Preconditions()})
			if apierrors.IsConflict(err) {
				return fmt.Errorf("deleting %s: it changed after it was read, so it is left alone; apply again to judge it as it is now", ch.Ref.Display())
			}
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("deleting %s: %w", ch.Ref.Display(), err)
			}
		}
		if ch.Action == "delete" {
			out.Done = append(out.Done, Change{Action: "delete", Kind: ch.Ref.Kind, Namespace: ch.Ref.Namespace, Name: ch.Ref.Name})
			continue
		}
		apply = append(apply, ch.Object)
	}
	if _, err := rbac.Apply(ctx, a.Client, apply); err != nil {
		return err
	}
	for _, ch := range changes {
		if ch.Action != "delete" {
			out.Done = append(out.Done, Change{Action: ch.Action, Kind: ch.Ref.Kind, Namespace: ch.Ref.Namespace, Name: ch.Ref.Name, Detail: ch.Detail})
		}
	}
	return nil
}

// DryRunObjects sends the plan's roles and bindings to create or update
// to the API server as a dry run, so that admission and RBAC refusals show
// and nothing is persisted. Those in a namespace still to be created are
// left out: the server cannot judge them yet.
func DryRunObjects(ctx context.Context, client kubernetes.Interface, p *Plan) error {
	var objs []runtime.Object
	for _, ch := range p.Objects {
		if ch.Object != nil && !slices.Contains(p.Namespaces, ch.Ref.Namespace) {
			objs = append(objs, ch.Object)
		}
	}
	if _, err := rbac.DryRunApply(ctx, client, objs); err != nil {
		return fmt.Errorf("the server refuses it (dry run, nothing was changed): %w", err)
	}
	return nil
}

func deleteRef(ctx context.Context, client kubernetes.Interface, ref rbac.Ref, opts metav1.DeleteOptions) error {
	r := client.RbacV1()
	switch ref.Kind {
	case "Role":
		return r.Roles(ref.Namespace).Delete(ctx, ref.Name, opts)
	case "ClusterRole":
		return r.ClusterRoles().Delete(ctx, ref.Name, opts)
	case "RoleBinding":
		return r.RoleBindings(ref.Namespace).Delete(ctx, ref.Name, opts)
	case "ClusterRoleBinding":
		return r.ClusterRoleBindings().Delete(ctx, ref.Name, opts)
	}
	return fmt.Errorf("%s is not an RBAC object", ref)
}

// revoke ends the credentials of members no longer in the file: their
// access went with the bindings; a token's bound Secret goes now, which
// ends it, and every record is marked revoked.
func (a *Applier) revoke(ctx context.Context, recs []records.Record, out *Outcome) error {
	r := revoke.Revoker{Client: a.Client, RecordsNamespace: a.RecordsNamespace, By: a.By, KeepTokens: a.KeepTokens}
	ended, err := r.Records(ctx, recs)
	for _, rec := range recs {
		if slices.Contains(ended, rec.ID) {
			out.Done = append(out.Done, revocationChange(rec))
		}
	}
	return err
}
