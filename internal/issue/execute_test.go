package issue

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery/cached/memory"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/issue/issuetest"
	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/pki"
)

// fakeEngine is an engine on client-go fakes that answer reviews as an API
// server would for an admin whose subjects hold nothing, and serve pods.
func fakeEngine(t *testing.T) (*Engine, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset()
	issuetest.AnswerReviews(client, "admin")
	issuetest.NameRequests(client)
	disco := client.Discovery().(*fakediscovery.FakeDiscovery)
	disco.Resources = []*metav1.APIResourceList{{GroupVersion: "v1", APIResources: []metav1.APIResource{
		{Name: "pods", Namespaced: true, Kind: "Pod", Verbs: metav1.Verbs{"get", "list"}},
	}}}
	return New(client, memory.NewMemCacheClient(disco), kubeconfig.Cluster{Name: "fake", Server: "https://fake.invalid"}), client
}

func testPlan(source Source) *Plan {
	return &Plan{
		Action: "grant", Subject: Subject{User: "dave", Groups: []string{"dev"}}, Source: source, Namespace: "development", CreateNamespace: true,
		Access: AccessSpec{Verbs: []string{"get"}, Resources: []string{"pods"}}, RecordsNamespace: "kubeaccess-system",
	}
}

// Cancelling an Execute while it waits for the signer (the fake has none)
// undoes the namespace, role, binding and request it made, and says it was
// interrupted.
func TestExecuteInterruptedUndoesEverything(t *testing.T) {
	engine, client := fakeEngine(t)
	ctx, cancel := context.WithCancel(context.Background())
	plan := testPlan(&CSR{KeyType: pki.ECDSAP256, TTL: time.Hour, Approve: true, Timeout: time.Minute})
	plan.Events = func(e Event) {
		if strings.HasPrefix(e.Message, "applying the access") {
			go func() { time.Sleep(200 * time.Millisecond); cancel() }()
		}
	}
	_, err := engine.Execute(ctx, plan)
	if failure.ExitCode(err) != failure.ExitInterrupted || !strings.HasPrefix(err.Error(), "interrupted: no kubeconfig was written") {
		t.Fatalf("Execute after cancel: %v (exit %d)", err, failure.ExitCode(err))
	}
	for _, want := range []string{"was deleted", "Namespace development", "Role development/kubeaccess:user:dave", "RoleBinding development/kubeaccess:user:dave"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the interruption does not say %q was undone: %v", want, err)
		}
	}
	bg := context.Background()
	if rbs, _ := client.RbacV1().RoleBindings("development").List(bg, metav1.ListOptions{}); len(rbs.Items) > 0 {
		t.Errorf("role bindings left: %v", rbs.Items)
	}
	if reqs, _ := client.CertificatesV1().CertificateSigningRequests().List(bg, metav1.ListOptions{}); len(reqs.Items) > 0 {
		t.Errorf("requests left: %v", reqs.Items)
	}
	if nss, _ := client.CoreV1().Namespaces().List(bg, metav1.ListOptions{}); len(nss.Items) > 0 {
		t.Errorf("namespaces left: %v", nss.Items)
	}
}

// A plan is checked without I/O: a bad subject, namespace, access or
// lifetime is refused before the engine sends anything.
func TestPlanValidate(t *testing.T) {
	tests := map[string]struct {
		change func(*Plan)
		want   string
	}{
		"no source":           {func(p *Plan) { p.Source = nil }, "a plan needs a source"},
		"masters":             {func(p *Plan) { p.Subject.Groups = []string{"system:masters"} }, "system:masters"},
		"bad namespace":       {func(p *Plan) { p.Namespace = "Dev" }, `namespace "Dev" is not a valid name`},
		"two kinds of access": {func(p *Plan) { p.Access.Role = "r" }, "choose one of"},
		"bind group not his":  {func(p *Plan) { p.Access.BindGroup = "ops" }, `the group to bind "ops" must be one of the subject's groups`},
		"past max lifetime":   {func(p *Plan) { p.Policy.MaxTTL = time.Minute }, "the lifetime 1h0m0s is longer than the maximum 1m0s"},
		"offline with access": {func(p *Plan) { p.Offline = true }, "signing offline makes no API request, so it cannot bind RBAC"},
		"offline dry run": {func(p *Plan) { p.Offline, p.Access, p.DryRun = true, AccessSpec{}, DryRunServer },
			"signing offline creates no object, so a dry run has nothing to show"},
		"verb without resource": {func(p *Plan) { p.Access.Resources = nil }, "--verb needs --resource"},
		"resource without verb": {func(p *Plan) { p.Access.Verbs = nil }, "--resource needs --verb"},
		"cluster-wide Role":     {func(p *Plan) { p.Access = AccessSpec{Role: "r", ClusterWide: true} }, "--role binds a namespaced Role"},
		"cluster-wide, nothing": {func(p *Plan) { p.Access = AccessSpec{ClusterWide: true} }, "--cluster-wide needs access to grant"},
		"bind group, no access": {func(p *Plan) { p.Access = AccessSpec{BindGroup: "dev"} }, "--bind-group needs access to grant"},
		"bad user name":         {func(p *Plan) { p.Subject.User = "" }, "user"},
		"nodes group":           {func(p *Plan) { p.Subject.Groups = []string{"system:nodes"} }, "system:nodes"},
		"account elsewhere": {func(p *Plan) {
			*p = *testPlan(&Token{Duration: time.Hour})
			p.Subject = ServiceAccountSubject("ci", "bot")
		}, `service account ci/bot is not in namespace "development"`},
		"account invalid name": {func(p *Plan) {
			p.Subject = ServiceAccountSubject("development", "Bot")
			p.Source = &Token{Duration: time.Hour}
		}, `service account name "Bot" is not valid`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := testPlan(&CSR{TTL: time.Hour})
			tc.change(p)
			if err := p.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
	if err := testPlan(&CSR{TTL: time.Hour}).Validate(); err != nil {
		t.Errorf("a good plan: %v", err)
	}
}
