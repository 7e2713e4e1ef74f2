package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubeaccess/kubeaccess/internal/privilege"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/testcluster"
)

// The universe random RBAC and questions are drawn from: small, so that
// rules and questions meet often, with every kind of wildcard.
var (
	propNamespaces = []string{"prop-a", "prop-b", "prop-c"}
	propVerbs      = []string{"get", "list", "create", "delete", "impersonate", "escalate", "*"}
	propGroups     = []string{"", "apps", "batch", "*"}
	propResources  = []string{"pods", "pods/log", "pods/exec", "deployments", "jobs", "secrets", "configmaps", "*/status", "*", "pods/*", "users"}
	propNames      = []string{"a", "b"}
	propURLs       = []string{"/healthz", "/api/*", "/api", "*", "/metrics", "/version/*"}
	propUsers      = []string{"u1", "u2", "u3", "u4"}
	propUserGroups = []string{"g1", "g2", "g3"}
	propAccounts   = [][2]string{{"prop-a", "sa1"}, {"prop-b", "sa2"}, {"prop-a", "sa2"}}
)

// propConfig reads the seed and the number of questions: from
// KUBEACCESS_RBAC_SEED and KUBEACCESS_RBAC_CASES, else a fresh seed and
// 1500 questions.
func propConfig(t *testing.T) (seed uint64, cases int) {
	seed, cases = uint64(time.Now().UnixNano()), 1500
	if s := os.Getenv("KUBEACCESS_RBAC_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("KUBEACCESS_RBAC_SEED=%q: %v", s, err)
		}
		seed = v
	}
	if s := os.Getenv("KUBEACCESS_RBAC_CASES"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			t.Fatalf("KUBEACCESS_RBAC_CASES=%q: want a positive number", s)
		}
		cases = v
	}
	return seed, cases
}

func pick[T any](r *rand.Rand, from []T) T { return from[r.IntN(len(from))] }

func some[T any](r *rand.Rand, from []T, most int) []T {
	n := 1 + r.IntN(most)
	out := make([]T, 0, n)
	for range n {
		if v := pick(r, from); !slices.ContainsFunc(out, func(o T) bool { return equality.Semantic.DeepEqual(o, v) }) {
			out = append(out, v)
		}
	}
	return out
}

func randomRule(r *rand.Rand, clusterRole bool) rbacv1.PolicyRule {
	if clusterRole && r.IntN(5) == 0 {
		return rbacv1.PolicyRule{Verbs: some(r, []string{"get", "post", "*"}, 2), NonResourceURLs: some(r, propURLs, 2)}
	}
	rule := rbacv1.PolicyRule{Verbs: some(r, propVerbs, 3), APIGroups: some(r, propGroups, 2), Resources: some(r, propResources, 3)}
	if r.IntN(3) == 0 {
		rule.ResourceNames = some(r, propNames, 2)
	}
	return rule
}

func randomSubjects(r *rand.Rand, roleBinding bool) []rbacv1.Subject {
	var out []rbacv1.Subject
	for range 1 + r.IntN(3) {
		switch n := r.IntN(10); {
		case n < 4:
			out = append(out, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: pick(r, propUsers)})
		case n < 7:
			out = append(out, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: pick(r, propUserGroups)})
		case n == 7:
			out = append(out, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: pick(r, []string{"system:authenticated", "system:serviceaccounts", "system:serviceaccounts:prop-a"})})
		default:
			a := pick(r, propAccounts)
			s := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: a[0], Name: a[1]}
			if roleBinding && r.IntN(3) == 0 {
				s.Namespace = "" // the binding's own namespace
			}
			out = append(out, s)
		}
	}
	return out
}

