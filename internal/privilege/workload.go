package privilege

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	rbacvalidation "k8s.io/component-helpers/auth/rbac/validation"

	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// A workload is as powerful as the service accounts it may run as: whoever
// may create or change a pod in a namespace (directly, through any
// pod-template kind, by exec or attach), mint or read a token there, or
// impersonate its service accounts, holds what each of them holds. The
// catalogue already says so of kube-system; this says it of every other
// namespace whose accounts hold a catalogue entry, directly or through the
// accounts they run as (the records namespace, where kubeaccess serve runs,
// is one once deploy/ is installed).

// RunsAsID names the findings of a service account run as.
const RunsAsID = "runs-as-serviceaccount"

// runsAs are the requests with which one runs code as, or takes the
// tokens of, any service account of a namespace.
var runsAs = slices.Concat(
	[]authorizationv1.ResourceAttributes{
		{Verb: "create", Resource: "pods"},
		{Verb: "create", Resource: "pods", Subresource: "exec"},
		{Verb: "create", Resource: "pods", Subresource: "attach"},
		{Verb: "create", Resource: "pods", Subresource: "portforward"},
		{Verb: "create", Resource: "serviceaccounts", Subresource: "token"},
		{Verb: "impersonate", Resource: "serviceaccounts"},
		// A Secret of type service-account-token is filled with a token
		// for any account named in it; legacy token Secrets are read.
		{Verb: "create", Resource: "secrets"},
		{Verb: "get", Resource: "secrets"},
		{Verb: "list", Resource: "secrets"},
	},
	podChanges, workloadWrites)

// RunsAs are the requests in namespace with which one runs as any of its
// service accounts.
func RunsAs(namespace string) AnyOf { return inNamespace(runsAs, namespace) }

// Account is a service account and what it holds: catalogue entries, or
// (from Powerful) the accounts it runs as that hold them.
type Account struct {
	Namespace, Name string
	Findings        []Finding
}

// String names the account and what it holds: catalogue entries, or the
// accounts it runs as that hold them.
func (a Account) String() string {
	var held []string
	for _, f := range a.Findings {
		if f.Entry.ID == RunsAsID {
			held = append(held, f.Entry.Reason)
		} else {
			held = append(held, f.Entry.ID)
		}
	}
	if len(held) > 0 && a.Findings[0].Entry.ID == RunsAsID {
		return fmt.Sprintf("service account %s/%s, which %s", a.Namespace, a.Name, strings.Join(held, "; "))
	}
	return fmt.Sprintf("service account %s/%s, which holds %s", a.Namespace, a.Name, strings.Join(held, ", "))
}

// Powerful reports whether the account holds anything of the catalogue.
func (a Account) Powerful() bool { return len(a.Findings) > 0 }

// ServiceAccountNames lists the names of namespace's service accounts,
// from the watch cache.
func ServiceAccountNames(ctx context.Context, client kubernetes.Interface, namespace string) ([]string, error) {
	list, err := client.CoreV1().ServiceAccounts(namespace).List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return nil, fmt.Errorf("listing the service accounts of namespace %s, whose workloads run as them: %w", namespace, err)
	}
	names := make([]string, len(list.Items))
	for i, sa := range list.Items {
		names[i] = sa.Name
	}
	return names, nil
}

