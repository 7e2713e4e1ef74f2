package issue

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
)

// When a plan fails several checks at once, the refusal names the one that
// explains the others: what the issuer may not do first (it makes every
// other answer unreliable), then escalation, then the source's own checks
// (the service account), then a namespace that may not be created. Each
// row fails the checks named, and expects the refusal of the first.
func TestPreflightRefusalOrder(t *testing.T) {
	type failing struct {
		// issuerLacks are resources the issuer may not act on.
		issuerLacks []string
		// privileged makes the subject hold everything.
		privileged bool
		// noAccount asks for a token of a missing service account that may
		// not be created.
		noAccount bool
		// noNamespace leaves the namespace missing, with CreateNamespace off.
		noNamespace bool
	}
	tests := map[string]struct {
		fails failing
		want  string
	}{
		"issuer's permissions before all": {failing{issuerLacks: []string{"rolebindings"}, privileged: true, noAccount: true, noNamespace: true},
			"you lack permissions this grant needs; nothing was created"},
		"privilege reads alone say the check cannot be made": {failing{issuerLacks: []string{"clusterrolebindings"}, privileged: true},
			"cannot tell whether it holds escalation-grade permissions, since you may not list"},
		"escalation before the source's checks": {failing{privileged: true, noAccount: true, noNamespace: true},
			"it would hold escalation-grade permissions"},
		"the source's checks before the namespace": {failing{noAccount: true, noNamespace: true},
			"serviceaccount development/bot does not exist; --create makes it"},
		"the namespace last": {failing{noNamespace: true},
			`namespace "development" does not exist and --create-namespace=false`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			engine, client := fakeEngine(t)
			client.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
				r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
				attrs := r.Spec.ResourceAttributes
				r.Status.Allowed = attrs == nil || !slices.Contains(tc.fails.issuerLacks, attrs.Resource)
				return true, r, nil
			})
			client.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
				r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
				r.Status.Allowed = tc.fails.privileged && strings.HasPrefix(r.Spec.User, "system:serviceaccount:development:bot")
				return true, r, nil
			})
			ctx := context.Background()
			if !tc.fails.noNamespace {
				if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "development"}}, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			plan := testPlan(&Token{Duration: time.Hour, CreateServiceAccount: !tc.fails.noAccount})
			plan.Subject, plan.CreateNamespace = ServiceAccountSubject("development", "bot"), false
			_, err := engine.Execute(ctx, plan)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Execute: %v\nwant the refusal %q", err, tc.want)
			}
		})
	}
}
