package team

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/lifetime"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// Defaults of a team file.
const (
	// DefaultTTL is a certificate's lifetime when the file gives none.
	DefaultTTL = 24 * time.Hour
	// DefaultTokenDuration is a service account token's when it gives none.
	DefaultTokenDuration = time.Hour
	// minTokenDuration is the shortest token the TokenRequest API issues.
	minTokenDuration = 10 * time.Minute
	// DefaultInvitationExpiry is how long an invitation's link works when
	// the file does not say.
	DefaultInvitationExpiry = 72 * time.Hour
	// maxInvitationExpiry bounds it: a link is a secret in transit.
	maxInvitationExpiry = 30 * 24 * time.Hour
)

// Validate checks the file without I/O: its kind, names by the subject
// policy, lifetimes within maxTTL, and that every role and group it refers
// to is defined. Every problem is reported, with its line.
func (f *File) Validate(maxTTL time.Duration) error {
	p := &Problems{Path: f.Path}
	return f.validate(p, maxTTL)
}

// Check is Parse's problems, if any, and Validate's, together: a file
// whose values were read, if not all of them, is checked in full.
func (f *File) Check(parsed error, maxTTL time.Duration) error {
	p := &Problems{Path: f.Path}
	var known *Problems
	if errors.As(parsed, &known) {
		p.List = append(p.List, known.List...)
	} else if parsed != nil {
		return parsed
	}
	return f.validate(p, maxTTL)
}

func (f *File) validate(p *Problems, maxTTL time.Duration) error {
	if f.APIVersion != APIVersion || f.Kind != Kind {
		p.add(f.Line("kind"), "apiVersion %q, kind %q: want apiVersion %s, kind %s", f.APIVersion, f.Kind, APIVersion, Kind)
	}
	if errs := validation.IsDNS1123Label(f.Metadata.Name); len(errs) > 0 {
		p.add(f.Line("metadata", "name"), "metadata.name %q is not a valid team name: %s", f.Metadata.Name, errs[0])
	}
	s := f.Spec
	f.checkLifetime(p, "spec.ttl", s.TTL.Duration, maxTTL, csr.MinTTL, "spec", "ttl")
	if s.RenewBefore.Duration < 0 {
		p.add(f.Line("spec", "renewBefore"), "spec.renewBefore cannot be negative")
	}
	for _, name := range sortedKeys(s.Roles) {
		f.validateRole(p, name, s.Roles[name])
	}
	for _, name := range sortedKeys(s.Groups) {
		if err := (pki.SubjectPolicy{}).Check("x", []string{name}); err != nil {
			p.add(f.Line("spec", "groups", name), "group %q: %v", name, policyWords(err))
		}
		for i, a := range s.Groups[name] {
			f.validateAccess(p, a, "spec", "groups", name, i)
		}
	}
	f.validateUsers(p, maxTTL)
	f.validateServiceAccounts(p, maxTTL)
	f.validateInvitations(p)
	if r := s.Renewing; r != nil {
		if r.RenewBefore.Duration < 0 {
			p.add(f.Line("spec", "renewing", "renewBefore"), "spec.renewing.renewBefore cannot be negative")
		}
		if d := r.OfflineFor.Duration; d < 0 || d > 0 && d < csr.MinTTL {
			p.add(f.Line("spec", "renewing", "offlineFor"), "spec.renewing.offlineFor %s: a renewal identity lives at least the CSR API's %s", d, csr.MinTTL)
		}
	}
	return p.sorted().err()
}

// validateInvitations checks where links go: a Secret with a valid name,
// a webhook with an http(s) URL (which hosts the controller may post to is
// its own flag's to say), and a link lifetime within bounds.
func (f *File) validateInvitations(p *Problems) {
	inv := f.Spec.Invitations
	if inv == nil {
		return
	}
	if inv.Secret == nil && inv.Webhook == nil {
		p.add(f.Line("spec", "invitations"), "spec.invitations: say where the links go: secret (namespace and name), webhook (url), or both")
	}
	if s := inv.Secret; s != nil {
		if errs := validation.IsDNS1123Label(s.Namespace); len(errs) > 0 {
			p.add(f.Line("spec", "invitations", "secret", "namespace"), "spec.invitations.secret.namespace %q: %s", s.Namespace, errs[0])
		}
		if errs := validation.IsDNS1123Subdomain(s.Name); len(errs) > 0 {
			p.add(f.Line("spec", "invitations", "secret", "name"), "spec.invitations.secret.name %q: %s", s.Name, errs[0])
		}
	}
	if w := inv.Webhook; w != nil {
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			p.add(f.Line("spec", "invitations", "webhook", "url"), "spec.invitations.webhook.url %q is not an http(s) URL without credentials", w.URL)
		}
	}
	if d := inv.Expires.Duration; d < 0 || d > maxInvitationExpiry {
		p.add(f.Line("spec", "invitations", "expires"), "spec.invitations.expires %s: a link works for at most %s", d, lifetime.Format(maxInvitationExpiry))
	}
}

// InvitationExpiry is how long the team's links work.
func (inv *Invitations) InvitationExpiry() time.Duration {
	if inv.Expires.Duration > 0 {
		return inv.Expires.Duration
	}
	return DefaultInvitationExpiry
}

// sorted orders the problems by line.
func (p *Problems) sorted() *Problems {
	sort.SliceStable(p.List, func(i, j int) bool { return p.List[i].Line < p.List[j].Line })
	return p
}

// policyWords drops the subject policy's advice on a flag apply has not.
func policyWords(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "; pass --allow-privileged")
	return msg
}

