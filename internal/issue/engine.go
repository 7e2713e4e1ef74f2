package issue

import (
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/privilege"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// Engine executes plans against one cluster. Any number of goroutines may
// call Execute at once: they share the client (and its rate limiter), and
// what the engine learns once for all of them (who issues, what they may
// do, the bindings in place).
type Engine struct {
	client    kubernetes.Interface
	discovery discovery.CachedDiscoveryInterface
	cluster   kubeconfig.Cluster

	mu         sync.Mutex
	issuer     *memo[*verify.Identity]
	index      *memo[*rbac.Index]
	catalog    *memo[*rbac.Catalog]
	lacking    map[string]*memo[[]verify.Permission]
	namespaces map[string]*memo[bool]
	// recordsNamespace holds that a records namespace exists, once seen.
	recordsNamespace map[string]*memo[bool]
	accounts         map[string]*memo[[]privilege.Account]
	// accountNames are the service accounts listed in a namespace.
	accountNames map[string]*memo[[]string]
	powerful     map[string]*memo[[]privilege.Account]
	// asker answers the privilege reviews: privilege.Rules, or
	// SubjectAccessReviews after FullReview.
	asker privilege.Asker
	// parent, for an engine made by Fresh, answers what the issuer may do.
	parent *Engine
}

// base is the engine that keeps what is shared by its fresh views.
func (e *Engine) base() *Engine {
	if e.parent != nil {
		return e.parent
	}
	return e
}

// New returns an Engine that issues with client, resolves resources
// through discovery, and writes kubeconfigs for cluster.
func New(client kubernetes.Interface, disc discovery.CachedDiscoveryInterface, cluster kubeconfig.Cluster) *Engine {
	e := &Engine{
		client: client, discovery: disc, cluster: cluster,
		issuer: &memo[*verify.Identity]{}, index: &memo[*rbac.Index]{}, catalog: &memo[*rbac.Catalog]{},
		lacking: map[string]*memo[[]verify.Permission]{}, namespaces: map[string]*memo[bool]{}, recordsNamespace: map[string]*memo[bool]{},
		accounts: map[string]*memo[[]privilege.Account]{}, powerful: map[string]*memo[[]privilege.Account]{},
		accountNames: map[string]*memo[[]string]{},
	}
	e.asker = &privilege.Rules{Client: client, Index: e.readIndex}
	return e
}

// FullReview makes the engine ask one SubjectAccessReview for every
// question of its privilege reviews, as privilege.Rules does only where
// the API server's list of an identity's rules is not the whole answer:
// the same answers, at the full cost, for comparison.
func (e *Engine) FullReview() {
	e.asker = privilege.SubjectAccessReviews{Client: e.client}
}

// Reviews says how the engine's privilege reviews were answered: "" when
// by rules reviews where they are the whole answer, else why every
// question went to a SubjectAccessReview.
func (e *Engine) Reviews() string {
	switch a := e.asker.(type) {
	case *privilege.Rules:
		return a.Unusable()
	default:
		return "--full-privilege-review"
	}
}

// Fresh returns an engine for the same cluster that shares what does not
// decide about anyone else (who issues, what it may do itself, the API's
// resources) and reads everything else anew: for a long-running caller
// (kubeaccess serve) whose every decision must see the roles, bindings and
// service accounts as they are now.
func (e *Engine) Fresh() *Engine {
	f := New(e.client, e.discovery, e.cluster)
	f.issuer, f.catalog = e.issuer, e.catalog
	f.parent = e.base()
	if _, full := e.asker.(privilege.SubjectAccessReviews); full {
		f.FullReview()
	} else if rules, ok := f.base().asker.(*privilege.Rules); ok {
		// Whether rules reviews are usable at all (impersonation allowed,
		// no webhook) holds for the cluster, not for one decision.
		f.asker.(*privilege.Rules).Of = rules
	}
	return f
}

// Client is the engine's client.
func (e *Engine) Client() kubernetes.Interface { return e.client }

// Discovery is the engine's API discovery.
func (e *Engine) Discovery() discovery.CachedDiscoveryInterface { return e.discovery }

// Execution is one Execute of a plan: what its source works with.
type Execution struct {
	Engine *Engine
	Plan   *Plan
	// Client is the engine's client.
	Client kubernetes.Interface
	// Issuer is who issues, as the API server sees them; nil when it
	// cannot say.
	Issuer *verify.Identity
	// issuance is the plan's source, prepared.
	issuance Issuance
}

// Emit sends an event to the plan's Events.
func (x *Execution) Emit(kind EventKind, format string, args ...any) {
	if x.Plan.Events != nil {
		x.Plan.Events(Event{Kind: kind, Subject: x.Plan.Subject.User, Message: fmt.Sprintf(format, args...)})
	}
}

// Event is progress, a warning or a note from an Execute.
type Event struct {
	Kind    EventKind
	Subject string
	Message string
}

// EventKind tells progress from what a person should read.
type EventKind int

// The kinds of event.
const (
	Progress EventKind = iota
	Warning
	Note
)

// Result is what an Execute issued, or in a dry run would create.
type Result struct {
	Subject    Subject
	Credential *Credential
	// Changes are the objects applied, as the server returned them.
	Changes []rbac.Change
	// Access is the access bound, resolved; nil when none.
	Access *Access
	// Entry is the kubeconfig entry of the credential; Kubeconfig the
	// file it was written to ("" when the plan had no destination).
	Entry      kubeconfig.Entry
	Kubeconfig string
	// Record is where the record is kept ("" when none), RecordID the
	// record's ID.
	Record   string
	RecordID string
	// AccessUntil is when the access ends by itself (Plan.AccessUntil).
	AccessUntil *time.Time
	Verified    Verification
	IssuedBy    string
	// Objects are what a dry run would create (client), or what the
	// server accepted without persisting (server).
	Objects []runtime.Object
}

// memo holds a value worked out once, shared by concurrent callers. An
// error is not kept: the next caller tries again.
type memo[T any] struct {
	mu   sync.Mutex
	done bool
	v    T
}

func (m *memo[T]) get(f func() (T, error)) (T, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done {
		return m.v, nil
	}
	v, err := f()
	if err != nil {
		return v, err
	}
	m.v, m.done = v, true
	return v, nil
}

// reset forgets the value.
func (m *memo[T]) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	var zero T
	m.v, m.done = zero, false
}

// keyed returns the memo of key in m, made on first use.
func keyed[T any](e *Engine, m map[string]*memo[T], key string) *memo[T] {
	e.mu.Lock()
	defer e.mu.Unlock()
	if m[key] == nil {
		m[key] = &memo[T]{}
	}
	return m[key]
}
