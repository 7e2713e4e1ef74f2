package team

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/kubeaccess/kubeaccess/internal/privilege"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// Resolved is a valid team file read against the cluster: each role's
// rules, and what each member would hold.
type Resolved struct {
	File *File
	// Rules are the rules of each role, resolved through discovery or read
	// from the existing role they name.
	Rules           map[string][]rbacv1.PolicyRule
	Users           []Member
	ServiceAccounts []Member
	// Ended are the members left out because their until: has passed
	// (At).
	Ended []string

	index *rbac.Index
}

// Member is a user or service account of the file, as issued and bound.
type Member struct {
	// Name is the user's name, or the service account's NAMESPACE/NAME.
	Name string
	// Namespace is a service account's, or the namespace a user's
	// kubeconfig context starts in: that of their first namespaced access.
	Namespace string
	// ServiceAccount is the service account's name, "" for a user.
	ServiceAccount string
	Groups         []string
	Lifetime       time.Duration
	// Grants are what the file's bindings give the member, which the
	// privilege check counts as held.
	Grants []privilege.Grant
	// Access are the file's access entries that apply to the member.
	Access []Access
	// Until, when set, is when the member's access ends by itself.
	Until time.Time
}

// Team is the file's team name.
func (r *Resolved) Team() string { return r.File.Metadata.Name }

// Resolve reads a valid file against the cluster: resources through
// discovery (with suggestions, as grant does), existing roles from index,
// and refuses any access that would give escalation-grade permissions.
// Every problem is reported, with its line.
//
// Problems Validate found are passed in, so that a file's every error,
// whether the cluster is needed to see it or not, is reported at once.
func Resolve(f *File, catalog *rbac.Catalog, index *rbac.Index, found error) (*Resolved, error) {
	p := &Problems{Path: f.Path}
	var known *Problems
	if errors.As(found, &known) {
		p.List = append(p.List, known.List...)
	} else if found != nil {
		return nil, found
	}
	r := &Resolved{File: f, Rules: map[string][]rbacv1.PolicyRule{}, index: index}
	for _, name := range sortedKeys(f.Spec.Roles) {
		r.resolveRole(p, catalog, index, name, f.Spec.Roles[name])
	}
	for _, g := range sortedKeys(f.Spec.Groups) {
		for i, a := range f.Spec.Groups[g] {
			r.checkAccess(p, a, fmt.Sprintf("group %q", g), "spec", "groups", g, i)
		}
	}
	for i, sa := range f.Spec.ServiceAccounts {
		for j, a := range sa.Access {
			r.checkAccess(p, a, fmt.Sprintf("service account %q", sa.Name), "spec", "serviceAccounts", i, "access", j)
		}
	}
	if err := p.sorted().err(); err != nil {
		return nil, err
	}
	r.members()
	return r, nil
}

func (r *Resolved) resolveRole(p *Problems, catalog *rbac.Catalog, index *rbac.Index, name string, role Role) {
	switch {
	case role.ClusterRole != "":
		ref := rbac.Ref{Kind: "ClusterRole", Name: role.ClusterRole}
		rules, ok := index.Roles[ref]
		if !ok {
			p.add(r.File.Line("spec", "roles", name, "clusterRole"), "role %q: ClusterRole %q does not exist", name, role.ClusterRole)
		}
		r.Rules[name] = rules
	case role.Role != "":
		// Existing Roles are per namespace: checkAccess reads each.
	default:
		var rules []rbacv1.PolicyRule
		for i, rule := range role.Rules {
			ok := true
			for j, res := range rule.Resources {
				if _, err := catalog.Resolve(res); err != nil {
					p.add(r.File.Line("spec", "roles", name, "rules", i, "resources", j), "role %q: %v", name, err)
					ok = false
				}
			}
			if !ok {
				continue
			}
			resolved, err := catalog.Rules(rule.Verbs, rule.Resources)
			if err != nil {
				p.add(r.File.Line("spec", "roles", name, "rules", i), "role %q: %v", name, err)
				continue
			}
			rules = append(rules, resolved...)
		}
		r.Rules[name] = rules
	}
}

