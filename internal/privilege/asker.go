package privilege

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"

	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// Asker answers which of attrs the API server allows id: every one of
// them, true or false, or an error when it cannot tell (callers refuse).
type Asker interface {
	Allowed(ctx context.Context, id Identity, attrs []authorizationv1.ResourceAttributes) (map[authorizationv1.ResourceAttributes]bool, error)
}

// SubjectAccessReviews is the full review: one SubjectAccessReview per
// request, which every authorizer of the API server answers.
type SubjectAccessReviews struct{ Client kubernetes.Interface }

// Allowed asks about every request concurrently.
func (s SubjectAccessReviews) Allowed(ctx context.Context, id Identity, attrs []authorizationv1.ResourceAttributes) (map[authorizationv1.ResourceAttributes]bool, error) {
	var mu sync.Mutex
	allowed := make(map[authorizationv1.ResourceAttributes]bool, len(attrs))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(reviewConcurrency)
	for _, a := range attrs {
		g.Go(func() error {
			r := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: id.User, Groups: id.Groups, ResourceAttributes: &a,
			}}
			got, err := s.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, r, metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("asking the API server whether %q may %s: %w", id.User, Describe(a), err)
			}
			if got.Status.EvaluationError != "" && !got.Status.Allowed && !got.Status.Denied {
				return fmt.Errorf("the API server could not decide whether %q may %s: %s", id.User, Describe(a), got.Status.EvaluationError)
			}
			mu.Lock()
			allowed[a] = got.Status.Allowed
			mu.Unlock()
			return nil
		})
	}
	return allowed, g.Wait()
}

// Rules answers from the API server's own list of the rules an identity
// holds, where that list is the whole answer, and otherwise asks
// SubjectAccessReviews: the same answers as the full review, in one
// request per identity and namespace instead of one per question.
//
// Why the shortcut is exact. A SubjectAccessReview is decided by the API
// server's chain of authorizers. Every authorizer in that chain but one
// also lists, for a SelfSubjectRulesReview, the rules it would allow the
// requester in a namespace, and says when its list is incomplete: a
// webhook always does (it cannot list what it allows), and so does the
// Node authorizer for a node. The exception is the system:masters group,
// which is allowed everything before any authorizer is asked, and lists
// nothing. So the shortcut is taken only when:
//
//   - the identity is not in system:masters;
//   - the rules review, made impersonating the identity (its user and
//     every one of its groups, as the credential will carry them), is
//     complete and has no evaluation error;
//   - its resource rules are, rule for rule and as many times, the rules
//     RBAC gives the identity through the roles and bindings read in this
//     run (rbac.Index.RulesFor). An authorizer whose list is complete but
//     whose rules do not mean what RBAC's mean (ABAC matches "pods" for
//     pods/exec; AlwaysAllow lists "*") adds rules RBAC does not give, and
//     so is seen; so is a change to the bindings since they were read.
//
// Then RBAC alone has an opinion on the identity, and its answer to each
// question is what its rules allow, matched as the API server matches them
// (rbac.RuleAllows; the evaluator's property test holds it equal to
// SubjectAccessReview). Questions across all namespaces and about
// cluster-scoped resources are answered from a review of a namespace that
// cannot exist (its name is not a DNS label), so that only
// ClusterRoleBindings give rules there, as they alone answer those
// questions.
//
// Whenever a condition fails, that identity's questions in that namespace
// go to SubjectAccessReviews, as in the full review. Impersonation the
// issuer is not allowed, an API server without rules reviews, or a
// webhook in the chain make the shortcut unusable for the rest of the run:
// every later identity goes straight to SubjectAccessReviews.
type Rules struct {
	Client kubernetes.Interface
	// Index is the roles and bindings of this run, read once.
	Index func(context.Context) (*rbac.Index, error)
	// Of, when set, is the longer-lived Rules whose finding that the
	// shortcut is unusable this one shares, both ways: a controller's
	// reconciles each make a fresh Rules, and each need not find out
	// again that its service account may not impersonate.
	Of *Rules

	mu       sync.Mutex
	reviews  map[string]*rulesReview
	unusable string
	// byRules and bySAR count the (identity, namespace) pairs answered
	// each way.
	byRules, bySAR atomic.Int64
}