func (f *File) checkLifetime(p *Problems, what string, d, maxTTL, min time.Duration, path ...any) {
	switch {
	case d == 0:
	case d < min:
		p.add(f.Line(path...), "%s %s is too short: at least %s", what, d, min)
	case maxTTL > 0 && d > maxTTL:
		p.add(f.Line(path...), "%s %s is longer than the maximum %s (--max-ttl): credentials that cannot be revoked should be short-lived", what, d, maxTTL)
	case d > csr.MaxTTL:
		p.add(f.Line(path...), "%s %s is longer than the CSR API carries (%s)", what, d, csr.MaxTTL)
	}
}

func (f *File) validateRole(p *Problems, name string, r Role) {
	at := []any{"spec", "roles", name}
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		p.add(f.Line(at...), "role name %q is not valid: %s", name, errs[0])
	}
	kinds := 0
	for _, set := range []bool{len(r.Rules) > 0, r.ClusterRole != "", r.Role != ""} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		p.add(f.Line(at...), "role %q must have exactly one of rules, clusterRole and role", name)
	}
	for _, existing := range []string{r.ClusterRole, r.Role} {
		if existing == "" {
			continue
		}
		if errs := content.IsPathSegmentName(existing); len(errs) > 0 {
			p.add(f.Line(at...), "role %q: %q is not a valid role name: %s", name, existing, errs[0])
		}
	}
	for i, rule := range r.Rules {
		ruleAt := append(slices.Clone(at), "rules", i)
		if len(rule.Verbs) == 0 || len(rule.Resources) == 0 {
			p.add(f.Line(ruleAt...), "role %q: a rule needs verbs and resources", name)
		}
		if err := rbac.ValidateVerbs(rule.Verbs); err != nil && len(rule.Verbs) > 0 {
			p.add(f.Line(append(ruleAt, "verbs")...), "role %q: %v", name, err)
		}
	}
}

// validateAccess checks one binding of a role: a role the file defines, in
// valid namespaces or across the cluster.
func (f *File) validateAccess(p *Problems, a Access, at ...any) {
	role, ok := f.Spec.Roles[a.Role]
	switch {
	case a.Role == "":
		p.add(f.Line(at...), "access needs a role")
	case !ok:
		p.add(f.Line(append(at, "role")...), "unknown role %q%s", a.Role, suggest(a.Role, sortedKeys(f.Spec.Roles)))
	}
	switch {
	case a.ClusterWide && len(a.Namespaces) > 0:
		p.add(f.Line(at...), "role %q: give namespaces or clusterWide, not both", a.Role)
	case !a.ClusterWide && len(a.Namespaces) == 0:
		p.add(f.Line(at...), "role %q: give the namespaces it applies in, or clusterWide: true", a.Role)
	case a.ClusterWide && ok && role.Role != "":
		p.add(f.Line(at...), "role %q binds the existing Role %q, which is namespaced and cannot be clusterWide", a.Role, role.Role)
	}
	seen := map[string]bool{}
	for i, ns := range a.Namespaces {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			p.add(f.Line(append(at, "namespaces", i)...), "namespace %q is not valid: %s", ns, errs[0])
		}
		if seen[ns] {
			p.add(f.Line(append(at, "namespaces", i)...), "namespace %q is listed twice", ns)
		}
		seen[ns] = true
	}
}

func (f *File) validateUsers(p *Problems, maxTTL time.Duration) {
	seen := map[string]bool{}
	for i, u := range f.Spec.Users {
		at := []any{"spec", "users", i}
		if err := (pki.SubjectPolicy{}).Check(u.Name, u.Groups); err != nil {
			p.add(f.Line(append(at, "name")...), "user %q: %v", u.Name, policyWords(err))
		}
		if seen[u.Name] {
			p.add(f.Line(append(at, "name")...), "user %q is listed twice", u.Name)
		}
		seen[u.Name] = true
		for j, g := range u.Groups {
			if _, ok := f.Spec.Groups[g]; !ok {
				p.add(f.Line(append(at, "groups", j)...), "user %q: unknown group %q%s", u.Name, g, suggest(g, sortedKeys(f.Spec.Groups)))
			}
		}
		f.checkLifetime(p, fmt.Sprintf("user %q: ttl", u.Name), u.TTL.Duration, maxTTL, csr.MinTTL, append(at, "ttl")...)
	}
}

func (f *File) validateServiceAccounts(p *Problems, maxTTL time.Duration) {
	seen := map[string]bool{}
	for i, sa := range f.Spec.ServiceAccounts {
		at := []any{"spec", "serviceAccounts", i}
		ns, name, ok := strings.Cut(sa.Name, "/")
		if !ok {
			p.add(f.Line(append(at, "name")...), "service account %q must be NAMESPACE/NAME", sa.Name)
		} else {
			if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
				p.add(f.Line(append(at, "name")...), "service account %q: namespace %q is not valid: %s", sa.Name, ns, errs[0])
			}
			if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
				p.add(f.Line(append(at, "name")...), "service account %q: name %q is not valid: %s", sa.Name, name, errs[0])
			}
		}
		if seen[sa.Name] {
			p.add(f.Line(append(at, "name")...), "service account %q is listed twice", sa.Name)
		}
		seen[sa.Name] = true
		f.checkLifetime(p, fmt.Sprintf("service account %q: duration", sa.Name), sa.Duration.Duration, maxTTL, minTokenDuration, append(at, "duration")...)
		for j, a := range sa.Access {
			f.validateAccess(p, a, append(at, "access", j)...)
		}
	}
}

// suggest offers the closest of known to a misspelt name.
func suggest(name string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if d := rbac.Distance(name, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
