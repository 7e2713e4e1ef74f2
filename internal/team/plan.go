package team

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

// State is what the cluster holds for a team: every role and binding
// (one read), the namespaces, and the team's records.
type State struct {
	Index      *rbac.Index
	Namespaces map[string]bool
	// ServiceAccountExists, when set, says whether a service account
	// exists (kubeaccess controller reads its informer); one it says is
	// missing is created.
	ServiceAccountExists func(namespace, name string) bool
	Records              []records.Record
	// Untrusted are the team's records that kubeaccess does not act on:
	// unreadable, disagreeing with themselves, or naming a bound Secret
	// that is not the team's.
	Untrusted []records.Untrusted
}

// ReadState reads the cluster's state for team, concurrently.
func ReadState(ctx context.Context, client kubernetes.Interface, recordsNamespace, team string) (*State, error) {
	var (
		st                       = &State{Namespaces: map[string]bool{}}
		wg                       sync.WaitGroup
		indexErr, nsErr, recsErr error
	)
	wg.Go(func() { st.Index, indexErr = rbac.ReadIndex(ctx, client) })
	wg.Go(func() {
		list, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			nsErr = fmt.Errorf("listing namespaces: %w", err)
			return
		}
		for _, ns := range list.Items {
			st.Namespaces[ns.Name] = true
		}
	})
	wg.Go(func() {
		st.Records, st.Untrusted, recsErr = records.Store{Client: client, Namespace: recordsNamespace}.ListTeam(ctx, team)
		st.keepTeams(team)
	})
	wg.Wait()
	if indexErr != nil {
		return nil, indexErr
	}
	if nsErr != nil {
		return nil, nsErr
	}
	return st, recsErr
}

// StateFrom is a team's state from what the caller has read already (a
// controller's informers): the roles and bindings, the namespaces, and
// the team's records as records.TeamRecords sorted them.
func StateFrom(team string, index *rbac.Index, namespaces []string, recs []records.Record, untrusted []records.Untrusted) *State {
	st := &State{Index: index, Namespaces: map[string]bool{}, Records: recs, Untrusted: untrusted}
	for _, ns := range namespaces {
		st.Namespaces[ns] = true
	}
	st.keepTeams(team)
	return st
}

// keepTeams sets apart the records that name a bound Secret kubeaccess
// does not give the team's accounts.
func (st *State) keepTeams(team string) {
	st.Records = slices.DeleteFunc(st.Records, func(r records.Record) bool {
		if why := checkBoundSecret(team, r); why != "" {
			st.Untrusted = append(st.Untrusted, records.Untrusted{Name: "kubeaccess-" + r.ID, Reason: why})
			return true
		}
		return false
	})
}

// Plan is what bringing the cluster to the file takes.
type Plan struct {
	Resolved *Resolved
	State    *State
	// Credentials are every member's, with what each needs.
	Credentials []Credential
	// Revocations are records of members the file no longer has.
	Revocations []records.Record
	// Namespaces are those to create.
	Namespaces []string
	Objects    []ObjectChange
}

// MakePlan compares the file with the cluster and the output directory.
func MakePlan(r *Resolved, st *State, dir string, now time.Time, force bool) (*Plan, error) {
	r = r.At(now)
	p := &Plan{Resolved: r, State: st, Credentials: r.Credentials(dir, st.Records, now, force), Revocations: r.Removed(st.Records, now)}
	bound := map[string]bool{}
	for _, c := range p.Credentials {
		if c.Refused == "" {
			bound[c.Name] = true
		}
	}
	var err error
	if p.Objects, err = p.diff(bound); err != nil {
		return nil, err
	}
	needed := map[string]bool{}
	for _, c := range p.Credentials {
		if c.ServiceAccount != "" && c.Action != "" {
			needed[c.Namespace] = true
		}
	}
	p.Namespaces = missingNamespaces(needed, p.Objects, st)
	return p, nil
}