// seedRBAC creates random roles, cluster roles (one aggregated), and
// bindings (some to roles that do not exist), and returns the name of
// the aggregated role and the labelled rules it should gather.
func seedRBAC(t *testing.T, client kubernetes.Interface, r *rand.Rand) {
	t.Helper()
	ctx := t.Context()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range propNamespaces {
		must(client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}))
		for i := range 4 {
			must(client.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("role-%d", i)},
				Rules: []rbacv1.PolicyRule{randomRule(r, false), randomRule(r, false)}}, metav1.CreateOptions{}))
		}
	}
	must(client.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "prop-aggregated"},
		AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"prop/aggregate": "true"}}}}}, metav1.CreateOptions{}))
	for i := range 8 {
		cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("prop-cluster-%d", i)}, Rules: []rbacv1.PolicyRule{randomRule(r, true), randomRule(r, true)}}
		if i%3 == 0 {
			cr.Labels = map[string]string{"prop/aggregate": "true"}
		}
		must(client.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}))
	}
	clusterRole := func() string {
		if r.IntN(12) == 0 {
			return "prop-missing"
		}
		if r.IntN(4) == 0 {
			return "prop-aggregated"
		}
		return fmt.Sprintf("prop-cluster-%d", r.IntN(8))
	}
	for i := range 15 {
		ns := pick(r, propNamespaces)
		ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole()}
		if r.IntN(2) == 0 {
			ref = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: fmt.Sprintf("role-%d", r.IntN(5))} // role-4 is missing
		}
		must(client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("prop-rb-%d", i)},
			RoleRef: ref, Subjects: randomSubjects(r, true)}, metav1.CreateOptions{}))
	}
	for i := range 8 {
		must(client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("prop-crb-%d", i)},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole()}, Subjects: randomSubjects(r, false)}, metav1.CreateOptions{}))
	}
}

// settle waits until the aggregation controller has gathered the
// labelled rules and the API server's authorizer has seen every object:
// objects of each kind reach it in order, so a sentinel of each kind,
// created last and seen allowing, means all before it are seen too.
func settle(t *testing.T, client kubernetes.Interface) {
	t.Helper()
	ctx := t.Context()
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		agg, err := client.RbacV1().ClusterRoles().Get(ctx, "prop-aggregated", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		labelled, err := client.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{LabelSelector: "prop/aggregate=true"})
		if err != nil {
			return false, err
		}
		for _, cr := range labelled.Items {
			for _, rule := range cr.Rules {
				if !slices.ContainsFunc(agg.Rules, func(a rbacv1.PolicyRule) bool { return equality.Semantic.DeepEqual(a, rule) }) {
					return false, nil
				}
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("the aggregated ClusterRole never gathered its rules: %v", err)
	}
	sentinel := []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"sentinels"}}}
	ref := func(kind, name string) rbacv1.RoleRef {
		return rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: name}
	}
	who := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "prop-sentinel"}}
	for _, create := range []func() error{
		func() error {
			_, err := client.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "prop-sentinel"}, Rules: sentinel}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := client.RbacV1().Roles("prop-c").Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "prop-sentinel"}, Rules: sentinel}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "prop-sentinel"}, RoleRef: ref("ClusterRole", "prop-sentinel"), Subjects: who}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := client.RbacV1().RoleBindings("prop-c").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "prop-sentinel"}, RoleRef: ref("Role", "prop-sentinel"), Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "prop-sentinel-2"}}}, metav1.CreateOptions{})
			return err
		},
	} {
		if err := create(); err != nil {
			t.Fatal(err)
		}
	}
	for _, user := range []string{"prop-sentinel", "prop-sentinel-2"} {
		err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			return sarAllows(ctx, client, rbac.User{Name: user}, rbac.Request{Verb: "get", Resource: "sentinels", Namespace: "prop-c"})
		})
		if err != nil {
			t.Fatalf("the API server's authorizer never saw the sentinel binding of %s: %v", user, err)
		}
	}
}

func sarAllows(ctx context.Context, client kubernetes.Interface, u rbac.User, q rbac.Request) (bool, error) {
	spec := authorizationv1.SubjectAccessReviewSpec{User: u.Name, Groups: u.Groups}
	if q.Path != "" {
		spec.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Verb: q.Verb, Path: q.Path}
	} else {
		spec.ResourceAttributes = &authorizationv1.ResourceAttributes{Verb: q.Verb, Group: q.Group, Resource: q.Resource, Subresource: q.Subresource, Name: q.Name, Namespace: q.Namespace}
	}
	got, err := client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return got.Status.Allowed, nil
}

