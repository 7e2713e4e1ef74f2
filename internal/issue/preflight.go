package issue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/privilege"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// preflighted is what the read-only checks worked out.
type preflighted struct {
	access          *Access
	createNamespace bool
	needed          []runtime.Object
}

// preflight makes the read-only checks that precede any change: the
// issuer's permissions, the source's own checks, the access, the
// namespace and the identity's privilege. They are independent, so they run
// concurrently; issuing otherwise spends most of its time waiting on these
// round trips. Missing permissions are reported before any other failure,
// since they explain it.
func (x *Execution) preflight(ctx context.Context) (preflighted, error) {
	var (
		p                                                          = x.Plan
		out                                                        preflighted
		wg                                                         sync.WaitGroup
		missing                                                    []verify.Permission
		permErr, sourceErr, accessErr, nsErr, recordsErr, freshErr error
		nsExists                                                   bool
		recordsNsExists                                            = true
		held                                                       privilege.Held
		heldErr                                                    error
		index                                                      *rbac.Index
		indexErr                                                   error
	)
	// Who issues is asked first, alone: it decides whether their
	// permissions need asking about, and its request opens the one
	// connection every later request shares (requests made at once before
	// it is open would each open their own, a TLS handshake apiece).
	var err error
	if x.Issuer, err = x.Engine.WhoIssues(ctx); err != nil {
		return out, err
	}
	identity := x.identity()
	if p.DryRun == DryRunNone && !x.Issuer.Unrestricted() {
		// Creating the namespace is asked about up front, and only counts
		// if the namespace turns out to be missing.
		perms := verify.Unique(slices.Concat(p.Source.Permissions(p), PrivilegePermissions(p.Policy.AllowPrivileged), AccessPermissions(p.Access, p.Namespace), RecordPermissions(p.RecordsNamespace), CreateNamespacePermissions))
		wg.Go(func() { missing, permErr = x.Engine.missing(ctx, perms) })
	}
	if !p.Policy.AllowPrivileged {
		wg.Go(func() { held, heldErr = privilege.Review(ctx, x.Engine.asker, identity) })
	}
	wg.Go(func() { index, indexErr = x.Engine.readIndex(ctx) })
	wg.Go(func() { x.issuance, sourceErr = p.Source.Prepare(ctx, x) })
	wg.Go(func() { out.access, accessErr = x.resolveAccess(ctx) })
	needsNamespace := p.Subject.ServiceAccount != nil || !p.Access.Empty() && !p.Access.ClusterWide
	wg.Go(func() { nsExists, nsErr = x.Engine.namespaceExists(ctx, p.Namespace, needsNamespace) })
	if needsNamespace && !p.Policy.AllowPrivileged && p.Subject.ServiceAccount == nil {
		wg.Go(func() { x.Engine.prefetchAccounts(ctx, p.Namespace) })
	}
	if p.DryRun == DryRunNone && p.RecordsNamespace != "" {
		// The records namespace is created on first use, which needs the
		// same permissions as creating the access's namespace.
		wg.Go(func() { recordsNsExists, recordsErr = x.Engine.recordsNamespaceExists(ctx, x.records()) })
	}
	if p.Subject.CredentialGroup != "" && p.RecordsNamespace != "" {
		wg.Go(func() { freshErr = x.checkCredentialGroupUnused(ctx) })
	}
	wg.Wait()
	if permErr != nil {
		return out, permErr
	}
	out.createNamespace = needsNamespace && !nsExists
	if !out.createNamespace && recordsNsExists {
		missing = slices.DeleteFunc(missing, func(p verify.Permission) bool { return slices.Contains(CreateNamespacePermissions, p) })
	}
	privilegeReads := PrivilegePermissions(p.Policy.AllowPrivileged)
	if len(missing) > 0 && !slices.ContainsFunc(missing, func(m verify.Permission) bool { return !slices.Contains(privilegeReads, m) }) {
		return out, failure.UsageErrorf("refusing to issue a credential to %q: cannot tell whether it holds escalation-grade permissions, "+
			"since you may not %s; nothing was created; pass --allow-privileged to issue without this check", identity.User, missing[0])
	}
	if err := permissionError(p.Action, missing); err != nil {
		return out, err
	}
	if err := errors.Join(accessErr, nsErr, recordsErr); err != nil {
		return out, err
	}
	if err := x.checkOnBehalf(ctx, out); err != nil {
		return out, err
	}
	// Escalation first: it is the graver refusal, and the other checks
	// (existing access, say) are often a symptom of it.
	if err := x.refusePrivileged(ctx, held, heldErr, append(out.access.Grants(), p.Bound.Grants...), index, indexErr); err != nil {
		return out, err
	}
	if err := errors.Join(sourceErr, freshErr); err != nil {
		return out, err
	}
	out.needed = x.issuance.Needed()
	if p.Destination.renews() {
		out.needed = append(out.needed, renewerObjects(p.Subject)...)
	}
	if err := x.checkIndex(index, indexErr, out.access); err != nil {
		return out, err
	}
	if out.createNamespace && !p.CreateNamespace {
		return out, failure.UsageErrorf("namespace %q does not exist and --create-namespace=false", p.Namespace)
	}
	return out, nil
}

// checkOnBehalf refuses access that the person the plan acts for could
// not bind themselves, failing closed when the API server cannot say.
func (x *Execution) checkOnBehalf(ctx context.Context, out preflighted) error {
	who := x.Plan.OnBehalfOf
	if who == nil {
		return nil
	}
	var objs []privilege.Object
	for _, obj := range out.access.Objects() {
		objs = append(objs, privilege.Object{Obj: obj, Rules: out.access.Rules})
	}
	createNamespace := ""
	if out.createNamespace {
		createNamespace = x.Plan.Namespace
	}
	if err := privilege.CheckAuthority(ctx, x.Client, *who, createNamespace, objs); err != nil {
		return failure.DeniedErrorf("%s: this is done on %q's behalf, and %w; nothing was created", x.refusing(), who.Username, err)
	}
	return nil
}

