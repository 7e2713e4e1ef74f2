package verify

import (
	"context"
	"errors"
	"fmt"
	"slices"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/component-helpers/auth/rbac/validation"
)

// Uncovered asks the API server which rules apply to the client in namespace
// (a SelfSubjectRulesReview, as kubectl auth can-i --list does) and returns
// the resource rules of want that those do not cover. One review answers
// for a whole role, where access reviews take one request per permission.
// complete is false when some authorizer cannot list its rules (a webhook,
// say); then only access reviews can tell.
func Uncovered(ctx context.Context, client kubernetes.Interface, namespace string, want []rbacv1.PolicyRule) (uncovered []rbacv1.PolicyRule, complete bool, err error) {
	review := &authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: namespace}}
	got, err := client.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return nil, false, fmt.Errorf("listing the rules that apply in namespace %s: %w", namespace, err)
	}
	if got.Status.Incomplete {
		return nil, false, nil
	}
	return uncoveredBy(got.Status, want), true, nil
}

// uncoveredBy returns the resource rules of want that status does not cover.
// Non-resource rules are left out: a namespace's bindings cannot grant them.
func uncoveredBy(status authorizationv1.SubjectRulesReviewStatus, want []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	var held []rbacv1.PolicyRule
	for _, r := range status.ResourceRules {
		held = append(held, rbacv1.PolicyRule{Verbs: r.Verbs, APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames})
	}
	var resourceRules []rbacv1.PolicyRule
	for _, r := range want {
		if len(r.NonResourceURLs) == 0 {
			resourceRules = append(resourceRules, r)
		}
	}
	_, uncovered := validation.Covers(held, resourceRules)
	return uncovered
}

// MissingBatched is Missing with fewer requests: where two or more
// permissions share a namespace, one rules review answers for those it
// covers, and only the rest get access reviews, which stay the authority
// for any denial. Cluster-scoped permissions always get access reviews.
func MissingBatched(ctx context.Context, client kubernetes.Interface, perms []Permission) ([]Permission, error) {
	byNamespace := map[string][]Permission{}
	for _, p := range perms {
		if p.Namespace != "" {
			byNamespace[p.Namespace] = append(byNamespace[p.Namespace], p)
		}
	}
	// The permissions no rules review answers are asked about at once,
	// alongside the rules reviews rather than after them.
	var direct, batched []Permission
	for _, p := range perms {
		if p.Namespace == "" || len(byNamespace[p.Namespace]) < 2 {
			direct = append(direct, p)
		} else {
			batched = append(batched, p)
		}
	}
	var (
		directMissing []Permission
		directErr     error
		done          = make(chan struct{})
	)
	go func() {
		defer close(done)
		directMissing, directErr = Missing(ctx, client, direct)
	}()
	held := map[Permission]bool{}
	for ns, nsPerms := range byNamespace {
		if len(nsPerms) < 2 {
			continue
		}
		want := make([]rbacv1.PolicyRule, len(nsPerms))
		for i, p := range nsPerms {
			want[i] = p.Rule()
		}
		uncovered, complete, err := Uncovered(ctx, client, ns, want)
		if err != nil || !complete {
			continue // the access reviews below decide
		}
		for i, p := range nsPerms {
			if !slices.ContainsFunc(uncovered, func(r rbacv1.PolicyRule) bool { return covers(r, want[i]) }) {
				held[p] = true
			}
		}
	}
	var rest []Permission
	for _, p := range batched {
		if !held[p] {
			rest = append(rest, p)
		}
	}
	restMissing, restErr := Missing(ctx, client, rest)
	<-done
	if err := errors.Join(directErr, restErr); err != nil {
		return nil, err
	}
	// In the order given, as Missing returns them.
	missing := slices.Concat(directMissing, restMissing)
	return slices.DeleteFunc(slices.Clone(perms), func(p Permission) bool { return !slices.Contains(missing, p) }), nil
}

// Rule is the permission as a single policy rule.
func (p Permission) Rule() rbacv1.PolicyRule {
	resource := p.Resource
	if p.Subresource != "" {
		resource += "/" + p.Subresource
	}
	r := rbacv1.PolicyRule{Verbs: []string{p.Verb}, APIGroups: []string{p.Group}, Resources: []string{resource}}
	if p.Name != "" {
		r.ResourceNames = []string{p.Name}
	}
	return r
}

// covers reports whether an uncovered rule Covers reported comes from want.
func covers(uncovered, want rbacv1.PolicyRule) bool {
	ok, _ := validation.Covers([]rbacv1.PolicyRule{want}, []rbacv1.PolicyRule{uncovered})
	return ok
}