// missingNamespaces are those of needed, and of the objects to create or
// update, that the cluster lacks, in order.
func missingNamespaces(needed map[string]bool, objects []ObjectChange, st *State) []string {
	for _, ch := range objects {
		if ch.Action != "delete" && ch.Ref.Namespace != "" {
			needed[ch.Ref.Namespace] = true
		}
	}
	var missing []string
	for _, ns := range sortedKeys(needed) {
		if !st.Namespaces[ns] {
			missing = append(missing, ns)
		}
	}
	return missing
}

// diff is the object changes that bind the members in bound.
func (p *Plan) diff(bound map[string]bool) ([]ObjectChange, error) {
	want := p.Resolved.Objects(func(name string) bool { return bound[name] })
	return DiffObjects(p.Resolved.Team(), want, p.State.Index)
}

// Change is one line of a plan, or of what was done.
type Change struct {
	// Action is issue, renew, revoke, create, update, delete or refuse.
	Action string `json:"action"`
	// Kind is User, ServiceAccount, Namespace, or the RBAC object's kind.
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Detail    string `json:"detail,omitempty"`
}

var signs = map[string]string{Issue: "+", "create": "+", Renew: "~", "update": "~", Revoke: "-", "delete": "-", "refuse": "!"}

// String is the change as the plan prints it.
func (c Change) String() string {
	name := c.Name
	if c.Namespace != "" && c.Kind != "ServiceAccount" {
		name = c.Namespace + "/" + c.Name
	}
	s := fmt.Sprintf("%s %-7s %s %s", signs[c.Action], c.Action, c.Kind, name)
	if c.Detail != "" {
		s += " (" + c.Detail + ")"
	}
	return s
}

// Changes lists the plan: credentials, then namespaces, then RBAC
// objects, then revocations.
func (p *Plan) Changes() []Change {
	var out []Change
	for _, c := range p.Credentials {
		switch {
		case c.Refused != "":
			out = append(out, credentialChange(c, "refuse", c.Refused))
		case c.Action != "":
			out = append(out, credentialChange(c, c.Action, c.describe()))
		}
	}
	for _, ns := range p.Namespaces {
		out = append(out, Change{Action: "create", Kind: "Namespace", Name: ns})
	}
	for _, o := range p.Objects {
		out = append(out, Change{Action: o.Action, Kind: o.Ref.Kind, Namespace: o.Ref.Namespace, Name: o.Ref.Name, Detail: o.Detail})
	}
	for _, rec := range p.Revocations {
		out = append(out, revocationChange(rec))
	}
	return out
}

// Empty reports whether the cluster and the output directory already
// match the file.
func (p *Plan) Empty() bool { return len(p.Changes()) == 0 }

func credentialChange(c Credential, action, detail string) Change {
	if c.ServiceAccount != "" {
		return Change{Action: action, Kind: "ServiceAccount", Namespace: c.Namespace, Name: c.Name, Detail: detail}
	}
	return Change{Action: action, Kind: "User", Name: c.Name, Detail: detail}
}

func revocationChange(rec records.Record) Change {
	detail := fmt.Sprintf("%s %s, removed from the file; its access is taken away now, and it authenticates until %s", rec.Kind, rec.ID, rec.NotAfter.Format(time.RFC3339))
	if rec.ServiceAccount != "" {
		ns, name, _ := strings.Cut(rec.ServiceAccount, "/")
		return Change{Action: Revoke, Kind: "ServiceAccount", Namespace: ns, Name: ns + "/" + name, Detail: detail}
	}
	return Change{Action: Revoke, Kind: "User", Name: rec.User, Detail: detail}
}

// describe says what is issued, and why.
func (c Credential) describe() string {
	what := fmt.Sprintf("certificate, %s", c.Lifetime)
	if len(c.Groups) > 0 {
		what = fmt.Sprintf("certificate, groups %s, %s", strings.Join(c.Groups, ","), c.Lifetime)
	}
	if c.ServiceAccount != "" {
		what = fmt.Sprintf("token, %s", c.Lifetime)
	}
	if !c.Until.IsZero() {
		what += ", access until " + c.Until.UTC().Format(time.RFC3339)
	}
	return what + "; " + c.Reason
}
