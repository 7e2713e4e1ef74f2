package issuing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/privilege"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// Checks are a command's own parts of the preflight.
type Checks struct {
	// Command names the command in messages ("grant", "token").
	Command string
	// Required are the permissions the command needs besides those of
	// binding the access.
	Required []verify.Permission
	// Subject and Base name the binding (see PlanAccess).
	Subject rbacv1.Subject
	Base    string
	// Policy, when set, runs alongside the other checks.
	Policy func(ctx context.Context) error
	// DryRun asks nothing of permissions.
	DryRun bool
	// InNamespace says the credential itself lives in the namespace (a
	// ServiceAccount), which then must exist even without access to bind.
	InNamespace bool
	// Identity is who the credential will authenticate as. Unless
	// --allow-privileged, the API server is asked whether it holds, or
	// with the access would hold, escalation-grade permissions.
	Identity privilege.Identity
	// RefuseExistingAccess refuses an identity that bindings kubeaccess
	// did not make already give access (approving a request made by
	// someone else would hand it over).
	RefuseExistingAccess bool
	// Refusing starts the message of a refusal by the command's own
	// policy ("refusing to approve").
	Refusing string
}

// Preflight makes the read-only checks that precede any change: the
// admin's permissions, the command's policy, the access plan and the
// namespace. They are independent, so they run concurrently; issuing
// otherwise spends most of its time waiting on these round trips. Missing
// permissions are reported before any other failure, since they explain it.
// It returns the access to bind and whether the namespace must be created.
func (is *Issuer) Preflight(ctx context.Context, c Checks) (acc *Access, createNamespace bool, err error) {
	var (
		wg                                 sync.WaitGroup
		missing                            []verify.Permission
		permErr, policyErr, planErr, nsErr error
		nsExists                           bool
		recordsNsExists                    = true
		recordsErr                         error
		held                               privilege.Held
		heldErr                            error
		index                              *rbac.Index
		indexErr                           error
	)
	// Asked alone first: it opens the connection the concurrent checks
	// then share, where concurrent requests on a fresh client would each
	// dial, and it tells who is issuing.
	if is.Identity, err = whoIssues(ctx, is); err != nil {
		return nil, false, err
	}
	if !c.DryRun && !is.Identity.Unrestricted() {
		// Creating the namespace is asked about up front, and only counts
		// if the namespace turns out to be missing.
		perms := unique(slices.Concat(c.Required, is.privilegePermissions(), is.accessPermissions(), is.recordPermissions(), createNamespacePermissions))
		wg.Go(func() { missing, permErr = verify.MissingBatched(ctx, is.Client, perms) })
	}
	if !is.AllowPrivileged {
		wg.Go(func() { held, heldErr = privilege.Review(ctx, is.Client, c.Identity) })
	}
	if c.Identity.User != "" {
		wg.Go(func() { index, indexErr = rbac.ReadCachedIndex(ctx, is.Client) })
	}
	if c.Policy != nil {
		wg.Go(func() { policyErr = c.Policy(ctx) })
	}
	wg.Go(func() { acc, planErr = is.PlanAccess(ctx, c.Subject, c.Base) })
	needsNamespace := c.InNamespace || is.HasAccess() && !is.ClusterWide
	wg.Go(func() { nsExists, nsErr = is.namespaceExists(ctx, needsNamespace) })
	if !c.DryRun && !is.NoRecord {
		// The records namespace is created on first use, which needs the
		// same permissions as creating the access's namespace.
		wg.Go(func() { recordsNsExists, recordsErr = is.records().CheckNamespace(ctx) })
	}
	wg.Wait()
	if permErr != nil {
		return nil, false, permErr
	}
	createNamespace = needsNamespace && !nsExists
	if !createNamespace && recordsNsExists {
		missing = slices.DeleteFunc(missing, func(p verify.Permission) bool { return slices.Contains(createNamespacePermissions, p) })
	}
	if len(missing) > 0 && !slices.ContainsFunc(missing, func(p verify.Permission) bool { return !slices.Contains(is.privilegePermissions(), p) }) {
		return nil, false, cmdutil.UsageErrorf("refusing to issue a credential to %q: cannot tell whether it holds escalation-grade permissions, "+
			"since you may not %s; nothing was created; pass --allow-privileged to issue without this check", c.Identity.User, missing[0])
	}
	if err := permissionError(c.Command, missing); err != nil {
		return nil, false, err
	}
	if err := errors.Join(planErr, nsErr, recordsErr); err != nil {
		return nil, false, err
	}
	// Escalation first: it is the graver refusal, and the command's own
	// policy (existing access, say) is often a symptom of it.
	if err := RefusePrivileged(ctx, is.Client, is.ErrOut, is.AllowPrivileged, c.Identity, held, heldErr, acc.Grants()); err != nil {
		return nil, false, err
	}
	if policyErr != nil {
		return nil, false, policyErr
	}
	if err := is.checkIndex(c, index, indexErr, acc); err != nil {
		return nil, false, err
	}
	if createNamespace && !is.CreateNamespace {
		return nil, false, cmdutil.UsageErrorf("namespace %q does not exist and --create-namespace=false", is.Namespace)
	}
	return acc, createNamespace, nil
}

