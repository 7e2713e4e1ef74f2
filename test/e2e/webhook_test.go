package e2e

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/kubeaccess/kubeaccess/internal/privilege"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/testcluster"
)

// On a cluster whose API server asks an authorization webhook after RBAC
// (as a managed cluster's own authorizer is asked), what only the webhook
// allows is invisible to the local RBAC evaluator (kubeaccess can), and
// seen by the privilege review, which asks SubjectAccessReviews: grant
// refuses a user the webhook lets read kube-system's secrets, and grants
// another.
// This is the cluster the privilege review's shortcuts (issue 24) must be
// proven against.
func TestPrivilegeReviewSeesAWebhookAuthorizer(t *testing.T) {
	var asked, allowed atomic.Int32
	webhook := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review authorizationv1.SubjectAccessReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		asked.Add(1)
		a := review.Spec.ResourceAttributes
		if review.Spec.User == "hooked" && a != nil && a.Verb == "get" && a.Resource == "secrets" && a.Namespace == "kube-system" {
			allowed.Add(1)
			review.Status = authorizationv1.SubjectAccessReviewStatus{Allowed: true, Reason: "the test webhook lets hooked read kube-system's secrets"}
		} else {
			review.Status = authorizationv1.SubjectAccessReviewStatus{}
		}
		review.APIVersion, review.Kind = "authorization.k8s.io/v1", "SubjectAccessReview"
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(&review)
	}))
	defer webhook.Close()
	hooked := testcluster.StartForTest(t, testcluster.Options{AuthorizationWebhook: &testcluster.Webhook{URL: webhook.URL, CA: webhook.Certificate().Raw}})
	onCluster(t, hooked)
	admin := cluster.AdminKubeconfig
	dir := t.TempDir()

	mustFailWith(t, "kubeaccess can (RBAC alone)", kubeaccess(t, admin, "can", "hooked", "get", "secrets", "-n", "kube-system"), 1, "")
	if !canI(t, admin, "get", "secrets", "-n", "kube-system", "--as", "hooked") {
		t.Fatal("kubectl auth can-i: the API server does not let hooked read kube-system's secrets: the webhook is not asked")
	}
	mustFailWith(t, "grant to the user the webhook lets read kube-system's secrets", kubeaccess(t, admin, "grant", "hooked", "-n", "default",
		"--verb", "get", "--resource", "pods", "--out", filepath.Join(dir, "hooked.kubeconfig")), 2, "kube-system-secrets-get")
	mustFailWith(t, "grant to the same user with the full review", kubeaccess(t, admin, "--full-privilege-review", "grant", "hooked", "-n", "default",
		"--verb", "get", "--resource", "pods", "--out", filepath.Join(dir, "hooked.kubeconfig")), 2, "kube-system-secrets-get")
	mustSucceed(t, "grant to another", kubeaccess(t, admin, "grant", "plain", "-n", "default",
		"--verb", "get", "--resource", "pods", "--out", filepath.Join(dir, "plain.kubeconfig")))

	// The shortcut sees that a webhook cannot list what it allows, and
	// answers every question as the full review does.
	client := clientFor(t, admin)
	ix, err := rbac.ReadIndex(t.Context(), client)
	if err != nil {
		t.Fatal(err)
	}
	shortcut := &privilege.Rules{Client: client, Index: func(context.Context) (*rbac.Index, error) { return ix, nil }}
	attrs := slices.Concat(privilege.CatalogueRequests(), privilege.RunsAs("default"))
	for _, id := range []privilege.Identity{privilege.ForUser("hooked", nil), privilege.ForUser("plain", []string{"dev"}), privilege.ForServiceAccount("default", "default")} {
		want, err := privilege.SubjectAccessReviews{Client: client}.Allowed(t.Context(), id, attrs)
		if err != nil {
			t.Fatal(err)
		}
		got, err := shortcut.Allowed(t.Context(), id, attrs)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, want) {
			t.Errorf("%s: the shortcut's answers differ from the full review's:\n%v\n%v", id.User, got, want)
		}
	}
	if byRules, _ := shortcut.Answered(); byRules != 0 || !strings.Contains(shortcut.Unusable(), "webhook") {
		t.Errorf("the shortcut answered %d pairs by rules reviews, and says %q; want none, and that a webhook cannot list its rules", byRules, shortcut.Unusable())
	}
	if asked.Load() == 0 || allowed.Load() < 2 {
		t.Errorf("the webhook was asked %d times and allowed %d; want it asked, and allowing can-i and grant's review", asked.Load(), allowed.Load())
	}
}
