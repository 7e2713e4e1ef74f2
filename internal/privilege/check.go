package privilege

import (
	"context"
	"fmt"
	"slices"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	rbacvalidation "k8s.io/component-helpers/auth/rbac/validation"

	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// Authenticated is the group the API server adds to every authenticated identity.
const Authenticated = "system:authenticated"

// Identity is who a credential authenticates as, with every group the API
// server will put it in.
type Identity struct {
	User   string
	Groups []string
}

// ForUser is the identity of a certificate for user in groups.
func ForUser(user string, groups []string) Identity {
	return Identity{User: user, Groups: withGroup(groups, Authenticated)}
}

// ForServiceAccount is the identity of a token of a service account.
func ForServiceAccount(namespace, name string) Identity {
	u := rbac.ServiceAccountUser(namespace, name)
	return Identity{User: u.Name, Groups: u.Groups}
}

// RBACUser is the identity as RBAC matches it against binding subjects.
func (id Identity) RBACUser() rbac.User { return rbac.User{Name: id.User, Groups: id.Groups} }

func withGroup(groups []string, g string) []string {
	if slices.Contains(groups, g) {
		return slices.Clone(groups)
	}
	return append(slices.Clone(groups), g)
}

// Grant is access about to be bound to the identity.
type Grant struct {
	// Namespace is where the rules apply; "" is cluster-wide.
	Namespace string
	Rules     []rbacv1.PolicyRule
	// Via names the role and binding, for messages.
	Via string
}

// covers reports whether the grant gives the request.
func (g Grant) covers(a authorizationv1.ResourceAttributes) bool {
	if g.Namespace != "" && g.Namespace != a.Namespace {
		return false
	}
	ok, _ := rbacvalidation.Covers(g.Rules, []rbacv1.PolicyRule{ruleOf(a)})
	return ok
}

// ruleOf is the rule that allows exactly the request a.
func ruleOf(a authorizationv1.ResourceAttributes) rbacv1.PolicyRule {
	return verify.PermissionOf(a).Rule()
}

// Finding is a catalogue entry the identity holds, or would hold.
type Finding struct {
	Entry Entry
	// Held are the requests that make it, one per part of Requires.
	Held []authorizationv1.ResourceAttributes
	// GrantedBy names the grant that gives a part, "" where the identity
	// holds it already.
	GrantedBy []string
}

// Existing reports whether the identity holds the whole entry already,
// without the grant.
func (f Finding) Existing() bool {
	return !slices.ContainsFunc(f.GrantedBy, func(s string) bool { return s != "" })
}

// reviewConcurrency bounds the access reviews in flight at once.
const reviewConcurrency = 32

// Held is what the API server says an identity may do of the catalogue.
type Held struct {
	allowed map[authorizationv1.ResourceAttributes]bool
}

// Review asks the API server, through asker, what id may do of the
// catalogue. An error means it could not tell: callers refuse unless told
// otherwise.
func Review(ctx context.Context, asker Asker, id Identity) (Held, error) {
	allowed, err := asker.Allowed(ctx, id, attributes(Catalogue))
	return Held{allowed: allowed}, err
}

// Findings are the catalogue entries the identity holds, or would hold
// once grants are bound.
func (h Held) Findings(grants ...Grant) []Finding {
	return evaluate(Catalogue, h.allowed, grants)
}

// Check is Review, then Findings.
func Check(ctx context.Context, asker Asker, id Identity, grants []Grant) ([]Finding, error) {
	held, err := Review(ctx, asker, id)
	if err != nil {
		return nil, err
	}
	return held.Findings(grants...), nil
}

// evaluate combines what the identity holds with what grants give.
func evaluate(catalogue []Entry, allowed map[authorizationv1.ResourceAttributes]bool, grants []Grant) []Finding {
	return walk(catalogue, func(any AnyOf) (authorizationv1.ResourceAttributes, string, bool) {
		return satisfy(any, allowed, grants)
	})
}

// walk returns the entries of catalogue whose every part held says is
// held, with the request and where it comes from.
func walk(catalogue []Entry, held func(AnyOf) (authorizationv1.ResourceAttributes, string, bool)) []Finding {
	var findings []Finding
	for _, e := range catalogue {
		f := Finding{Entry: e}
		for _, any := range e.Requires {
			a, by, ok := held(any)
			if !ok {
				break
			}
			f.Held, f.GrantedBy = append(f.Held, a), append(f.GrantedBy, by)
		}
		if len(f.Held) == len(e.Requires) {
			findings = append(findings, f)
		}
	}
	return findings
}

// satisfy finds an alternative that is held, preferring one held already.
func satisfy(any AnyOf, allowed map[authorizationv1.ResourceAttributes]bool, grants []Grant) (authorizationv1.ResourceAttributes, string, bool) {
	for _, a := range any {
		if allowed[a] {
			return a, "", true
		}
	}
	for _, a := range any {
		for _, g := range grants {
			if g.covers(a) {
				return a, g.Via, true
			}
		}
	}
	return authorizationv1.ResourceAttributes{}, "", false
}

// Describe reads a request like RBAC: `bind clusterroles.rbac.authorization.k8s.io in namespace kube-system`.
func Describe(a authorizationv1.ResourceAttributes) string {
	return verify.PermissionOf(a).String()
}

// String is one line per part: the request, and where it comes from.
func (f Finding) String() string {
	parts := make([]string, len(f.Held))
	for i, a := range f.Held {
		parts[i] = Describe(a)
		if f.GrantedBy[i] != "" {
			parts[i] += " (granted by " + f.GrantedBy[i] + ")"
		}
	}
	return fmt.Sprintf("%s: %s: %s", f.Entry.ID, strings.Join(parts, " and "), f.Entry.Reason)
}
