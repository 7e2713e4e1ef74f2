package rbac

import (
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

func TestRuleAllows(t *testing.T) {
	rule := func(verbs, groups, resources, names, urls []string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{Verbs: verbs, APIGroups: groups, Resources: resources, ResourceNames: names, NonResourceURLs: urls}
	}
	s := func(v ...string) []string { return v }
	for name, tc := range map[string]struct {
		rule rbacv1.PolicyRule
		req  Request
		want bool
	}{
		"exact":                    {rule(s("get"), s(""), s("pods"), nil, nil), Request{Verb: "get", Resource: "pods", Namespace: "a"}, true},
		"other verb":               {rule(s("get"), s(""), s("pods"), nil, nil), Request{Verb: "list", Resource: "pods"}, false},
		"verb wildcard":            {rule(s("*"), s(""), s("pods"), nil, nil), Request{Verb: "escalate", Resource: "pods"}, true},
		"asking for verb *":        {rule(s("get"), s(""), s("pods"), nil, nil), Request{Verb: "*", Resource: "pods"}, false},
		"other group":              {rule(s("get"), s("apps"), s("pods"), nil, nil), Request{Verb: "get", Resource: "pods"}, false},
		"group wildcard":           {rule(s("get"), s("*"), s("deployments"), nil, nil), Request{Verb: "get", Group: "apps", Resource: "deployments"}, true},
		"subresource needs naming": {rule(s("get"), s(""), s("pods"), nil, nil), Request{Verb: "get", Resource: "pods", Subresource: "log"}, false},
		"subresource":              {rule(s("get"), s(""), s("pods/log"), nil, nil), Request{Verb: "get", Resource: "pods", Subresource: "log"}, true},
		"any resource's sub":       {rule(s("get"), s(""), s("*/status"), nil, nil), Request{Verb: "get", Resource: "nodes", Subresource: "status"}, true},
		"*/sub is not the parent":  {rule(s("get"), s(""), s("*/status"), nil, nil), Request{Verb: "get", Resource: "nodes"}, false},
		"res/* matches nothing":    {rule(s("get"), s(""), s("pods/*"), nil, nil), Request{Verb: "get", Resource: "pods", Subresource: "log"}, false},
		"resource wildcard":        {rule(s("get"), s(""), s("*"), nil, nil), Request{Verb: "get", Resource: "pods", Subresource: "exec"}, true},
		"name listed":              {rule(s("get"), s(""), s("secrets"), s("a", "b"), nil), Request{Verb: "get", Resource: "secrets", Name: "b"}, true},
		"name not listed":          {rule(s("get"), s(""), s("secrets"), s("a"), nil), Request{Verb: "get", Resource: "secrets", Name: "c"}, false},
		"no name, names listed":    {rule(s("list"), s(""), s("secrets"), s("a"), nil), Request{Verb: "list", Resource: "secrets"}, false},
		"url exact":                {rule(s("get"), nil, nil, nil, s("/healthz")), Request{Verb: "get", Path: "/healthz"}, true},
		"url prefix":               {rule(s("get"), nil, nil, nil, s("/api/*")), Request{Verb: "get", Path: "/api/v1"}, true},
		"url prefix, bare":         {rule(s("get"), nil, nil, nil, s("/api/*")), Request{Verb: "get", Path: "/api"}, false},
		"url wildcard":             {rule(s("get"), nil, nil, nil, s("*")), Request{Verb: "get", Path: "/metrics"}, true},
		"url rule, resource asked": {rule(s("get"), nil, nil, nil, s("*")), Request{Verb: "get", Resource: "pods"}, false},
		"resource rule, url asked": {rule(s("get"), s("*"), s("*"), nil, nil), Request{Verb: "get", Path: "/healthz"}, false},
	} {
		if got := RuleAllows(tc.rule, tc.req); got != tc.want {
			t.Errorf("%s: RuleAllows = %v, want %v", name, got, tc.want)
		}
	}
}

func TestDecide(t *testing.T) {
	pods := []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}}
	urls := []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}}
	ix := &Index{Roles: map[Ref][]rbacv1.PolicyRule{
		{Kind: "ClusterRole", Name: "pods"}:           pods,
		{Kind: "ClusterRole", Name: "urls"}:           urls,
		{Kind: "Role", Namespace: "a", Name: "local"}: pods,
	}}
	bind := func(kind, ns, name string, roleKind, role string, subjects ...rbacv1.Subject) {
		ix.Bindings = append(ix.Bindings, Binding{Ref: Ref{Kind: kind, Namespace: ns, Name: name}, RoleRef: rbacv1.RoleRef{Kind: roleKind, Name: role}, Subjects: subjects})
	}
	user := func(n string) rbacv1.Subject { return rbacv1.Subject{Kind: rbacv1.UserKind, Name: n} }
	group := func(n string) rbacv1.Subject { return rbacv1.Subject{Kind: rbacv1.GroupKind, Name: n} }
	sa := func(ns, n string) rbacv1.Subject {
		return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: n}
	}
	bind("ClusterRoleBinding", "", "everywhere", "ClusterRole", "pods", group("readers"))
	bind("RoleBinding", "a", "in-a", "ClusterRole", "pods", user("dave"))
	bind("RoleBinding", "a", "local", "Role", "local", sa("", "bot"))
	bind("RoleBinding", "b", "missing-role", "ClusterRole", "nothing-by-this-name", user("dave"))
	bind("ClusterRoleBinding", "", "urls", "ClusterRole", "urls", group("system:authenticated"))
	bind("RoleBinding", "a", "urls-in-ns", "ClusterRole", "urls", user("erin"))
	getPods := func(ns string) Request { return Request{Verb: "get", Resource: "pods", Namespace: ns} }
	for name, tc := range map[string]struct {
		user    User
		req     Request
		want    bool
		binding string
	}{
		"through a group, anywhere":       {User{Name: "x", Groups: []string{"readers"}}, getPods("z"), true, "everywhere"},
		"through a group, cluster-wide":   {User{Name: "x", Groups: []string{"readers"}}, getPods(""), true, "everywhere"},
		"rolebinding in its namespace":    {User{Name: "dave"}, getPods("a"), true, "in-a"},
		"rolebinding elsewhere":           {User{Name: "dave"}, getPods("c"), false, ""},
		"rolebinding, all namespaces":     {User{Name: "dave"}, getPods(""), false, ""},
		"missing role":                    {User{Name: "dave"}, getPods("b"), false, ""},
		"SA defaults to the binding's ns": {ServiceAccountUser("a", "bot"), getPods("a"), true, "local"},
		"SA of another namespace":         {ServiceAccountUser("b", "bot"), getPods("a"), false, ""},
		"url through authenticated":       {User{Name: "y", Groups: []string{"system:authenticated"}}, Request{Verb: "get", Path: "/healthz"}, true, "urls"},
		"url through a rolebinding":       {User{Name: "erin"}, Request{Verb: "get", Path: "/healthz"}, false, ""},
	} {
		d := ix.Decide(tc.user, tc.req)
		if d.Allowed != tc.want || tc.want && (len(d.Reasons) == 0 || d.Reasons[0].Binding.Name != tc.binding) {
			t.Errorf("%s: %+v, want allowed=%v through %q", name, d, tc.want, tc.binding)
		}
	}
	if d := ix.Decide(User{Name: "root", Groups: []string{"system:masters"}}, Request{Verb: "delete", Resource: "nodes"}); !d.Allowed || d.Outside == "" {
		t.Errorf("system:masters: %+v, want allowed, decided outside RBAC", d)
	}
	if d := ix.Decide(User{Name: "system:node:n1", Groups: []string{"system:nodes"}}, getPods("a")); d.Allowed || d.Outside == "" {
		t.Errorf("a node: %+v, want not allowed by RBAC, and the Node authorizer named", d)
	}
}

