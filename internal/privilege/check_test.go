package privilege

import (
	"errors"
	"slices"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// reviewer answers SubjectAccessReviews as if the identity held rules in
// namespace ("" cluster-wide), and records who was asked about.
func reviewer(t *testing.T, namespace string, rules []rbacv1.PolicyRule, asked *[]authorizationv1.SubjectAccessReviewSpec) *fake.Clientset {
	t.Helper()
	client := fake.NewClientset()
	client.PrependReactor("create", "subjectaccessreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
		r := action.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		if asked != nil {
			*asked = append(*asked, r.Spec)
		}
		g := Grant{Namespace: namespace, Rules: rules}
		r.Status.Allowed = g.covers(*r.Spec.ResourceAttributes)
		return true, r, nil
	})
	return client
}

func entryIDs(entries []Entry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.ID)
	}
	return out
}

func ids(findings []Finding) []string {
	var out []string
	for _, f := range findings {
		out = append(out, f.Entry.ID)
	}
	return out
}

func TestCheckHeldPermissions(t *testing.T) {
	approvalRules := []rbacv1.PolicyRule{
		{Verbs: []string{"update"}, APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests/approval"}},
		{Verbs: []string{"approve"}, APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"signers"}, ResourceNames: []string{"kubernetes.io/*"}},
	}
	for name, tc := range map[string]struct {
		namespace string
		rules     []rbacv1.PolicyRule
		want      []string
	}{
		"nothing":                       {want: nil},
		"cluster-admin by another name": {rules: []rbacv1.PolicyRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}}, want: entryIDs(Catalogue)},
		"impersonate users":             {rules: []rbacv1.PolicyRule{{Verbs: []string{"impersonate"}, APIGroups: []string{""}, Resources: []string{"users"}}}, want: []string{"impersonate-users"}},
		"bind and escalate":             {rules: []rbacv1.PolicyRule{{Verbs: []string{"bind", "escalate"}, APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterroles"}}}, want: []string{"escalate-clusterroles", "bind-clusterroles"}},
		"signer approval both":          {rules: approvalRules, want: []string{"approve-client-certificates", "approve-kubelet-certificates"}},
		"signer approve alone":          {rules: approvalRules[1:], want: nil},
		"approval update alone":         {rules: approvalRules[:1], want: nil},
		"tokens in kube-system":         {namespace: "kube-system", rules: []rbacv1.PolicyRule{{Verbs: []string{"create"}, APIGroups: []string{""}, Resources: []string{"serviceaccounts/token"}}}, want: []string{"serviceaccount-tokens"}},
		"tokens in an app namespace":    {namespace: "development", rules: []rbacv1.PolicyRule{{Verbs: []string{"create"}, APIGroups: []string{""}, Resources: []string{"serviceaccounts/token"}}}, want: nil},
		"secrets cluster-wide":          {rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"secrets"}}}, want: []string{"kube-system-secrets-get"}},
		"one named secret":              {namespace: "kube-system", rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"harmless"}}}, want: nil},
		"nodes/proxy get":               {rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"nodes/proxy"}}}, want: []string{"nodes-proxy-get"}},
		"proxy of any resource":         {rules: []rbacv1.PolicyRule{{Verbs: []string{"create"}, APIGroups: []string{""}, Resources: []string{"*/proxy"}}}, want: []string{"nodes-proxy-create"}},
		"webhooks patch":                {rules: []rbacv1.PolicyRule{{Verbs: []string{"patch"}, APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations"}}}, want: []string{"mutating-admission", "validating-webhooks"}},
		"daemonsets in kube-system":     {namespace: "kube-system", rules: []rbacv1.PolicyRule{{Verbs: []string{"create"}, APIGroups: []string{"apps"}, Resources: []string{"daemonsets"}}}, want: []string{"kube-system-workloads"}},
		"admin in an app namespace":     {namespace: "development", rules: []rbacv1.PolicyRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}}, want: nil},
		"admin in kube-system": {namespace: "kube-system", rules: []rbacv1.PolicyRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}},
			want: []string{"impersonate-serviceaccounts", "escalate-clusterroles", "escalate-roles", "bind-clusterroles", "bind-roles", "serviceaccount-tokens",
				"kube-system-secrets-get", "kube-system-secrets-list", "kube-system-secrets-create", "kube-system-pods", "kube-system-pods-change", "kube-system-exec", "kube-system-workloads"}},
		// The gaps of the first catalogue, each alone.
		"patch a kube-system DaemonSet":   {namespace: "kube-system", rules: []rbacv1.PolicyRule{{Verbs: []string{"patch"}, APIGroups: []string{"apps"}, Resources: []string{"daemonsets"}}}, want: []string{"kube-system-workloads"}},
		"update a kube-system Deployment": {namespace: "kube-system", rules: []rbacv1.PolicyRule{{Verbs: []string{"update"}, APIGroups: []string{"apps"}, Resources: []string{"deployments"}}}, want: []string{"kube-system-workloads"}},
		"create ReplicaSets anywhere":     {rules: []rbacv1.PolicyRule{{Verbs: []string{"create"}, APIGroups: []string{"apps"}, Resources: []string{"replicasets"}}}, want: []string{"kube-system-workloads"}},
		"create CronJobs in kube-system":  {namespace: "kube-system", rules: []rbacv1.PolicyRule{{Verbs: []string{"create"}, APIGroups: []string{"batch"}, Resources: []string{"cronjobs"}}}, want: []string{"kube-system-workloads"}},
		"create ReplicationControllers":   {namespace: "kube-system", rules: []rbacv1.PolicyRule{{Verbs: []string{"create"}, APIGroups: []string{""}, Resources: []string{"replicationcontrollers"}}}, want: []string{"kube-system-workloads"}},
		"update kube-system pods":         {namespace: "kube-system", rules: []rbacv1.PolicyRule{{Verbs: []string{"update"}, APIGroups: []string{""}, Resources: []string{"pods"}}}, want: []string{"kube-system-pods-change"}},
		"ephemeral containers":            {namespace: "kube-system", rules: []rbacv1.PolicyRule{{Verbs: []string{"patch"}, APIGroups: []string{""}, Resources: []string{"pods/ephemeralcontainers"}}}, want: []string{"kube-system-pods-change"}},
		"attach in kube-system":           {namespace: "kube-system", rules: []rbacv1.PolicyRule{{Verbs: []string{"create"}, APIGroups: []string{""}, Resources: []string{"pods/attach"}}}, want: []string{"kube-system-exec"}},
		"hostPath volumes":                {rules: []rbacv1.PolicyRule{{Verbs: []string{"create"}, APIGroups: []string{""}, Resources: []string{"persistentvolumes"}}}, want: []string{"persistentvolumes"}},
		"namespace labels":                {rules: []rbacv1.PolicyRule{{Verbs: []string{"patch"}, APIGroups: []string{""}, Resources: []string{"namespaces"}}}, want: []string{"namespaces-pod-security"}},
		"node labels":                     {rules: []rbacv1.PolicyRule{{Verbs: []string{"patch"}, APIGroups: []string{""}, Resources: []string{"nodes"}}}, want: []string{"nodes-change"}},
		"APIServices":                     {rules: []rbacv1.PolicyRule{{Verbs: []string{"update"}, APIGroups: []string{"apiregistration.k8s.io"}, Resources: []string{"apiservices"}}}, want: []string{"apiservices"}},
		"edit in an app namespace":        {namespace: "development", rules: []rbacv1.PolicyRule{{Verbs: []string{"create", "update", "patch", "delete"}, APIGroups: []string{"", "apps", "batch"}, Resources: []string{"pods", "deployments", "daemonsets", "jobs", "cronjobs"}}}, want: nil},
	} {
		t.Run(name, func(t *testing.T) {
			var asked []authorizationv1.SubjectAccessReviewSpec
			got, err := Check(t.Context(), &Rules{Client: reviewer(t, tc.namespace, tc.rules, &asked)}, ForUser("dave", []string{"dev"}), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), tc.want) {
				t.Errorf("findings %v, want %v", ids(got), tc.want)
			}
			for _, spec := range asked {
				if spec.User != "dave" || !slices.Equal(spec.Groups, []string{"dev", Authenticated}) {
					t.Fatalf("asked about %q in %v, want dave in [dev system:authenticated]", spec.User, spec.Groups)
				}
			}
			if len(asked) != len(attributes(Catalogue)) {
				t.Errorf("%d reviews, want one per request of the catalogue (%d)", len(asked), len(attributes(Catalogue)))
			}
		})
	}
}

