package grant

import (
	"context"
	"errors"
	"sync"

	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// preflight makes the read-only checks that precede any change: the admin's
// permissions, privileged groups, the access plan and the namespace. They
// are independent, so they run concurrently; a grant otherwise spends most
// of its time waiting on these round trips. Missing permissions are reported
// before any other failure, since they explain it.
func (o *Options) preflight(ctx context.Context) (acc *access, createNamespace bool, err error) {
	var (
		wg                               sync.WaitGroup
		missing                          []verify.Permission
		permErr, privErr, planErr, nsErr error
		nsExists                         bool
	)
	// Asked alone first: it opens the connection the concurrent checks
	// then share, where concurrent requests on a fresh client would each
	// dial, and it tells who is issuing.
	if o.issuer, err = whoIssues(ctx, o.client); err != nil {
		return nil, false, err
	}
	perms := o.requiredPermissions()
	if !o.DryRun {
		// Creating the namespace is asked about up front, and only counts
		// if the namespace turns out to be missing.
		perms = append(perms, createNamespacePermissions...)
		wg.Go(func() { missing, permErr = verify.Missing(ctx, o.client, perms) })
	}
	wg.Go(func() { privErr = o.checkPrivilegedGroups(ctx) })
	wg.Go(func() {
		if acc, planErr = o.planAccess(ctx); acc != nil && planErr == nil && !o.DryRun {
			acc.existed, planErr = rbac.Existing(ctx, o.client, acc.objects())
		}
	})
	wg.Go(func() { nsExists, nsErr = o.namespaceExists(ctx) })
	wg.Wait()
	if permErr != nil {
		return nil, false, permErr
	}
	createNamespace = o.needsNamespace() && !nsExists
	if !createNamespace {
		missing = withoutPermissions(missing, createNamespacePermissions)
	}
	if err := o.permissionError(missing); err != nil {
		return nil, false, err
	}
	for _, err := range []error{privErr, planErr, nsErr} {
		if err != nil {
			return nil, false, err
		}
	}
	if createNamespace && !o.CreateNamespace {
		return nil, false, cmdutil.UsageErrorf("namespace %q does not exist and --create-namespace=false", o.namespace)
	}
	return acc, createNamespace, nil
}

// whoIssues asks who the admin is, as the API server sees them; it is
// recorded with what they issue. An API server without SelfSubjectReview
// leaves it unknown.
func whoIssues(ctx context.Context, client kubernetes.Interface) (*verify.Identity, error) {
	id, err := verify.WhoAmI(ctx, client)
	if errors.Is(err, verify.ErrSelfSubjectReviewUnavailable) {
		return nil, nil
	}
	return id, err
}
