package privilege

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// apiServer answers rules reviews and SubjectAccessReviews over HTTP as an
// API server whose RBAC gives rules (by namespace, "" cluster-wide) and
// whose other authorizers are played by extra: rules it lists besides
// RBAC's (AlwaysAllow's "*", an ABAC policy), whether its list is
// incomplete (a webhook), and what it allows that no rule says.
type apiServer struct {
	rules      map[string][]rbacv1.PolicyRule
	extra      []rbacv1.PolicyRule
	incomplete bool
	evalError  string
	forbidden  bool
	allows     func(authorizationv1.ResourceAttributes) bool

	mu         sync.Mutex
	rulesAsked []string
	sarsAsked  int
}

func (s *apiServer) rulesIn(namespace string) []rbacv1.PolicyRule {
	out := slices.Clone(s.rules[""])
	if namespace != ClusterScope {
		out = append(out, s.rules[namespace]...)
	}
	return out
}

func (s *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case strings.HasSuffix(r.URL.Path, "/selfsubjectrulesreviews"):
		var review authorizationv1.SelfSubjectRulesReview
		_ = json.NewDecoder(r.Body).Decode(&review)
		s.mu.Lock()
		s.rulesAsked = append(s.rulesAsked, r.Header.Get("Impersonate-User")+" "+strings.Join(r.Header.Values("Impersonate-Group"), ",")+" in "+review.Spec.Namespace)
		s.mu.Unlock()
		if s.forbidden {
			w.WriteHeader(http.StatusForbidden)
			_ = json.NewEncoder(w).Encode(metav1.Status{Status: metav1.StatusFailure, Reason: metav1.StatusReasonForbidden, Code: http.StatusForbidden, Message: "cannot impersonate"})
			return
		}
		for _, rule := range append(s.rulesIn(review.Spec.Namespace), s.extra...) {
			review.Status.ResourceRules = append(review.Status.ResourceRules, authorizationv1.ResourceRule{Verbs: rule.Verbs, APIGroups: rule.APIGroups, Resources: rule.Resources, ResourceNames: rule.ResourceNames})
		}
		review.Status.Incomplete, review.Status.EvaluationError = s.incomplete, s.evalError
		_ = json.NewEncoder(w).Encode(review)
	case strings.HasSuffix(r.URL.Path, "/subjectaccessreviews"):
		var review authorizationv1.SubjectAccessReview
		_ = json.NewDecoder(r.Body).Decode(&review)
		s.mu.Lock()
		s.sarsAsked++
		s.mu.Unlock()
		a := *review.Spec.ResourceAttributes
		ns := a.Namespace
		if ns == "" {
			ns = ClusterScope
		}
		rules := append(s.rulesIn(ns), s.extra...)
		review.Status.Allowed = s.allows != nil && s.allows(a) || allowedBy(rules, []authorizationv1.ResourceAttributes{a})[a]
		_ = json.NewEncoder(w).Encode(review)
	default:
		http.NotFound(w, r)
	}
}

// indexOf is the RBAC of s as one read of its bindings: the rules bound
// to group "dev".
func (s *apiServer) indexOf() *rbac.Index {
	ix := &rbac.Index{Roles: map[rbac.Ref][]rbacv1.PolicyRule{}}
	for ns, rules := range s.rules {
		kind, binding := "ClusterRole", "ClusterRoleBinding"
		if ns != "" {
			kind, binding = "Role", "RoleBinding"
		}
		role := rbac.Ref{Kind: kind, Namespace: ns, Name: "r"}
		ix.Roles[role] = rules
		ix.Bindings = append(ix.Bindings, rbac.Binding{
			Ref:      rbac.Ref{Kind: binding, Namespace: ns, Name: "b"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.GroupKind, Name: "dev"}},
			RoleRef:  rbacv1.RoleRef{Kind: kind, Name: "r"},
		})
	}
	return ix
}

