package issue

import (
	"context"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/privilege"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// refusePrivileged refuses to issue to an identity that holds, or with
// grants would hold, escalation-grade permissions, directly or by running
// workloads as a service account that holds them, and, failing closed,
// when the API server could not say (heldErr), unless the policy allows.
func (x *Execution) refusePrivileged(ctx context.Context, held privilege.Held, heldErr error, grants []privilege.Grant, index *rbac.Index, indexErr error) error {
	id := x.identity()
	if x.Plan.Policy.AllowPrivileged {
		x.Emit(Warning, "--allow-privileged: %q was not checked for escalation-grade permissions", id.User)
		return nil
	}
	cannotTell := func(err error) error {
		return failure.UsageErrorf("refusing to issue a credential to %q: cannot tell whether it holds escalation-grade permissions (%v); "+
			"nothing was created; pass --allow-privileged to issue without this check", id.User, err)
	}
	if heldErr != nil {
		return cannotTell(heldErr)
	}
	findings := held.Findings(grants...)
	if len(findings) == 0 {
		var err error
		if findings, err = x.runsAsFindings(ctx, id, grants, index, indexErr); err != nil {
			return cannotTell(err)
		}
	}
	if len(findings) == 0 {
		return nil
	}
	return failure.UsageErrorf("refusing to issue a credential to %q: it would hold escalation-grade permissions; nothing was created:\n%s\n"+
		"pass --allow-privileged if this is really intended", id.User, privilege.Explain(ctx, x.Client, id, findings))
}

// runsAsFindings are the service accounts holding catalogue entries that
// id could run workloads as, in the namespaces its grants and bindings
// reach (the records namespace, where kubeaccess serve runs, among them
// when they reach it).
func (x *Execution) runsAsFindings(ctx context.Context, id privilege.Identity, grants []privilege.Grant, index *rbac.Index, indexErr error) ([]privilege.Finding, error) {
	if indexErr != nil {
		return nil, indexErr
	}
	var accounts []privilege.Account
	for _, ns := range privilege.WorkloadNamespaces(index, id, grants) {
		accs, err := x.Engine.powerfulAccounts(ctx, index, ns)
		if err != nil {
			return nil, err
		}
		accounts = append(accounts, accs...)
	}
	if len(accounts) == 0 {
		return nil, nil
	}
	return privilege.RunsAsFindings(ctx, x.Engine.asker, id, accounts, grants)
}

// refusing starts a refusal by the plan's own policy.
func (x *Execution) refusing() string {
	if x.Plan.Refusing != "" {
		return x.Plan.Refusing
	}
	return "refusing to issue"
}

// checkIndex makes the checks that read the cluster's bindings and roles,
// from one read: existing access (when the policy asks), objects in the
// way of the access, and what the identity has beyond it.
func (x *Execution) checkIndex(index *rbac.Index, indexErr error, acc *Access) error {
	id := x.identity()
	if x.Plan.Policy.RefuseExistingAccess {
		if indexErr != nil {
			return failure.UsageErrorf("cannot tell whether %q already has access through other bindings (%v); pass --allow-existing-access to go on anyway", id.User, indexErr)
		}
		if err := existingAccess(index, id); err != nil {
			return fmt.Errorf("%s: %w", x.refusing(), err)
		}
	}
	if acc != nil && indexErr == nil {
		if err := index.CheckAdoptable(acc.Objects()); err != nil {
			return failure.UsageErrorf("%w", err)
		}
	}
	return x.reportBeyond(index, indexErr, acc)
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
	return failure.UsageErrorf("%q, or one of its groups %q, already has access through bindings kubeaccess did not make:\n  %s\n"+
		"a certificate for it gives that access to whoever holds the key; pass --allow-existing-access if that is intended", id.User, groups, strings.Join(found, "\n  "))
}

// reportBeyond says what other bindings already give the identity beyond
// this access, and where; with a strict policy that is a refusal. Without
// the bindings it can only say so, and a strict policy refuses.
func (x *Execution) reportBeyond(index *rbac.Index, indexErr error, acc *Access) error {
	id, strict := x.identity(), x.Plan.Policy.Strict
	if x.Plan.Policy.Renewal {
		return nil
	}
	if indexErr != nil {
		if strict {
			return failure.UsageErrorf("refusing with --strict: cannot tell what else %q may do (%v); nothing was created", id.User, indexErr)
		}
		x.Emit(Warning, "cannot tell what else %q may do besides this grant: %v", id.User, indexErr)
		return nil
	}
	var (
		namespace string
		rules     []rbacv1.PolicyRule
		skip      []rbac.Ref
	)
	if acc != nil {
		namespace, rules, skip = acc.Namespace, acc.Rules, acc.Refs()
	}
	skip = append(skip, x.Plan.Bound.Refs...)
	extra := index.Beyond(rbac.User{Name: id.User, Groups: id.Groups}, namespace, rules, skip)
	if len(extra) == 0 {
		return nil
	}
	lines := make([]string, len(extra))
	for i, r := range extra {
		lines[i] = "  " + r.Describe()
	}
	if strict {
		return failure.UsageErrorf("refusing with --strict: besides what is granted, %q would be allowed, through bindings already in place:\n%s\nnothing was created",
			id.User, strings.Join(lines, "\n"))
	}
	x.Emit(Note, "besides what is granted, %q is allowed, through bindings already in place:\n%s", id.User, strings.Join(lines, "\n"))
	return nil
}

// checkCredentialGroupUnused refuses a per-credential group that a record
// or a binding already uses: a request carrying it would borrow another
// credential's access.
func (x *Execution) checkCredentialGroupUnused(ctx context.Context) error {
	group := x.Plan.Subject.CredentialGroup
	recs, err := x.records().List(ctx, "")
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.CredentialGroup == group {
			return failure.UsageErrorf("%s: group %q belongs to credential %s of %s: a request may not borrow it", x.refusing(), group, r.ID, r.User)
		}
	}
	index, err := x.Engine.readIndex(ctx)
	if err != nil {
		return err
	}
	if len(index.BindingsOf(func(s rbacv1.Subject) bool { return s.Kind == rbacv1.GroupKind && s.Name == group })) > 0 {
		return failure.UsageErrorf("%s: group %q is already bound: a request may not borrow another credential's access", x.refusing(), group)
	}
	return nil
}