func randomQuestion(r *rand.Rand) (rbac.User, rbac.Request) {
	var u rbac.User
	if r.IntN(4) == 0 {
		a := pick(r, propAccounts)
		u = rbac.ServiceAccountUser(a[0], a[1])
	} else {
		u = rbac.User{Name: pick(r, propUsers)}
		for _, g := range propUserGroups {
			if r.IntN(3) == 0 {
				u.Groups = append(u.Groups, g)
			}
		}
		if r.IntN(2) == 0 {
			u.Groups = append(u.Groups, "system:authenticated")
		}
	}
	if r.IntN(5) == 0 {
		return u, rbac.Request{Verb: pick(r, []string{"get", "post", "*"}), Path: pick(r, []string{"/healthz", "/api", "/api/v1", "/metrics", "/version/x", "/"})}
	}
	q := rbac.Request{Verb: pick(r, propVerbs), Group: pick(r, []string{"", "", "apps", "batch", "rbac.authorization.k8s.io"}),
		Resource: pick(r, []string{"pods", "deployments", "jobs", "secrets", "configmaps", "nodes", "users"}), Namespace: pick(r, append(slices.Clone(propNamespaces), ""))}
	if r.IntN(3) == 0 {
		q.Subresource = pick(r, []string{"log", "exec", "status"})
	}
	if r.IntN(2) == 0 {
		q.Name = pick(r, []string{"a", "b", "c"})
	}
	return u, q
}