// identity is who the credential will authenticate as, for the privilege
// checks.
func (x *Execution) identity() privilege.Identity {
	s := x.Plan.Subject
	if sa := s.ServiceAccount; sa != nil {
		return privilege.ForServiceAccount(sa.Namespace, sa.Name)
	}
	return privilege.ForUser(s.User, s.Groups)
}

// WhoIssues asks, once per engine, who issues, as the API server sees
// them; it is recorded with what they issue. An API server without
// SelfSubjectReview leaves it unknown.
func (e *Engine) WhoIssues(ctx context.Context) (*verify.Identity, error) {
	return e.issuer.get(func() (*verify.Identity, error) {
		id, err := verify.WhoAmI(ctx, e.client)
		if errors.Is(err, verify.ErrSelfSubjectReviewUnavailable) {
			return nil, nil
		}
		return id, err
	})
}

// missing returns those of perms the issuer lacks, asked once per engine
// for each set of permissions.
func (e *Engine) missing(ctx context.Context, perms []verify.Permission) ([]verify.Permission, error) {
	keys := make([]string, len(perms))
	for i, p := range perms {
		keys[i] = p.String()
	}
	b := e.base()
	m := keyed(b, b.lacking, strings.Join(keys, "\n"))
	got, err := m.get(func() ([]verify.Permission, error) { return verify.MissingBatched(ctx, e.client, perms) })
	return slices.Clone(got), err
}

// readIndex reads the roles and bindings once per engine, from the watch
// cache.
func (e *Engine) readIndex(ctx context.Context) (*rbac.Index, error) {
	return e.index.get(func() (*rbac.Index, error) { return rbac.ReadCachedIndex(ctx, e.client) })
}

// UseIndex gives the engine the roles and bindings its caller has just
// read, so that its checks do not read them again.
func (e *Engine) UseIndex(ix *rbac.Index) {
	_, _ = e.index.get(func() (*rbac.Index, error) { return ix, nil })
}

// serviceAccounts reviews the service accounts of a namespace, once per
// engine.
func (e *Engine) serviceAccounts(ctx context.Context, ix *rbac.Index, namespace string) ([]privilege.Account, error) {
	return keyed(e, e.accounts, namespace).get(func() ([]privilege.Account, error) {
		listed, err := e.accountNamesIn(ctx, namespace)
		if err != nil {
			return nil, err
		}
		return privilege.Accounts(ctx, e.asker, listed, ix, namespace)
	})
}

// accountNamesIn lists a namespace's service accounts, once per engine.
func (e *Engine) accountNamesIn(ctx context.Context, namespace string) ([]string, error) {
	return keyed(e, e.accountNames, namespace).get(func() ([]string, error) {
		return privilege.ServiceAccountNames(ctx, e.client, namespace)
	})
}

// prefetchAccounts starts, while the bindings are read, the reviews of the
// service accounts of the namespace an access is bound in: whoever may run
// workloads there runs as them, and the check of that (runsAsFindings)
// otherwise waits for the bindings, then for the list, then for the
// reviews. Only rules reviews are made ahead (privilege.Rules.Warm), never
// SubjectAccessReviews; a failure here is left for the check itself to
// meet and report.
func (e *Engine) prefetchAccounts(ctx context.Context, namespace string) {
	rules, ok := e.asker.(*privilege.Rules)
	if !ok || rules.Unusable() != "" {
		return
	}
	listed, err := e.accountNamesIn(ctx, namespace)
	if err != nil {
		return
	}
	var wg sync.WaitGroup
	for _, name := range append(listed, "default") {
		wg.Go(func() { rules.Warm(ctx, privilege.ForServiceAccount(namespace, name)) })
	}
	wg.Wait()
}

// powerfulAccounts are a namespace's accounts that hold catalogue entries,
// directly or through the accounts they run as, worked out once per engine.
func (e *Engine) powerfulAccounts(ctx context.Context, ix *rbac.Index, namespace string) ([]privilege.Account, error) {
	of := func(ctx context.Context, ns string) ([]privilege.Account, error) {
		return e.serviceAccounts(ctx, ix, ns)
	}
	return keyed(e, e.powerful, namespace).get(func() ([]privilege.Account, error) {
		return privilege.Powerful(ctx, e.asker, ix, namespace, nil, of)
	})
}

// recordsNamespaceExists checks the records namespace (records.Store's
// CheckNamespace) until it is found to exist, then no more in this
// engine: a run's first issuance creates it, and the rest find it.
func (e *Engine) recordsNamespaceExists(ctx context.Context, store records.Store) (bool, error) {
	m := keyed(e, e.recordsNamespace, store.Namespace)
	exists, err := m.get(func() (bool, error) { return store.CheckNamespace(ctx) })
	if !exists {
		m.reset()
	}
	return exists, err
}

// namespaceExists reads a namespace when it is needed, once per engine.
func (e *Engine) namespaceExists(ctx context.Context, name string, needed bool) (bool, error) {
	if !needed {
		return true, nil
	}
	return keyed(e, e.namespaces, name).get(func() (bool, error) {
		_, err := e.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		} else if err != nil {
			return false, fmt.Errorf("reading namespace %s: %w", name, err)
		}
		return true, nil
	})
}
