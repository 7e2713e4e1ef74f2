package privilege

import (
	"slices"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestCheckAuthority(t *testing.T) {
	pods := []rbacv1.PolicyRule{{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "dev"},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "reader"}}
	createBindings := rbacv1.PolicyRule{Verbs: []string{"create"}, APIGroups: []string{rbacv1.GroupName}, Resources: []string{"rolebindings"}}
	bindReader := rbacv1.PolicyRule{Verbs: []string{"bind"}, APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles"}, ResourceNames: []string{"reader"}}
	for name, tc := range map[string]struct {
		held []rbacv1.PolicyRule
		urls bool     // the role also gives get /metrics
		want []string // in the error; none: allowed
	}{
		"bind on the role":              {held: []rbacv1.PolicyRule{createBindings, bindReader}},
		"holds every permission":        {held: append([]rbacv1.PolicyRule{createBindings}, pods...)},
		"lacks one permission, no bind": {held: []rbacv1.PolicyRule{createBindings, {Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}}}, want: []string{"may not bind clusterroles.rbac.authorization.k8s.io", "does not hold get pods/log in namespace dev; list pods/log in namespace dev"}},
		"may not create the binding":    {held: []rbacv1.PolicyRule{bindReader}, want: []string{"may not create RoleBinding dev/b"}},
		"nothing":                       {want: []string{"may not create RoleBinding dev/b", "may not create namespace dev"}},
		"lacks a non-resource URL":      {held: append([]rbacv1.PolicyRule{createBindings}, pods...), urls: true, want: []string{"does not hold get /metrics"}},
	} {
		t.Run(name, func(t *testing.T) {
			who := authenticationv1.UserInfo{Username: "ivy", Groups: []string{"system:authenticated"}}
			client := byUser(t, nil, map[string][]Grant{"ivy": {{Namespace: "dev", Rules: tc.held}}})
			createNS := ""
			if len(tc.held) == 0 {
				createNS = "dev"
			}
			rules := pods
			if tc.urls {
				rules = append(slices.Clone(pods), rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/metrics"}})
			}
			err := CheckAuthority(t.Context(), client, who, createNS, []Object{{Obj: binding, Rules: rules}})
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("allowed, want a refusal")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the refusal does not say %q:\n%v", w, err)
				}
			}
		})
	}
}