// Answered counts the (identity, namespace) pairs answered by rules
// reviews, and by SubjectAccessReviews.
func (r *Rules) Answered() (byRules, bySAR int64) { return r.byRules.Load(), r.bySAR.Load() }

// CatalogueRequests are the distinct requests a catalogue review asks
// about.
func CatalogueRequests() []authorizationv1.ResourceAttributes { return attributes(Catalogue) }

// ClusterScope is the namespace whose rules review answers questions
// across all namespaces and about cluster-scoped resources: no namespace
// can have this name, so no RoleBinding is in it.
const ClusterScope = "kubeaccess:cluster-scope"

// rulesReview is one identity's rules in one namespace, worked out once
// per run however many ask.
type rulesReview struct {
	once  sync.Once
	rules []rbacv1.PolicyRule
	// why is "" when rules are the whole answer, else why not.
	why string
	err error
}

// Unusable says why the shortcut is off for this run ("" while it is on).
func (r *Rules) Unusable() string {
	if r.Of != nil {
		if why := r.Of.Unusable(); why != "" {
			return why
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unusable
}

func (r *Rules) setUnusable(why string) {
	if r.Of != nil {
		r.Of.setUnusable(why)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.unusable == "" {
		r.unusable = why
	}
}

// mayList reports whether a rules review can be the whole answer for id:
// it can be made (an impersonated user), id is not in system:masters,
// and the shortcut is usable in this run.
func (r *Rules) mayList(id Identity) bool {
	return id.User != "" && !slices.Contains(id.Groups, verify.MastersGroup) && r.Unusable() == ""
}

// Allowed answers from rules reviews where they are the whole answer, and
// asks SubjectAccessReviews for the rest.
func (r *Rules) Allowed(ctx context.Context, id Identity, attrs []authorizationv1.ResourceAttributes) (map[authorizationv1.ResourceAttributes]bool, error) {
	full := SubjectAccessReviews{Client: r.Client}
	if !r.mayList(id) {
		r.bySAR.Add(1)
		return full.Allowed(ctx, id, attrs)
	}
	byNamespace := map[string][]authorizationv1.ResourceAttributes{}
	for _, a := range attrs {
		ns := a.Namespace
		if ns == "" {
			ns = ClusterScope
		}
		byNamespace[ns] = append(byNamespace[ns], a)
	}
	var mu sync.Mutex
	allowed := make(map[authorizationv1.ResourceAttributes]bool, len(attrs))
	g, ctx := errgroup.WithContext(ctx)
	for _, ns := range slices.Sorted(maps.Keys(byNamespace)) {
		g.Go(func() error {
			asked := byNamespace[ns]
			rules, exact, err := r.rulesIn(ctx, id, ns)
			if err != nil {
				return err
			}
			var got map[authorizationv1.ResourceAttributes]bool
			if exact {
				r.byRules.Add(1)
				got = allowedBy(rules, asked)
			} else {
				r.bySAR.Add(1)
				if got, err = full.Allowed(ctx, id, asked); err != nil {
					return err
				}
			}
			mu.Lock()
			maps.Copy(allowed, got)
			mu.Unlock()
			return nil
		})
	}
	return allowed, g.Wait()
}

// Warm makes, ahead of a review of id that may come, the rules reviews
// that review would make (across all namespaces, and in kube-system),
// and keeps them for the run; it never asks SubjectAccessReviews, and a
// failure is left for the review itself to meet.
func (r *Rules) Warm(ctx context.Context, id Identity) {
	if !r.mayList(id) {
		return
	}
	var wg sync.WaitGroup
	for _, ns := range []string{ClusterScope, SystemNamespace} {
		wg.Go(func() { _, _, _ = r.rulesIn(ctx, id, ns) })
	}
	wg.Wait()
}

// allowedBy answers each request by whether any rule allows it.
func allowedBy(rules []rbacv1.PolicyRule, attrs []authorizationv1.ResourceAttributes) map[authorizationv1.ResourceAttributes]bool {
	out := make(map[authorizationv1.ResourceAttributes]bool, len(attrs))
	for _, a := range attrs {
		req := rbac.Request{Verb: a.Verb, Group: a.Group, Resource: a.Resource, Subresource: a.Subresource, Name: a.Name, Namespace: a.Namespace}
		out[a] = slices.ContainsFunc(rules, func(rule rbacv1.PolicyRule) bool { return rbac.RuleAllows(rule, req) })
	}
	return out
}

// rulesIn is id's rules in namespace, and whether they are the whole
// answer; an error only when the bindings could not be read.
func (r *Rules) rulesIn(ctx context.Context, id Identity, namespace string) ([]rbacv1.PolicyRule, bool, error) {
	key := namespace + "\x00" + id.User + "\x00" + strings.Join(id.Groups, "\x00")
	r.mu.Lock()
	if r.reviews == nil {
		r.reviews = map[string]*rulesReview{}
	}
	rv := r.reviews[key]
	if rv == nil {
		rv = &rulesReview{}
		r.reviews[key] = rv
	}
	r.mu.Unlock()
	rv.once.Do(func() { rv.rules, rv.why, rv.err = r.review(ctx, id, namespace) })
	return rv.rules, rv.why == "", rv.err
}

// review makes id's rules review in namespace and checks it is the whole
// answer (see Rules).
func (r *Rules) review(ctx context.Context, id Identity, namespace string) ([]rbacv1.PolicyRule, string, error) {
	rc, ok := r.Client.AuthorizationV1().RESTClient().(*rest.RESTClient)
	if !ok || rc == nil {
		r.setUnusable("the client makes no rules reviews")
		return nil, r.Unusable(), nil
	}
	out := &authorizationv1.SelfSubjectRulesReview{}
	err := rc.Post().Resource("selfsubjectrulesreviews").
		SetHeader(transport.ImpersonateUserHeader, id.User).
		SetHeader(transport.ImpersonateGroupHeader, id.Groups...).
		Body(&authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: namespace}}).
		Do(ctx).Into(out)
	switch {
	case apierrors.IsForbidden(err) || apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) || apierrors.IsBadRequest(err):
		r.setUnusable(fmt.Sprintf("the rules review of %q was refused: %v", id.User, err))
		return nil, r.Unusable(), nil
	case err != nil:
		return nil, fmt.Sprintf("the rules review of %q failed: %v", id.User, err), nil
	case out.Status.Incomplete:
		if !id.RBACUser().Node() {
			r.setUnusable("an authorizer of the API server cannot list the rules it allows (a webhook)")
		}
		return nil, "incomplete", nil
	case out.Status.EvaluationError != "":
		return nil, "evaluation error: " + out.Status.EvaluationError, nil
	}
	// The bindings are read while the rules review is under way.
	ix, err := r.Index(ctx)
	if err != nil {
		return nil, "", err
	}
	rules := make([]rbacv1.PolicyRule, len(out.Status.ResourceRules))
	for i, rr := range out.Status.ResourceRules {
		rules[i] = rbacv1.PolicyRule{Verbs: rr.Verbs, APIGroups: rr.APIGroups, Resources: rr.Resources, ResourceNames: rr.ResourceNames}
	}
	local := namespace
	if local == ClusterScope {
		local = ""
	}
	held, ok := ix.RulesFor(id.RBACUser(), local)
	if !ok || !rbac.SameResourceRules(held, rules) {
		return nil, "the rules listed are not the rules RBAC gives", nil
	}
	return rules, "", nil
}
