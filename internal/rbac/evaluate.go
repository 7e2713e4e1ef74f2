package rbac

import (
	"fmt"
	"iter"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/component-helpers/auth/rbac/validation"

	"github.com/kubeaccess/kubeaccess/internal/safe"
)

// User is who asks, with every group the API server puts them in
// (system:authenticated included for an authenticated user).
type User struct {
	Name   string
	Groups []string
}

// ServiceAccountUser is how the API server sees a service account's token.
func ServiceAccountUser(namespace, name string) User {
	return User{
		Name:   "system:serviceaccount:" + namespace + ":" + name,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}
}

// Request is one question to the authorizer: a resource request, or a
// non-resource URL when Path is set.
type Request struct {
	Verb, Group, Resource, Subresource, Name string
	// Namespace is "" for a cluster-scoped resource, or for a namespaced
	// one across all namespaces.
	Namespace string
	Path      string
}

// Reason is one rule that allows a request, and how the user holds it.
type Reason struct {
	Binding Ref
	Role    Ref
	Rule    rbacv1.PolicyRule
	// Subject is the binding's subject that names the user.
	Subject rbacv1.Subject
}

// Decision is RBAC's answer, with every rule that allows the request.
type Decision struct {
	Allowed bool
	Reasons []Reason
	// Outside says what may decide besides RBAC, where that is known:
	// members of system:masters are allowed everything before RBAC is
	// asked, and nodes are authorized by the Node authorizer too.
	Outside string
}

// Decide answers as kube-apiserver's RBAC authorizer does: the rules of
// every ClusterRoleBinding that names the user, then, for a request in a
// namespace, those of every RoleBinding there; a binding to a missing
// role gives nothing. The snapshot holds aggregated ClusterRoles with the
// rules the aggregation controller stored, which are the rules the API
// server uses too.
func (ix *Index) Decide(u User, r Request) Decision {
	var d Decision
	namespace := r.Namespace
	if r.Path != "" {
		namespace = "" // only ClusterRoleBindings give non-resource URLs
	}
	for b, subject := range ix.applying(u, namespace) {
		role := b.RoleOf()
		for _, rule := range ix.Roles[role] {
			if RuleAllows(rule, r) {
				d.Allowed = true
				d.Reasons = append(d.Reasons, Reason{Binding: b.Ref, Role: role, Rule: rule, Subject: subject})
			}
		}
	}
	switch {
	case slices.Contains(u.Groups, "system:masters"):
		d.Allowed, d.Outside = true, "system:masters is allowed everything by the API server, before RBAC is asked"
	case u.Node():
		d.Outside = "the Node authorizer also decides for nodes"
	}
	return d
}

// applying yields, in order, the bindings whose rules RBAC applies to u's
// requests in namespace ("" for requests across all namespaces, of
// cluster-scoped resources, or of non-resource URLs): each
// ClusterRoleBinding, and each RoleBinding in namespace, that names u,
// with its first subject that does.
func (ix *Index) applying(u User, namespace string) iter.Seq2[Binding, rbacv1.Subject] {
	return func(yield func(Binding, rbacv1.Subject) bool) {
		for _, b := range ix.Bindings {
			if b.Ref.Namespace != "" && b.Ref.Namespace != namespace {
				continue
			}
			i := slices.IndexFunc(b.Subjects, func(s rbacv1.Subject) bool { return appliesTo(u, s, b.Ref.Namespace) })
			if i >= 0 && !yield(b, b.Subjects[i]) {
				return
			}
		}
	}
}

// Node reports whether u is a node, which the Node authorizer decides for
// besides RBAC.
func (u User) Node() bool {
	return strings.HasPrefix(u.Name, "system:node:") && slices.Contains(u.Groups, "system:nodes")
}

// RulesFor are the rules RBAC gives u in namespace, as kube-apiserver's
// RBAC authorizer lists them for a SelfSubjectRulesReview: those of every
// ClusterRoleBinding that names u, then of every RoleBinding in namespace
// that does, a role bound twice counted twice. ok is false when a bound
// role is missing, which the API server reports as an evaluation error.
func (ix *Index) RulesFor(u User, namespace string) (rules []rbacv1.PolicyRule, ok bool) {
	for b := range ix.applying(u, namespace) {
		role, found := ix.Roles[b.RoleOf()]
		if !found {
			return nil, false
		}
		rules = append(rules, role...)
	}
	return rules, true
}