// Accounts asks, through asker, what each service account of namespace
// holds of the catalogue, and returns them all, each with its findings
// (none for most). The accounts are those that exist (listed, from
// ServiceAccountNames), those a binding in ix names (one may be created
// later, under a binding made for it), and default, which every namespace
// has or will have; an account's groups (system:serviceaccounts and
// system:serviceaccounts:NS) are part of each review. An error means it
// could not tell, and callers refuse.
func Accounts(ctx context.Context, asker Asker, listed []string, ix *rbac.Index, namespace string) ([]Account, error) {
	names := map[string]bool{"default": true}
	for _, name := range listed {
		names[name] = true
	}
	for _, b := range ix.Bindings {
		for _, s := range b.Subjects {
			if s.Kind != rbacv1.ServiceAccountKind {
				continue
			}
			ns := s.Namespace
			if ns == "" {
				ns = b.Ref.Namespace
			}
			if ns == namespace && s.Name != "" {
				names[s.Name] = true
			}
		}
	}
	sorted := slices.Sorted(maps.Keys(names))
	out := make([]Account, len(sorted))
	g, ctx := errgroup.WithContext(ctx)
	// Each review asks its own questions concurrently.
	g.SetLimit(4)
	for i, name := range sorted {
		g.Go(func() error {
			held, err := Review(ctx, asker, ForServiceAccount(namespace, name))
			if err != nil {
				return err
			}
			out[i] = Account{Namespace: namespace, Name: name, Findings: held.Findings()}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// AccountsOf returns a namespace's accounts, each with its own findings
// (Accounts, or a memo of it).
type AccountsOf func(ctx context.Context, namespace string) ([]Account, error)

// Powerful are the accounts of namespace that hold catalogue entries,
// directly or by running workloads as an account of another namespace
// that does, however many namespaces away: whoever runs as the first runs
// as the last. Which namespaces an account reaches its RBAC bindings say
// (WorkloadNamespaces); the API server confirms it may run workloads there.
// A namespace already being judged on this path adds nothing new, so a
// cycle ends there.
func Powerful(ctx context.Context, asker Asker, ix *rbac.Index, namespace string, visiting []string, of AccountsOf) ([]Account, error) {
	all, err := of(ctx, namespace)
	if err != nil {
		return nil, err
	}
	visiting = append(slices.Clone(visiting), namespace)
	var out []Account
	for _, acc := range all {
		if acc.Powerful() {
			out = append(out, acc)
			continue
		}
		id := ForServiceAccount(namespace, acc.Name)
		var reached []Account
		for _, ns := range WorkloadNamespaces(ix, id, nil) {
			if slices.Contains(visiting, ns) {
				continue
			}
			accs, err := Powerful(ctx, asker, ix, ns, visiting, of)
			if err != nil {
				return nil, err
			}
			reached = append(reached, accs...)
		}
		if len(reached) == 0 {
			continue
		}
		findings, err := RunsAsFindings(ctx, asker, id, reached, nil)
		if err != nil {
			return nil, err
		}
		if len(findings) > 0 {
			out = append(out, Account{Namespace: namespace, Name: acc.Name, Findings: findings})
		}
	}
	return out, nil
}

// WorkloadNamespaces are the namespaces whose service accounts id could run
// as: those where grants give a request of RunsAs, and those where a
// RoleBinding in ix naming id does. Where id may run workloads
// cluster-wide, kube-system is among them, which the catalogue covers.
// Authorizers other than RBAC that allow id workloads in a namespace are
// not seen here: only in namespaces that grants or bindings reach.
func WorkloadNamespaces(ix *rbac.Index, id Identity, grants []Grant) []string {
	set := map[string]bool{}
	for _, g := range grants {
		if g.Namespace != "" && slices.ContainsFunc(RunsAs(g.Namespace), g.covers) {
			set[g.Namespace] = true
		}
	}
	if ix != nil {
		for _, b := range ix.BindingsNaming(id.RBACUser()) {
			ns := b.Ref.Namespace
			if ns == "" || set[ns] {
				continue
			}
			rules := ix.Roles[b.RoleOf()]
			if slices.ContainsFunc(RunsAs(ns), func(a authorizationv1.ResourceAttributes) bool {
				ok, _ := rbacvalidation.Covers(rules, []rbacv1.PolicyRule{ruleOf(a)})
				return ok
			}) {
				set[ns] = true
			}
		}
	}
	delete(set, SystemNamespace)
	return slices.Sorted(maps.Keys(set))
}

// RunsAsFindings are, for each of accounts that is Powerful, the finding
// that id holds or with grants would hold a way to run as it: the first
// request of RunsAs that the API server allows id in the account's
// namespace, or that a grant gives.
func RunsAsFindings(ctx context.Context, asker Asker, id Identity, accounts []Account, grants []Grant) ([]Finding, error) {
	byNamespace := map[string][]Account{}
	for _, a := range accounts {
		if a.Powerful() {
			byNamespace[a.Namespace] = append(byNamespace[a.Namespace], a)
		}
	}
	var out []Finding
	for _, ns := range slices.Sorted(maps.Keys(byNamespace)) {
		attrs := RunsAs(ns)
		allowed, err := asker.Allowed(ctx, id, attrs)
		if err != nil {
			return nil, err
		}
		a, by, ok := satisfy(attrs, allowed, grants)
		if !ok {
			continue
		}
		for _, acc := range byNamespace[ns] {
			out = append(out, Finding{
				Entry:     Entry{ID: RunsAsID, Reason: "runs as " + acc.String()},
				Held:      []authorizationv1.ResourceAttributes{a},
				GrantedBy: []string{by},
			})
		}
	}
	return out, nil
}