func TestBeyond(t *testing.T) {
	secrets := []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"secrets"}}}
	pods := []rbacv1.PolicyRule{{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}}}
	discovery := []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/api"}}}
	ix := &Index{Roles: map[Ref][]rbacv1.PolicyRule{
		{Kind: "ClusterRole", Name: "secrets"}:          secrets,
		{Kind: "ClusterRole", Name: "pods"}:             pods,
		{Kind: "ClusterRole", Name: "system:discovery"}: discovery,
	}}
	add := func(kind, ns, name, role string, labels map[string]string, s rbacv1.Subject) {
		ix.Bindings = append(ix.Bindings, Binding{Ref: Ref{Kind: kind, Namespace: ns, Name: name}, Labels: labels, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: role}, Subjects: []rbacv1.Subject{s}})
	}
	add("RoleBinding", "dev", "team-secrets", "secrets", nil, rbacv1.Subject{Kind: rbacv1.GroupKind, Name: "dev"})
	add("RoleBinding", "dev", "kubeaccess:user:dave", "pods", nil, rbacv1.Subject{Kind: rbacv1.UserKind, Name: "dave"})
	add("ClusterRoleBinding", "", "everyone-pods", "pods", nil, rbacv1.Subject{Kind: rbacv1.GroupKind, Name: "dev"})
	add("ClusterRoleBinding", "", "system:discovery", "system:discovery", map[string]string{BootstrapLabel: "rbac-defaults"}, rbacv1.Subject{Kind: rbacv1.GroupKind, Name: "system:authenticated"})
	dave := User{Name: "dave", Groups: []string{"dev", "system:authenticated"}}
	own := []Ref{{Kind: "RoleBinding", Namespace: "dev", Name: "kubeaccess:user:dave"}}
	names := func(rs []Reason) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Binding.Name)
		}
		return out
	}
	if got := names(ix.Beyond(dave, "dev", pods, own)); !slices.Equal(got, []string{"team-secrets", "everyone-pods"}) {
		t.Errorf("beyond a pods grant in dev: %v; want the group's secrets and its cluster-wide pods, not the grant's own binding or bootstrap discovery", got)
	}
	if got := names(ix.Beyond(dave, "", pods, own)); !slices.Equal(got, []string{"team-secrets"}) {
		t.Errorf("beyond a cluster-wide pods grant: %v; want only the group's secrets", got)
	}
	if got := names(ix.Beyond(User{Name: "erin", Groups: []string{"system:authenticated"}}, "dev", pods, nil)); len(got) != 0 {
		t.Errorf("an ordinary user has %v beyond the grant; bootstrap bindings are not beyond", got)
	}
}