// SameResourceRules reports whether a and b hold the same resource rules
// (those naming resources), each as many times, in any order: whether a
// list of rules the API server gave is exactly the list RBAC gives.
// Rules for non-resource URLs are left out of both.
func SameResourceRules(a, b []rbacv1.PolicyRule) bool {
	count := map[string]int{}
	for _, r := range a {
		if len(r.Resources) > 0 {
			count[ruleKey(r)]++
		}
	}
	for _, r := range b {
		if len(r.Resources) == 0 {
			continue
		}
		k := ruleKey(r)
		if count[k] == 0 {
			return false
		}
		count[k]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}

// ruleKey is a resource rule's verbs, groups, resources and names, in
// their order: an empty list and none are the same.
func ruleKey(r rbacv1.PolicyRule) string {
	return strings.Join([]string{strings.Join(r.Verbs, "\x00"), strings.Join(r.APIGroups, "\x00"), strings.Join(r.Resources, "\x00"), strings.Join(r.ResourceNames, "\x00")}, "\x01")
}

// Named reports whether subject s of a binding in bindingNamespace ("" for
// a ClusterRoleBinding) names u, as the API server matches them.
func (u User) Named(s rbacv1.Subject, bindingNamespace string) bool {
	return appliesTo(u, s, bindingNamespace)
}

// BindingsNaming returns the bindings with a subject that names u.
func (ix *Index) BindingsNaming(u User) []Binding {
	var out []Binding
	for _, b := range ix.Bindings {
		if slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool { return appliesTo(u, s, b.Ref.Namespace) }) {
			out = append(out, b)
		}
	}
	return out
}

// appliesTo reports whether subject s of a binding in namespace names u;
// a service account without a namespace is one of the binding's namespace.
func appliesTo(u User, s rbacv1.Subject, namespace string) bool {
	switch s.Kind {
	case rbacv1.UserKind:
		return u.Name == s.Name
	case rbacv1.GroupKind:
		return slices.Contains(u.Groups, s.Name)
	case rbacv1.ServiceAccountKind:
		ns := namespace
		if s.Namespace != "" {
			ns = s.Namespace
		}
		return ns != "" && u.Name == "system:serviceaccount:"+ns+":"+s.Name
	}
	return false
}

// RuleAllows reports whether rule allows request r, with the API server's
// matching: "*" in verbs, groups, resources and URLs; "resource/sub" and
// "*/sub" for subresources; resourceNames restricting names; a URL ending
// in "*" as a prefix.
func RuleAllows(rule rbacv1.PolicyRule, r Request) bool {
	if !matches(rule.Verbs, r.Verb) {
		return false
	}
	if r.Path != "" {
		return slices.ContainsFunc(rule.NonResourceURLs, func(u string) bool {
			return u == "*" || u == r.Path || strings.HasSuffix(u, "*") && strings.HasPrefix(r.Path, strings.TrimRight(u, "*"))
		})
	}
	combined := r.Resource
	if r.Subresource != "" {
		combined += "/" + r.Subresource
	}
	return matches(rule.APIGroups, r.Group) &&
		slices.ContainsFunc(rule.Resources, func(res string) bool {
			return res == "*" || res == combined || r.Subresource != "" && res == "*/"+r.Subresource
		}) &&
		(len(rule.ResourceNames) == 0 || slices.Contains(rule.ResourceNames, r.Name))
}

// matches reports whether values hold "*" or v.
func matches(values []string, v string) bool {
	return slices.Contains(values, "*") || slices.Contains(values, v)
}