// randomRBACCluster starts a cluster of the test's own, gives it random
// RBAC drawn from seed, and waits until its authorizer has seen all of it.
// It returns a client allowed the thousands of reviews the property tests
// ask (client-go's default of 5 a second would take minutes), the random
// source to draw questions from, and the RBAC as one read.
func randomRBACCluster(t *testing.T, seed uint64) (kubernetes.Interface, *rand.Rand, *rbac.Index) {
	t.Helper()
	c := testcluster.StartForTest(t, testcluster.Options{NoSigner: true})
	cfg, err := clientcmd.BuildConfigFromFlags("", c.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 1000, 1000
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	seedRBAC(t, client, r)
	settle(t, client)
	ix, err := rbac.ReadIndex(t.Context(), client)
	if err != nil {
		t.Fatal(err)
	}
	return client, r, ix
}

// TestRBACEvaluatorAgreesWithTheAPIServer: random roles, cluster roles
// (wildcards, subresources, resourceNames, non-resource URLs, one
// aggregated), random bindings to users, groups and service accounts,
// then random questions answered by rbac.Index.Decide and by
// SubjectAccessReview. There must be no disagreement.
func TestRBACEvaluatorAgreesWithTheAPIServer(t *testing.T) {
	seed, cases := propConfig(t)
	t.Logf("RBAC property test: seed %d, %d questions (KUBEACCESS_RBAC_SEED=%d reproduces it)", seed, cases, seed)
	client, r, ix := randomRBACCluster(t, seed)
	type question struct {
		user rbac.User
		req  rbac.Request
	}
	questions := make([]question, cases)
	for i := range questions {
		questions[i].user, questions[i].req = randomQuestion(r)
	}
	var (
		mu            sync.Mutex
		disagreements []string
		allowed       int
	)
	g, ctx := errgroup.WithContext(t.Context())
	g.SetLimit(16)
	for _, q := range questions {
		g.Go(func() error {
			want, err := sarAllows(ctx, client, q.user, q.req)
			if err != nil {
				return err
			}
			got := ix.Decide(q.user, q.req)
			mu.Lock()
			defer mu.Unlock()
			if want {
				allowed++
			}
			if got.Allowed != want && len(disagreements) < 5 {
				disagreements = append(disagreements, explainDisagreement(ix, q.user, q.req, want, got))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if allowed == 0 || allowed == cases {
		t.Fatalf("seed %d: the API server allowed %d of %d questions: the questions test nothing", seed, allowed, cases)
	}
	if len(disagreements) > 0 {
		t.Fatalf("seed %d (KUBEACCESS_RBAC_SEED=%d reproduces it): the evaluator disagrees with the API server:\n%s", seed, seed, strings.Join(disagreements, "\n"))
	}
	t.Logf("seed %d: %d questions, %d allowed, no disagreement", seed, cases, allowed)
}

// explainDisagreement shows the question and the RBAC that names the user.
func explainDisagreement(ix *rbac.Index, u rbac.User, q rbac.Request, want bool, got rbac.Decision) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %+v asks %+v: API server %v, evaluator %v (%d reasons)\n", u, q, want, got.Allowed, len(got.Reasons))
	for _, bnd := range ix.Bindings {
		for _, s := range bnd.Subjects {
			if s.Name == u.Name || slices.Contains(u.Groups, s.Name) || s.Kind == rbacv1.ServiceAccountKind && strings.HasSuffix(u.Name, ":"+s.Name) {
				fmt.Fprintf(&b, "    %s -> %s %s: %+v\n", bnd.Ref, bnd.RoleRef.Kind, bnd.RoleRef.Name, ix.Roles[bnd.RoleOf()])
				break
			}
		}
	}
	return b.String()
}

// TestPrivilegeRulesReviewAgreesWithTheFullReview: on random RBAC (the
// evaluator's property test's), the privilege review's shortcut
// (privilege.Rules: one rules review per identity and namespace, where it
// is the whole answer) gives every identity the answers the full review
// (one SubjectAccessReview per question) gives, to the catalogue, to the
// ways of running as another namespace's service accounts, and to random
// questions; and where the full review cannot tell (a binding to a
// missing role), neither can the shortcut.
func TestPrivilegeRulesReviewAgreesWithTheFullReview(t *testing.T) {
	seed, _ := propConfig(t)
	t.Logf("seed %d (KUBEACCESS_RBAC_SEED=%d reproduces it)", seed, seed)
	client, r, ix := randomRBACCluster(t, seed)
	attrs := privilege.CatalogueRequests()
	for _, ns := range propNamespaces {
		attrs = append(attrs, privilege.RunsAs(ns)...)
	}
	for range 150 {
		if _, q := randomQuestion(r); q.Path == "" {
			attrs = append(attrs, authorizationv1.ResourceAttributes{Verb: q.Verb, Group: q.Group, Resource: q.Resource, Subresource: q.Subresource, Name: q.Name, Namespace: q.Namespace})
		}
	}
	var ids []privilege.Identity
	for _, u := range propUsers {
		for range 2 {
			var groups []string
			for _, g := range propUserGroups {
				if r.IntN(2) == 0 {
					groups = append(groups, g)
				}
			}
			ids = append(ids, privilege.ForUser(u, groups))
		}
	}
	for _, a := range propAccounts {
		ids = append(ids, privilege.ForServiceAccount(a[0], a[1]))
	}
	ids = append(ids, privilege.ForUser("prop-root", []string{"system:masters"}))
	shortcut := &privilege.Rules{Client: client, Index: func(context.Context) (*rbac.Index, error) { return ix, nil }}
	full := privilege.SubjectAccessReviews{Client: client}
	var allowed, cannotTell int
	for _, id := range ids {
		want, wantErr := full.Allowed(t.Context(), id, attrs)
		got, gotErr := shortcut.Allowed(t.Context(), id, attrs)
		if (wantErr != nil) != (gotErr != nil) {
			t.Errorf("%+v: the full review says %v, the shortcut %v", id, wantErr, gotErr)
			continue
		}
		if wantErr != nil {
			cannotTell++
			continue
		}
		for _, a := range attrs {
			if got[a] != want[a] {
				t.Errorf("%+v may %s: the full review says %v, the shortcut %v", id, privilege.Describe(a), want[a], got[a])
			}
			if want[a] {
				allowed++
			}
		}
	}
	byRules, bySAR := shortcut.Answered()
	t.Logf("%d identities × %d questions: %d allowed, %d identities the full review cannot tell about; the shortcut answered %d (identity, namespace) pairs by rules reviews, %d by SubjectAccessReviews",
		len(ids), len(attrs), allowed, cannotTell, byRules, bySAR)
	if allowed == 0 || byRules == 0 || bySAR == 0 || shortcut.Unusable() != "" {
		t.Fatalf("the case tests nothing: %d allowed, %d pairs by rules, %d by SubjectAccessReviews, unusable: %q", allowed, byRules, bySAR, shortcut.Unusable())
	}
}
