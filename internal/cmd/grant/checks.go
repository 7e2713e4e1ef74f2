package grant

import (
	"context"
	"fmt"

	certificatesv1 "k8s.io/api/certificates/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// preflight runs the shared checks with grant's own: the CSR permissions
// and the refusal of groups the cluster binds to cluster-admin.
func (o *Options) preflight(ctx context.Context) (*issuing.Access, bool, error) {
	subject, base := rbac.Subject(rbacv1.UserKind, o.User), "kubeaccess:"+o.User
	if o.BindGroup != "" {
		subject, base = rbac.Subject(rbacv1.GroupKind, o.BindGroup), "kubeaccess:group:"+o.BindGroup
	}
	return o.is.Preflight(ctx, issuing.Checks{
		Command:  "grant",
		Required: o.requiredPermissions(),
		Subject:  subject,
		Base:     base,
		Policy:   o.checkPrivilegedGroups,
		DryRun:   o.DryRun,
	})
}

// checkPrivilegedGroups refuses groups the cluster binds to cluster-admin.
func (o *Options) checkPrivilegedGroups(ctx context.Context) error {
	if o.AllowPrivileged || len(o.Groups) == 0 {
		return nil
	}
	groups, err := rbac.PrivilegedGroups(ctx, o.is.Client)
	if apierrors.IsForbidden(err) {
		fmt.Fprintf(o.ErrOut, "warning: cannot list ClusterRoleBindings to find groups bound to cluster-admin; only system:masters and kubeadm:cluster-admins are refused\n")
		return nil
	} else if err != nil {
		return fmt.Errorf("finding groups bound to cluster-admin: %w", err)
	}
	policy := pki.SubjectPolicy{PrivilegedGroups: groups}
	if err := policy.Check(o.User, o.Groups); err != nil {
		return cmdutil.UsageErrorf("%w", err)
	}
	return nil
}

// requiredPermissions lists what the CSR round trip needs: nothing when
// signing offline.
func (o *Options) requiredPermissions() []verify.Permission {
	const csrGroup = certificatesv1.GroupName
	if o.CACert != "" {
		return nil
	}
	perms := []verify.Permission{
		{Verb: "create", Group: csrGroup, Resource: "certificatesigningrequests"},
		{Verb: "watch", Group: csrGroup, Resource: "certificatesigningrequests"},
	}
	if o.Approve {
		perms = append(perms,
			verify.Permission{Verb: "update", Group: csrGroup, Resource: "certificatesigningrequests", Subresource: "approval"},
			verify.Permission{Verb: "approve", Group: csrGroup, Resource: "signers", Name: certificatesv1.KubeAPIServerClientSignerName},
		)
	}
	return perms
}