// ParseSubject reads who a question is about: "group:NAME" for a group
// alone, "system:serviceaccount:NS:NAME" for a service account, or a user
// name, in groups (those its certificate carries) and system:authenticated.
func ParseSubject(s string, groups []string) (User, error) {
	if g, ok := strings.CutPrefix(s, "group:"); ok {
		if g == "" || len(groups) > 0 {
			return User{}, fmt.Errorf("a group subject is group:NAME, and takes no --group")
		}
		return User{Groups: []string{g}}, nil
	}
	if rest, ok := strings.CutPrefix(s, "system:serviceaccount:"); ok {
		ns, name, ok := strings.Cut(rest, ":")
		if !ok || ns == "" || name == "" || len(groups) > 0 {
			return User{}, fmt.Errorf("a service account is system:serviceaccount:NAMESPACE:NAME, and takes no --group")
		}
		return ServiceAccountUser(ns, name), nil
	}
	if s == "" {
		return User{}, fmt.Errorf("name a user, group:NAME or system:serviceaccount:NAMESPACE:NAME")
	}
	return User{Name: s, Groups: append(slices.Clone(groups), "system:authenticated")}, nil
}

// Describe is one line for people: the binding, its role and the rule.
func (r Reason) Describe() string {
	rule := "verbs " + strings.Join(r.Rule.Verbs, ",")
	if len(r.Rule.NonResourceURLs) > 0 {
		rule += " on URLs " + strings.Join(r.Rule.NonResourceURLs, ",")
	} else {
		groups := make([]string, len(r.Rule.APIGroups))
		for i, g := range r.Rule.APIGroups {
			groups[i] = g
			if g == "" {
				groups[i] = `""`
			}
		}
		rule += " on " + strings.Join(r.Rule.Resources, ",") + " in groups " + strings.Join(groups, ",")
		if len(r.Rule.ResourceNames) > 0 {
			rule += " named " + strings.Join(r.Rule.ResourceNames, ",")
		}
	}
	return fmt.Sprintf("%s (%s) to %s %s: %s", r.Binding.Display(), r.Role.Display(), r.Subject.Kind, safe.Printable(r.Subject.Name), rule)
}

// Beyond lists what the bindings of u give beyond a grant of rules in
// namespace ("" cluster-wide): each rule of a binding that names u, but
// the bindings in skip (the grant's own) and the API server's bootstrap
// bindings (what every authenticated identity has), that the grant does
// not cover where the binding applies.
func (ix *Index) Beyond(u User, namespace string, rules []rbacv1.PolicyRule, skip []Ref) []Reason {
	var out []Reason
	for _, b := range ix.Bindings {
		if slices.Contains(skip, b.Ref) || b.Bootstrap() {
			continue
		}
		i := slices.IndexFunc(b.Subjects, func(s rbacv1.Subject) bool { return appliesTo(u, s, b.Ref.Namespace) })
		if i < 0 {
			continue
		}
		inScope := namespace == "" || b.Ref.Namespace == namespace
		role := b.RoleOf()
		for _, rule := range ix.Roles[role] {
			if covered, _ := validation.Covers(rules, []rbacv1.PolicyRule{rule}); inScope && covered {
				continue
			}
			out = append(out, Reason{Binding: b.Ref, Role: role, Rule: rule, Subject: b.Subjects[i]})
		}
	}
	return out
}

// ResolveRequest makes a question of a verb and a resource as people
// write it ("deployments", "deploy", "pods/log", "widgets.example.com"),
// found through discovery and refreshing a stale cache once; a resource
// starting with "/" is a non-resource URL.
func ResolveRequest(disco discovery.CachedDiscoveryInterface, verb, resource, name, namespace string) (Request, error) {
	if strings.HasPrefix(resource, "/") {
		return Request{Verb: verb, Path: resource}, nil
	}
	resolve := func() (GroupResource, error) {
		_, lists, err := disco.ServerGroupsAndResources()
		if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
			return GroupResource{}, fmt.Errorf("discovering the server's resources: %w", err)
		}
		return NewCatalog(lists).Resolve(resource)
	}
	gr, err := resolve()
	if err != nil && !disco.Fresh() {
		disco.Invalidate()
		gr, err = resolve()
	}
	if err != nil {
		return Request{}, err
	}
	res, sub, _ := strings.Cut(gr.Resource, "/")
	return Request{Verb: verb, Group: gr.Group, Resource: res, Subresource: sub, Name: name, Namespace: namespace}, nil
}
