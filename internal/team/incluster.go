package team

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/privilege"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// InCluster is what reconciling a team in the cluster it guards works out
// (kubeaccess controller): the same file, resolved with the same checks
// and refusals as apply -f, but with no output directory. A user is bound
// once they hold a live credential the team issued (a record of the
// team's, neither revoked nor expired); a service account is bound as it
// is, since in the cluster it runs with its own tokens, and is created when
// missing. Members still without a credential are pending.
type InCluster struct {
	Resolved *Resolved
	State    *State
	// Bound are the members bound; Pending the users not yet holding a
	// live credential.
	Bound, Pending []string
	// ServiceAccounts are the service-account members not known to exist,
	// as objects to create (one that exists meanwhile is left as it is).
	ServiceAccounts []runtime.Object
	Objects         []ObjectChange
	Namespaces      []string
	// Revocations are live records of members the team no longer has.
	Revocations []records.Record
}

// PlanInCluster works out what bringing the cluster to r takes.
func PlanInCluster(r *Resolved, st *State, now time.Time) (*InCluster, error) {
	r = r.At(now)
	p := &InCluster{Resolved: r, State: st, Revocations: r.Removed(st.Records, now)}
	live := map[string]bool{}
	for _, rec := range st.Records {
		if rec.Revoked == nil && now.Before(rec.NotAfter) {
			live[rec.User] = true
		}
	}
	bound := map[string]bool{}
	for _, m := range r.Users {
		if live[m.identity()] {
			bound[m.Name] = true
			p.Bound = append(p.Bound, m.Name)
		} else {
			p.Pending = append(p.Pending, m.Name)
		}
	}
	needed := map[string]bool{}
	for _, m := range r.ServiceAccounts {
		bound[m.Name] = true
		p.Bound = append(p.Bound, m.Name)
		if st.ServiceAccountExists == nil || !st.ServiceAccountExists(m.Namespace, m.ServiceAccount) {
			p.ServiceAccounts = append(p.ServiceAccounts, rbac.BuildServiceAccount(m.ServiceAccount, m.Namespace))
		}
		needed[m.Namespace] = true
	}
	want := r.Objects(func(name string) bool { return bound[name] })
	var err error
	if p.Objects, err = DiffObjects(r.Team(), want, st.Index); err != nil {
		return nil, err
	}
	p.Namespaces = missingNamespaces(needed, p.Objects, st)
	return p, nil
}

// PruneInCluster is what ending team takes, its TeamAccess deleted: every
// role and binding of its own deleted (as the index read them), and the
// live credentials of its members revoked. Its namespaces and service
// accounts stay: others may use them.
func PruneInCluster(team string, st *State, now time.Time) *InCluster {
	r := &Resolved{File: &File{TeamAccess: TeamAccess{Metadata: Metadata{Name: team}}}}
	p := &InCluster{Resolved: r, State: st, Revocations: r.Removed(st.Records, now)}
	for _, ref := range Owned(team, st.Index) {
		p.Objects = append(p.Objects, ObjectChange{Action: "delete", Ref: ref})
	}
	return p
}

// CheckAuthority refuses what p would give that the person it is done for
// could not give themselves: the namespaces and service accounts it makes,
// and the roles and bindings it creates or updates (each as RBAC judges
// its writer: escalate or every rule of a role, bind or every rule of the
// role a binding binds, where it applies). What p takes away needs no
// authority. An error from the API server is returned as it is: callers
// refuse.
func (p *InCluster) CheckAuthority(ctx context.Context, a *privilege.Authority) error {
	var needs []verify.Permission
	for _, ns := range p.Namespaces {
		needs = append(needs, verify.Permission{Verb: "create", Resource: "namespaces", Name: ns})
	}
	for _, obj := range p.ServiceAccounts {
		sa := obj.(*corev1.ServiceAccount)
		needs = append(needs, verify.Permission{Verb: "create", Resource: "serviceaccounts", Namespace: sa.Namespace, Name: sa.Name})
	}
	var objs []privilege.Object
	for _, ch := range p.Objects {
		if ch.Object != nil {
			objs = append(objs, privilege.Object{Obj: ch.Object, Rules: p.Resolved.rulesOf(ch.Object)})
		}
	}
	return a.Check(ctx, needs, objs)
}

// OnlyRemovals is p without what gives access: the deletes of roles and
// bindings and the revocations alone, which are carried out even when the
// rest is refused.
func (p *InCluster) OnlyRemovals() *InCluster {
	out := *p
	out.Namespaces, out.ServiceAccounts, out.Objects = nil, nil, nil
	for _, ch := range p.Objects {
		if ch.Action == "delete" {
			out.Objects = append(out.Objects, ch)
		}
	}
	return &out
}

// PendingUsers are the users still without a live credential, as
// resolved.
func (p *InCluster) PendingUsers() []Member {
	pending := map[string]bool{}
	for _, name := range p.Pending {
		pending[name] = true
	}
	var out []Member
	for _, m := range p.Resolved.Users {
		if pending[m.Name] {
			out = append(out, m)
		}
	}
	return out
}

// Members counts the team's members.
func (p *InCluster) Members() int { return len(p.Resolved.Users) + len(p.Resolved.ServiceAccounts) }

// ApplyInCluster carries p out: namespaces and service accounts first,
// then the roles and bindings (deletes only of what was read, as apply's),
// then the revocations (marked in the records, tokens left to expire); by
// names who did it in the records.
func ApplyInCluster(ctx context.Context, client kubernetes.Interface, recordsNamespace, by string, p *InCluster) (*Outcome, error) {
	// In the cluster, kubeaccess may not read Secrets: a removed service
	// account's tokens lose the team's access with its bindings, and end
	// when they expire (apply -f and revoke delete their Secret).
	a := &Applier{Client: client, RecordsNamespace: recordsNamespace, By: by, KeepTokens: true}
	out := &Outcome{}
	team := p.Resolved.Team()
	if len(p.Namespaces) > 0 {
		if err := a.createNamespaces(ctx, team, p.Namespaces); err != nil {
			return out, err
		}
	}
	for _, obj := range p.ServiceAccounts {
		// Made when missing; one that exists is bound as it is.
		sa := obj.(*corev1.ServiceAccount)
		_, err := client.CoreV1().ServiceAccounts(sa.Namespace).Create(ctx, sa, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return out, fmt.Errorf("creating the team's service account %s/%s: %w", sa.Namespace, sa.Name, err)
		}
	}
	if err := a.applyObjects(ctx, p.Objects, p.State.Index, out); err != nil {
		return out, err
	}
	return out, a.revoke(ctx, p.Revocations, out)
}