func TestCheckGrantedAccess(t *testing.T) {
	secrets := []rbacv1.PolicyRule{{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"secrets"}}}
	approve := []rbacv1.PolicyRule{{Verbs: []string{"approve"}, APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"signers"}, ResourceNames: []string{"kubernetes.io/kube-apiserver-client"}}}
	for name, tc := range map[string]struct {
		held  []rbacv1.PolicyRule
		grant Grant
		want  []string
	}{
		"secrets in an app namespace":    {grant: Grant{Namespace: "development", Rules: secrets}},
		"secrets in kube-system":         {grant: Grant{Namespace: "kube-system", Rules: secrets, Via: "Role kube-system/x"}, want: []string{"kube-system-secrets-get", "kube-system-secrets-list"}},
		"secrets cluster-wide":           {grant: Grant{Rules: secrets, Via: "ClusterRole x"}, want: []string{"kube-system-secrets-get", "kube-system-secrets-list"}},
		"half held, half granted":        {held: []rbacv1.PolicyRule{{Verbs: []string{"update"}, APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests/approval"}}}, grant: Grant{Rules: approve, Via: "ClusterRole y"}, want: []string{"approve-client-certificates"}},
		"granted half without the other": {grant: Grant{Rules: approve}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := Check(t.Context(), SubjectAccessReviews{reviewer(t, "", tc.held, nil)}, ForUser("dave", nil), []Grant{tc.grant})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), tc.want) {
				t.Errorf("findings %v, want %v", ids(got), tc.want)
			}
			for _, f := range got {
				if f.Existing() || !strings.Contains(f.String(), "granted by "+tc.grant.Via) {
					t.Errorf("finding %q does not name the grant %q", f, tc.grant.Via)
				}
			}
		})
	}
}

