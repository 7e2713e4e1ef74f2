package rbac

import (
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// discovered is a small slice of what an API server lists, core group first.
var discovered = []*metav1.APIResourceList{
	{GroupVersion: "v1", APIResources: []metav1.APIResource{
		{Name: "pods", SingularName: "pod", ShortNames: []string{"po"}},
		{Name: "pods/log"},
		{Name: "services", SingularName: "service", ShortNames: []string{"svc"}},
		{Name: "events", SingularName: "event", ShortNames: []string{"ev"}},
	}},
	{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
		{Name: "deployments", SingularName: "deployment", ShortNames: []string{"deploy"}},
	}},
	{GroupVersion: "events.k8s.io/v1", APIResources: []metav1.APIResource{
		{Name: "events", SingularName: "event", ShortNames: []string{"ev"}},
	}},
}

func TestCatalogResolve(t *testing.T) {
	c := NewCatalog(discovered)
	tests := map[string]struct {
		value   string
		want    GroupResource
		wantErr string
	}{
		"plural":                 {value: "deployments", want: GroupResource{"apps", "deployments"}},
		"singular":               {value: "deployment", want: GroupResource{"apps", "deployments"}},
		"short name":             {value: "deploy", want: GroupResource{"apps", "deployments"}},
		"group-qualified":        {value: "deployments.apps", want: GroupResource{"apps", "deployments"}},
		"core first when in two": {value: "events", want: GroupResource{"", "events"}},
		"qualified picks group":  {value: "events.events.k8s.io", want: GroupResource{"events.k8s.io", "events"}},
		"subresource":            {value: "pods/log", want: GroupResource{"", "pods/log"}},
		"wildcard":               {value: "*", want: GroupResource{"*", "*"}},
		"typo suggests":          {value: "deploymnets", wantErr: `the server has no resource "deploymnets"; did you mean deployments?`},
		"unknown subresource":    {value: "pods/exec", wantErr: `the server has no resource "pods/exec"`},
		"wrong group":            {value: "deployments.batch", wantErr: `the server has no resource "deployments.batch"`},
		"nothing close":          {value: "zzzzzzzz", wantErr: `the server has no resource "zzzzzzzz" (see kubectl api-resources)`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := c.Resolve(tc.value)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want prefix %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Resolve(%q) = %v, %v; want %v", tc.value, got, err, tc.want)
			}
		})
	}
}

func TestCatalogRulesGroupByAPIGroup(t *testing.T) {
	rules, err := NewCatalog(discovered).Rules([]string{"get", "list"}, []string{"pods", "deployments", "svc", "po"})
	if err != nil {
		t.Fatal(err)
	}
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods", "services"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list"}},
	}
	if !equality.Semantic.DeepEqual(rules, want) {
		t.Errorf("rules = %+v\nwant %+v", rules, want)
	}
	if _, err := NewCatalog(discovered).Rules([]string{"gte"}, []string{"pods"}); err == nil || !strings.HasPrefix(err.Error(), `unknown verb "gte"`) {
		t.Errorf("unknown verb: error %v", err)
	}
}

func TestBuildRoleBinding(t *testing.T) {
	got := BuildRoleBinding("kubeaccess:dave", "development", "Role", "kubeaccess:dave", Subject(rbacv1.UserKind, "dave"))
	want := &rbacv1.RoleBinding{
		TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: "kubeaccess:dave", Namespace: "development",
			Labels: map[string]string{"app.kubernetes.io/managed-by": "kubeaccess"}},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "kubeaccess:dave"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "dave"}},
	}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("BuildRoleBinding = %+v\nwant %+v", got, want)
	}
}

func TestGroupResourceString(t *testing.T) {
	for in, want := range map[GroupResource]string{
		{Resource: "pods"}:                             "pods",
		{Group: "apps", Resource: "deployments"}:       "deployments.apps",
		{Resource: "pods/exec"}:                        "pods/exec",
		{Group: "apps", Resource: "deployments/scale"}: "deployments.apps/scale",
	} {
		if got := in.String(); got != want {
			t.Errorf("%+v: %q, want %q", in, got, want)
		}
	}
}