// whoIssues asks who the admin is, as the API server sees them; it is
// recorded with what they issue. An API server without SelfSubjectReview
// leaves it unknown.
func whoIssues(ctx context.Context, is *Issuer) (*verify.Identity, error) {
	id, err := verify.WhoAmI(ctx, is.Client)
	if errors.Is(err, verify.ErrSelfSubjectReviewUnavailable) {
		return nil, nil
	}
	return id, err
}

// namespaceExists reads the namespace when it is needed.
func (is *Issuer) namespaceExists(ctx context.Context, needed bool) (bool, error) {
	if !needed {
		return true, nil
	}
	return is.namespaceNamedExists(ctx, is.Namespace)
}

func (is *Issuer) namespaceNamedExists(ctx context.Context, name string) (bool, error) {
	_, err := is.Client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("reading namespace %s: %w", name, err)
	}
	return true, nil
}

// createNamespacePermissions are needed only when the namespace is missing;
// it is applied server-side like the rest.
var createNamespacePermissions = []verify.Permission{{Verb: "create", Resource: "namespaces"}, {Verb: "patch", Resource: "namespaces"}}

// accessPermissions lists what binding the access needs, worked out from
// the flags alone so it can be checked before anything is read.
func (is *Issuer) accessPermissions() []verify.Permission {
	const rbacGroup = rbacv1.GroupName
	if !is.HasAccess() {
		return nil
	}
	var perms []verify.Permission
	namespace := is.Namespace
	if is.ClusterWide {
		namespace = ""
	} else {
		perms = append(perms, verify.Permission{Verb: "get", Resource: "namespaces", Name: is.Namespace})
	}
	// Objects are created, or applied server-side (patch) where they exist.
	write := func(resource string) {
		for _, verb := range []string{"create", "patch"} {
			perms = append(perms, verify.Permission{Verb: verb, Group: rbacGroup, Resource: resource, Namespace: namespace})
		}
	}
	switch {
	case is.Role != "":
		perms = append(perms, verify.Permission{Verb: "get", Group: rbacGroup, Resource: "roles", Name: is.Role, Namespace: namespace})
	case is.ClusterRole != "":
		perms = append(perms, verify.Permission{Verb: "get", Group: rbacGroup, Resource: "clusterroles", Name: is.ClusterRole})
	case is.ClusterWide:
		write("clusterroles")
	default:
		write("roles")
	}
	if is.ClusterWide {
		write("clusterrolebindings")
	} else {
		write("rolebindings")
	}
	return perms
}

// permissionError names each permission the admin lacks.
func permissionError(command string, missing []verify.Permission) error {
	if len(missing) == 0 {
		return nil
	}
	lines := make([]string, len(missing))
	for i, p := range missing {
		lines[i] = "  " + p.String()
	}
	return cmdutil.DeniedErrorf("you lack permissions this %s needs; nothing was created:\n%s", command, strings.Join(lines, "\n"))
}

// privilegePermissions are what asking about the identity's privilege needs.
func (is *Issuer) privilegePermissions() []verify.Permission {
	if is.AllowPrivileged {
		return nil
	}
	return []verify.Permission{{Verb: "create", Group: "authorization.k8s.io", Resource: "subjectaccessreviews"}}
}

