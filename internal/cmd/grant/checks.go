package grant

import (
	"context"
	"fmt"
	"slices"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// checkDestination refuses before any change when the kubeconfig could not
// be written as asked.
func (o *Options) checkDestination() error {
	if o.DryRun {
		return nil
	}
	var err error
	if o.Merge != "" {
		_, err = kubeconfig.CheckMerge(o.Merge, o.entry(nil, nil), o.Force)
	} else {
		err = kubeconfig.CheckNew(o.kubeconfigPath(), o.Force)
	}
	if err != nil {
		return cmdutil.UsageErrorf("%w", err)
	}
	return nil
}

// checkPrivilegedGroups refuses groups the cluster binds to cluster-admin.
func (o *Options) checkPrivilegedGroups(ctx context.Context) error {
	if o.AllowPrivileged || len(o.Groups) == 0 {
		return nil
	}
	groups, err := rbac.PrivilegedGroups(ctx, o.client)
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

// needsNamespace reports whether the access lives in a namespace that
// must exist.
func (o *Options) needsNamespace() bool {
	return o.hasAccess() && !o.ClusterWide
}

// namespaceExists reads the namespace when the access needs one.
func (o *Options) namespaceExists(ctx context.Context) (bool, error) {
	if !o.needsNamespace() {
		return true, nil
	}
	_, err := o.client.CoreV1().Namespaces().Get(ctx, o.namespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("reading namespace %s: %w", o.namespace, err)
	}
	return true, nil
}

// createNamespacePermissions are needed only when the namespace is missing;
// it is applied server-side like the rest.
var createNamespacePermissions = []verify.Permission{{Verb: "create", Resource: "namespaces"}, {Verb: "patch", Resource: "namespaces"}}

// withoutPermissions returns perms less those in drop.
func withoutPermissions(perms, drop []verify.Permission) []verify.Permission {
	return slices.DeleteFunc(perms, func(p verify.Permission) bool { return slices.Contains(drop, p) })
}

// requiredPermissions lists what the admin needs for this grant, worked out
// from the flags alone so it can be checked before anything is read.
func (o *Options) requiredPermissions() []verify.Permission {
	const csrGroup, rbacGroup = certificatesv1.GroupName, rbacv1.GroupName
	var perms []verify.Permission
	if o.CACert == "" {
		perms = append(perms,
			verify.Permission{Verb: "create", Group: csrGroup, Resource: "certificatesigningrequests"},
			verify.Permission{Verb: "watch", Group: csrGroup, Resource: "certificatesigningrequests"},
		)
	}
	if o.Approve && o.CACert == "" {
		perms = append(perms,
			verify.Permission{Verb: "update", Group: csrGroup, Resource: "certificatesigningrequests", Subresource: "approval"},
			verify.Permission{Verb: "approve", Group: csrGroup, Resource: "signers", Name: certificatesv1.KubeAPIServerClientSignerName},
		)
	}
	if !o.hasAccess() {
		return perms
	}
	namespace := o.namespace
	if o.ClusterWide {
		namespace = ""
	} else {
		perms = append(perms, verify.Permission{Verb: "get", Resource: "namespaces", Name: o.namespace})
	}
	// Objects are read (to know what a failed run created), then applied
	// server-side, which needs patch, and create for new ones.
	write := func(resource string) {
		for _, verb := range []string{"get", "create", "patch"} {
			perms = append(perms, verify.Permission{Verb: verb, Group: rbacGroup, Resource: resource, Namespace: namespace})
		}
	}
	switch {
	case o.Role != "":
		perms = append(perms, verify.Permission{Verb: "get", Group: rbacGroup, Resource: "roles", Name: o.Role, Namespace: namespace})
	case o.ClusterRole != "":
		perms = append(perms, verify.Permission{Verb: "get", Group: rbacGroup, Resource: "clusterroles", Name: o.ClusterRole})
	case o.ClusterWide:
		write("clusterroles")
	default:
		write("roles")
	}
	if o.ClusterWide {
		write("clusterrolebindings")
	} else {
		write("rolebindings")
	}
	return perms
}

// permissionError names each permission the admin lacks for this grant.
func (o *Options) permissionError(missing []verify.Permission) error {
	if len(missing) == 0 {
		return nil
	}
	lines := make([]string, len(missing))
	for i, p := range missing {
		lines[i] = "  " + p.String()
	}
	return cmdutil.DeniedErrorf("you lack permissions this grant needs; nothing was created:\n%s", strings.Join(lines, "\n"))
}