// checkAccess refuses an existing Role missing where it is bound, and an
// access that would give escalation-grade permissions, whatever its role
// is called.
func (r *Resolved) checkAccess(p *Problems, a Access, who string, at ...any) {
	if _, ok := r.File.Spec.Roles[a.Role]; !ok {
		return // Validate reports it
	}
	var grants []privilege.Grant
	for _, g := range r.grants(a) {
		if g.Rules == nil && r.File.Spec.Roles[a.Role].Role != "" {
			p.add(r.File.Line(append(at, "role")...), "%s: role %q: Role %q does not exist in namespace %q", who, a.Role, r.File.Spec.Roles[a.Role].Role, g.Namespace)
			continue
		}
		grants = append(grants, g)
	}
	if findings := (privilege.Held{}).Findings(grants...); len(findings) > 0 {
		first := findings[0]
		p.add(r.File.Line(append(at, "role")...), "%s: role %q would give escalation-grade permissions, which kubeaccess does not hand out: %s (%s)%s",
			who, a.Role, first.Entry.ID, first.Entry.Reason, others(findings[1:]))
	}
}

// others names the findings after the first.
func others(findings []privilege.Finding) string {
	if len(findings) == 0 {
		return ""
	}
	ids := make([]string, len(findings))
	for i, f := range findings {
		ids[i] = f.Entry.ID
	}
	return ", and " + strings.Join(ids, ", ")
}

// grants are what an access gives, where: one per namespace, or one
// cluster-wide.
func (r *Resolved) grants(a Access) []privilege.Grant {
	role := r.File.Spec.Roles[a.Role]
	if a.ClusterWide {
		return []privilege.Grant{{Rules: r.Rules[a.Role], Via: fmt.Sprintf("role %q of team %s, cluster-wide", a.Role, r.Team())}}
	}
	out := make([]privilege.Grant, 0, len(a.Namespaces))
	for _, ns := range a.Namespaces {
		rules := r.Rules[a.Role]
		if role.Role != "" {
			rules = r.index.Roles[rbac.Ref{Kind: "Role", Namespace: ns, Name: role.Role}]
		}
		out = append(out, privilege.Grant{Namespace: ns, Rules: rules, Via: fmt.Sprintf("role %q of team %s in namespace %s", a.Role, r.Team(), ns)})
	}
	return out
}

// members works out each user's and service account's access, lifetime
// and grants.
func (r *Resolved) members() {
	s := r.File.Spec
	ttl := s.TTL.Duration
	if ttl == 0 {
		ttl = DefaultTTL
	}
	for _, u := range s.Users {
		m := Member{Name: u.Name, Groups: slices.Clone(u.Groups), Lifetime: u.TTL.Duration, Namespace: "default", Until: u.Until.Time}
		if m.Lifetime == 0 {
			m.Lifetime = ttl
		}
		for _, g := range u.Groups {
			m.Access = append(m.Access, s.Groups[g]...)
		}
		r.Users = append(r.Users, r.withGrants(m))
	}
	for _, sa := range s.ServiceAccounts {
		ns, name, _ := strings.Cut(sa.Name, "/")
		m := Member{Name: sa.Name, Namespace: ns, ServiceAccount: name, Lifetime: sa.Duration.Duration, Access: sa.Access, Until: sa.Until.Time}
		if m.Lifetime == 0 {
			m.Lifetime = DefaultTokenDuration
		}
		r.ServiceAccounts = append(r.ServiceAccounts, r.withGrants(m))
	}
}

func (r *Resolved) withGrants(m Member) Member {
	first := true
	for _, a := range m.Access {
		for _, ns := range a.Namespaces {
			if first && m.ServiceAccount == "" {
				m.Namespace, first = ns, false
			}
		}
		m.Grants = append(m.Grants, r.grants(a)...)
	}
	return m
}
