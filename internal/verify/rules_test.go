package verify

import (
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
)

func TestUncoveredBy(t *testing.T) {
	deploy := rbacv1.PolicyRule{Verbs: []string{"get", "create"}, APIGroups: []string{"apps"}, Resources: []string{"deployments"}}
	pods := rbacv1.PolicyRule{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}}
	held := func(rules ...authorizationv1.ResourceRule) authorizationv1.SubjectRulesReviewStatus {
		return authorizationv1.SubjectRulesReviewStatus{ResourceRules: rules}
	}
	tests := map[string]struct {
		status authorizationv1.SubjectRulesReviewStatus
		want   []rbacv1.PolicyRule
		expect []rbacv1.PolicyRule
	}{
		"exact rules are covered": {
			status: held(authorizationv1.ResourceRule{Verbs: []string{"get", "create"}, APIGroups: []string{"apps"}, Resources: []string{"deployments"}}),
			want:   []rbacv1.PolicyRule{deploy},
		},
		"wildcards cover": {
			status: held(authorizationv1.ResourceRule{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}),
			want:   []rbacv1.PolicyRule{deploy, pods},
		},
		"a missing verb is reported alone": {
			status: held(authorizationv1.ResourceRule{Verbs: []string{"get"}, APIGroups: []string{"apps"}, Resources: []string{"deployments"}}),
			want:   []rbacv1.PolicyRule{deploy},
			expect: []rbacv1.PolicyRule{{Verbs: []string{"create"}, APIGroups: []string{"apps"}, Resources: []string{"deployments"}}},
		},
		"a subresource needs its own rule": {
			status: held(authorizationv1.ResourceRule{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"pods"}}),
			want:   []rbacv1.PolicyRule{pods},
			expect: []rbacv1.PolicyRule{{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"pods/log"}}},
		},
		"a rule for named objects does not cover all of them": {
			status: held(authorizationv1.ResourceRule{Verbs: []string{"get", "create"}, APIGroups: []string{"apps"}, Resources: []string{"deployments"}, ResourceNames: []string{"web"}}),
			want:   []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{"apps"}, Resources: []string{"deployments"}}},
			expect: []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{"apps"}, Resources: []string{"deployments"}}},
		},
		"non-resource rules are not asked of a namespace": {
			status: held(),
			want:   []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}},
		},
		"nothing held covers nothing": {
			status: held(),
			want:   []rbacv1.PolicyRule{{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"pods"}}},
			expect: []rbacv1.PolicyRule{{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"pods"}}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := uncoveredBy(tc.status, tc.want)
			if !apiequality.Semantic.DeepEqual(got, tc.expect) {
				t.Errorf("uncovered = %+v, want %+v", got, tc.expect)
			}
		})
	}
}

func TestPermissionRuleIsCoveredLikeTheAccessReview(t *testing.T) {
	held := []rbacv1.PolicyRule{
		{Verbs: []string{"get", "create", "patch"}, APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"roles"}},
		{Verbs: []string{"update"}, APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests/approval"}},
		{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"namespaces"}, ResourceNames: []string{"dev"}},
	}
	status := authorizationv1.SubjectRulesReviewStatus{}
	for _, r := range held {
		status.ResourceRules = append(status.ResourceRules, authorizationv1.ResourceRule{Verbs: r.Verbs, APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames})
	}
	for p, want := range map[Permission]bool{
		{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "roles", Namespace: "dev"}:                       true,
		{Verb: "delete", Group: "rbac.authorization.k8s.io", Resource: "roles", Namespace: "dev"}:                       false,
		{Verb: "update", Group: "certificates.k8s.io", Resource: "certificatesigningrequests", Subresource: "approval"}: true,
		{Verb: "update", Group: "certificates.k8s.io", Resource: "certificatesigningrequests"}:                          false,
		{Verb: "get", Resource: "namespaces", Name: "dev"}:                                                              true,
		{Verb: "get", Resource: "namespaces", Name: "prod"}:                                                             false,
		{Verb: "get", Resource: "namespaces"}:                                                                           false,
	} {
		if got := len(uncoveredBy(status, []rbacv1.PolicyRule{p.Rule()})) == 0; got != want {
			t.Errorf("%s covered = %v, want %v", p, got, want)
		}
	}
}