// RefusePrivileged refuses to issue to an identity that holds, or with
// grants would hold, escalation-grade permissions, and, failing closed,
// when the API server could not say (heldErr), unless allow.
func RefusePrivileged(ctx context.Context, client kubernetes.Interface, errOut io.Writer, allow bool, id privilege.Identity, held privilege.Held, heldErr error, grants []privilege.Grant) error {
	if allow {
		fmt.Fprintf(errOut, "warning: --allow-privileged: %q was not checked for escalation-grade permissions\n", id.User)
		return nil
	}
	if heldErr != nil {
		return cmdutil.UsageErrorf("refusing to issue a credential to %q: cannot tell whether it holds escalation-grade permissions (%v); "+
			"nothing was created; pass --allow-privileged to issue without this check", id.User, heldErr)
	}
	findings := held.Findings(grants...)
	if len(findings) == 0 {
		return nil
	}
	return cmdutil.UsageErrorf("refusing to issue a credential to %q: it would hold escalation-grade permissions; nothing was created:\n%s\n"+
		"pass --allow-privileged if this is really intended", id.User, privilege.Explain(ctx, client, id, findings))
}

// checkIndex makes the checks that read the cluster's bindings and roles,
// from one read: existing access (when asked), objects in the way of the
// access, and what the identity has beyond it.
func (is *Issuer) checkIndex(c Checks, index *rbac.Index, indexErr error, acc *Access) error {
	if c.RefuseExistingAccess {
		if indexErr != nil {
			return cmdutil.UsageErrorf("cannot tell whether %q already has access through other bindings (%v); pass --allow-existing-access to go on anyway", c.Identity.User, indexErr)
		}
		if err := existingAccess(index, c.Identity); err != nil {
			return fmt.Errorf("%s: %w", c.Refusing, err)
		}
	}
	if acc != nil && indexErr == nil {
		if err := index.CheckAdoptable(acc.Objects()); err != nil {
			return cmdutil.UsageErrorf("%w", err)
		}
	}
	return is.reportBeyond(c.Identity, index, indexErr, acc)
}

// existingAccess refuses an identity that bindings kubeaccess did not
// make already name, as the user or one of the groups it is issued: a
// certificate for it hands that access to whoever holds the key.
func existingAccess(index *rbac.Index, id privilege.Identity) error {
	var found []string
	// Every credential is in system:authenticated: what that gives is no
	// access of this subject's.
	groups := slices.DeleteFunc(slices.Clone(id.Groups), func(g string) bool { return g == privilege.Authenticated })
	for _, b := range index.BindingsNaming(rbac.User{Name: id.User, Groups: groups}) {
		if !b.ManagedByKubeaccess() && !b.Bootstrap() {
			found = append(found, fmt.Sprintf("%s (%s %q)", b.Ref.Display(), b.RoleRef.Kind, b.RoleRef.Name))
		}
	}
	if len(found) == 0 {
		return nil
	}
	return cmdutil.UsageErrorf("%q, or one of its groups %q, already has access through bindings kubeaccess did not make:\n  %s\n"+
		"a certificate for it gives that access to whoever holds the key; pass --allow-existing-access if that is intended", id.User, groups, strings.Join(found, "\n  "))
}

// unique drops repeated permissions, keeping the first of each.
func unique(perms []verify.Permission) []verify.Permission {
	var out []verify.Permission
	for _, p := range perms {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// reportBeyond says what other bindings already give the identity beyond
// this grant, and where; with --strict that is a refusal. Without the
// bindings it can only say so, and --strict refuses.
func (is *Issuer) reportBeyond(id privilege.Identity, index *rbac.Index, indexErr error, acc *Access) error {
	if id.User == "" {
		return nil
	}
	if indexErr != nil {
		if is.Strict {
			return cmdutil.UsageErrorf("refusing with --strict: cannot tell what else %q may do (%v); nothing was created", id.User, indexErr)
		}
		fmt.Fprintf(is.ErrOut, "warning: cannot tell what else %q may do besides this grant: %v\n", id.User, indexErr)
		return nil
	}
	var (
		namespace string
		rules     []rbacv1.PolicyRule
		skip      []rbac.Ref
	)
	if acc != nil {
		namespace, rules = acc.Namespace, acc.Rules
		if ref, err := rbac.RefOf(acc.Binding); err == nil {
			skip = append(skip, ref)
		}
	}
	extra := index.Beyond(rbac.User{Name: id.User, Groups: id.Groups}, namespace, rules, skip)
	if len(extra) == 0 {
		return nil
	}
	lines := make([]string, len(extra))
	for i, r := range extra {
		lines[i] = "  " + r.Describe()
	}
	if is.Strict {
		return cmdutil.UsageErrorf("refusing with --strict: besides what is granted, %q would be allowed, through bindings already in place:\n%s\nnothing was created",
			id.User, strings.Join(lines, "\n"))
	}
	fmt.Fprintf(is.ErrOut, "note: besides what is granted, %q is allowed, through bindings already in place:\n%s\n", id.User, strings.Join(lines, "\n"))
	return nil
}