func TestCheckFailsClosed(t *testing.T) {
	for name, reaction := range map[string]k8stesting.ReactionFunc{
		"forbidden": func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "authorization.k8s.io", Resource: "subjectaccessreviews"}, "", errors.New("no"))
		},
		"evaluation error": func(action k8stesting.Action) (bool, runtime.Object, error) {
			r := action.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
			r.Status.EvaluationError = "webhook unreachable"
			return true, r, nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			client := fake.NewClientset()
			client.PrependReactor("create", "subjectaccessreviews", reaction)
			got, err := Check(t.Context(), SubjectAccessReviews{client}, ForUser("dave", nil), nil)
			if err == nil {
				t.Fatalf("no error, findings %v: a review that cannot be made must not pass", ids(got))
			}
		})
	}
}

func TestIdentities(t *testing.T) {
	sa := ForServiceAccount("ci", "bot")
	if sa.User != "system:serviceaccount:ci:bot" || !slices.Equal(sa.Groups, []string{"system:serviceaccounts", "system:serviceaccounts:ci", Authenticated}) {
		t.Errorf("service account identity %+v", sa)
	}
	if !sa.RBACUser().Named(rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: "ci", Name: "bot"}, "") || sa.RBACUser().Named(rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: "other", Name: "bot"}, "") ||
		!sa.RBACUser().Named(rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "bot"}, "ci") {
		t.Error("service account subject matching is wrong")
	}
	u := ForUser("dave", []string{"dev", Authenticated})
	if !slices.Equal(u.Groups, []string{"dev", Authenticated}) {
		t.Errorf("groups %v: system:authenticated added twice", u.Groups)
	}
	if !u.RBACUser().Named(rbacv1.Subject{Kind: rbacv1.GroupKind, Name: Authenticated}, "") || u.RBACUser().Named(rbacv1.Subject{Kind: rbacv1.UserKind, Name: "dev"}, "") {
		t.Error("user subject matching is wrong")
	}
}