func clientOf(t *testing.T, s *apiServer) kubernetes.Interface {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	client, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL, QPS: -1, ContentConfig: rest.ContentConfig{ContentType: "application/json"}})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// TestRulesAnswersAsTheFullReview: Rules gives the full review's answer in
// every case, and asks SubjectAccessReviews exactly where the rules listed
// are not the whole answer.
func TestRulesAnswersAsTheFullReview(t *testing.T) {
	secrets := rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"secrets"}}
	pods := rbacv1.PolicyRule{Verbs: []string{"*"}, APIGroups: []string{""}, Resources: []string{"pods"}}
	everything := rbacv1.PolicyRule{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}
	rbacRules := map[string][]rbacv1.PolicyRule{"": {{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"namespaces"}}}, SystemNamespace: {secrets}}
	dev := ForUser("dave", []string{"dev"})
	for name, tc := range map[string]struct {
		server   *apiServer
		id       Identity
		wantSARs bool
		// unusable: the shortcut is off for the rest of the run.
		unusable bool
	}{
		"RBAC alone: rules answer":                 {server: &apiServer{rules: rbacRules}, id: dev},
		"a webhook: incomplete":                    {server: &apiServer{rules: rbacRules, incomplete: true, allows: func(a authorizationv1.ResourceAttributes) bool { return a.Verb == "impersonate" }}, id: dev, wantSARs: true, unusable: true},
		"ABAC: pods also gives pods/exec":          {server: &apiServer{rules: rbacRules, extra: []rbacv1.PolicyRule{pods}, allows: func(a authorizationv1.ResourceAttributes) bool { return a.Resource == "pods" }}, id: dev, wantSARs: true},
		"AlwaysAllow: lists everything":            {server: &apiServer{rules: rbacRules, extra: []rbacv1.PolicyRule{everything}}, id: dev, wantSARs: true},
		"an evaluation error":                      {server: &apiServer{rules: rbacRules, evalError: "clusterrole.rbac.authorization.k8s.io \"gone\" not found"}, id: dev, wantSARs: true},
		"impersonation refused":                    {server: &apiServer{rules: rbacRules, forbidden: true}, id: dev, wantSARs: true, unusable: true},
		"system:masters lists nothing it is given": {server: &apiServer{rules: rbacRules, allows: func(authorizationv1.ResourceAttributes) bool { return true }}, id: ForUser("root", []string{"system:masters"}), wantSARs: true},
	} {
		t.Run(name, func(t *testing.T) {
			s := tc.server
			client := clientOf(t, s)
			ix := s.indexOf()
			attrs := slices.Concat(attributes(Catalogue), RunsAs("apps"))
			want, err := SubjectAccessReviews{client}.Allowed(t.Context(), tc.id, attrs)
			if err != nil {
				t.Fatal(err)
			}
			s.sarsAsked = 0
			r := &Rules{Client: client, Index: func(context.Context) (*rbac.Index, error) { return ix, nil }}
			got, err := r.Allowed(t.Context(), tc.id, attrs)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, want) {
				for a := range want {
					if got[a] != want[a] {
						t.Errorf("%s: rules %v, full review %v", Describe(a), got[a], want[a])
					}
				}
			}
			if n := slices.Collect(maps.Values(want)); !slices.Contains(n, true) {
				t.Fatal("the full review allows nothing: the case tests nothing")
			}
			if (s.sarsAsked > 0) != tc.wantSARs {
				t.Errorf("%d SubjectAccessReviews asked, want them asked: %v (rules reviews: %q)", s.sarsAsked, tc.wantSARs, s.rulesAsked)
			}
			if (r.Unusable() != "") != tc.unusable {
				t.Errorf("unusable for the rest of the run: %q, want %v", r.Unusable(), tc.unusable)
			}
			if !tc.wantSARs {
				wantAsked := []string{"dave dev,system:authenticated in " + ClusterScope, "dave dev,system:authenticated in apps", "dave dev,system:authenticated in " + SystemNamespace}
				slices.Sort(s.rulesAsked)
				slices.Sort(wantAsked)
				if !slices.Equal(s.rulesAsked, wantAsked) {
					t.Errorf("rules reviews %q, want %q", s.rulesAsked, wantAsked)
				}
				// Asked again in the same run, nothing is asked again.
				if _, err := r.Allowed(t.Context(), tc.id, attrs); err != nil || len(s.rulesAsked) != 3 {
					t.Errorf("asked again: %d rules reviews in all (%v), want 3", len(s.rulesAsked), err)
				}
			}
		})
	}
}