func TestBindingsNaming(t *testing.T) {
	ix := &Index{Bindings: []Binding{
		{Ref: Ref{Kind: "RoleBinding", Namespace: "ci", Name: "bot-local"}, Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "bot"}}},
		{Ref: Ref{Kind: "ClusterRoleBinding", Name: "bot-nowhere"}, Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "bot"}}},
		{Ref: Ref{Kind: "ClusterRoleBinding", Name: "bot-qualified"}, Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "ci", Name: "bot"}}},
		{Ref: Ref{Kind: "RoleBinding", Namespace: "other", Name: "bot-elsewhere"}, Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "bot"}}},
		{Ref: Ref{Kind: "ClusterRoleBinding", Name: "dev"}, Subjects: []rbacv1.Subject{{Kind: rbacv1.GroupKind, Name: "dev"}}},
	}}
	var got []string
	for _, b := range ix.BindingsNaming(ServiceAccountUser("ci", "bot")) {
		got = append(got, b.Ref.Name)
	}
	// A namespace-less service account in a RoleBinding is one of the
	// binding's namespace; in a ClusterRoleBinding it names nobody.
	if want := []string{"bot-local", "bot-qualified"}; !slices.Equal(got, want) {
		t.Errorf("bindings naming ci/bot: %v, want %v", got, want)
	}
	if got := ix.BindingsNaming(User{Name: "dave", Groups: []string{"dev"}}); len(got) != 1 || got[0].Ref.Name != "dev" {
		t.Errorf("bindings naming dave in dev: %+v", got)
	}
}

func TestSameResourceRules(t *testing.T) {
	pods := rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}
	podsNamed := rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}, ResourceNames: []string{"a"}}
	secrets := rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"secrets"}}
	healthz := rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}
	for _, tc := range []struct {
		a, b []rbacv1.PolicyRule
		want bool
	}{
		{nil, nil, true},
		{[]rbacv1.PolicyRule{pods, secrets}, []rbacv1.PolicyRule{secrets, pods}, true},
		{[]rbacv1.PolicyRule{pods, healthz}, []rbacv1.PolicyRule{pods}, true},
		{[]rbacv1.PolicyRule{pods}, []rbacv1.PolicyRule{pods, pods}, false},
		{[]rbacv1.PolicyRule{pods, pods}, []rbacv1.PolicyRule{pods, secrets}, false},
		{[]rbacv1.PolicyRule{pods}, []rbacv1.PolicyRule{podsNamed}, false},
		{[]rbacv1.PolicyRule{pods}, nil, false},
	} {
		if got := SameResourceRules(tc.a, tc.b); got != tc.want {
			t.Errorf("SameResourceRules(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
