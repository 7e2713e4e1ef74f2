package grant

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// access is the RBAC a grant binds.
type access struct {
	role      runtime.Object // Role or ClusterRole to create; nil when binding an existing one
	binding   runtime.Object // RoleBinding or ClusterRoleBinding
	rules     []rbacv1.PolicyRule
	namespace string // "" when cluster-wide
	subject   rbacv1.Subject
	existed   map[string]bool // which of objects() exist already, by rbac.Describe
}

// objects returns what is applied, in order.
func (a *access) objects() []runtime.Object {
	if a.role == nil {
		return []runtime.Object{a.binding}
	}
	return []runtime.Object{a.role, a.binding}
}

// planAccess works out the role and binding to apply, resolving resources
// through discovery or reading the existing role to bind. It changes nothing.
func (o *Options) planAccess(ctx context.Context) (*access, error) {
	if !o.hasAccess() {
		return nil, nil
	}
	a := &access{subject: rbac.Subject(rbacv1.UserKind, o.User), namespace: o.namespace}
	base := "kubeaccess:" + o.User
	if o.BindGroup != "" {
		a.subject = rbac.Subject(rbacv1.GroupKind, o.BindGroup)
		base = "kubeaccess:group:" + o.BindGroup
	}
	if o.ClusterWide {
		a.namespace = ""
	}
	switch {
	case len(o.Verbs) > 0:
		rules, err := o.resolveRules(ctx)
		if err != nil {
			return nil, err
		}
		a.rules = rules
		if o.ClusterWide {
			a.role = rbac.BuildClusterRole(base, rules)
			a.binding = rbac.BuildClusterRoleBinding(base, base, a.subject)
		} else {
			a.role = rbac.BuildRole(base, o.namespace, rules)
			a.binding = rbac.BuildRoleBinding(base, o.namespace, "Role", base, a.subject)
		}
	case o.Role != "":
		role, err := o.client.RbacV1().Roles(o.namespace).Get(ctx, o.Role, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, cmdutil.UsageErrorf("role %q not found in namespace %q", o.Role, o.namespace)
		} else if err != nil {
			return nil, fmt.Errorf("reading role %s/%s: %w", o.namespace, o.Role, err)
		}
		a.rules = role.Rules
		a.binding = rbac.BuildRoleBinding(base+":"+o.Role, o.namespace, "Role", o.Role, a.subject)
	default:
		role, err := o.client.RbacV1().ClusterRoles().Get(ctx, o.ClusterRole, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, cmdutil.UsageErrorf("clusterrole %q not found", o.ClusterRole)
		} else if err != nil {
			return nil, fmt.Errorf("reading clusterrole %s: %w", o.ClusterRole, err)
		}
		a.rules = role.Rules
		if o.ClusterWide {
			a.binding = rbac.BuildClusterRoleBinding(base+":"+o.ClusterRole, o.ClusterRole, a.subject)
		} else {
			a.binding = rbac.BuildRoleBinding(base+":"+o.ClusterRole, o.namespace, "ClusterRole", o.ClusterRole, a.subject)
		}
	}
	return a, nil
}

// resolveRules maps --resource values to API groups through discovery,
// cached on disk as kubectl caches it. A resource missing from the cache
// (say, a CRD installed since) refreshes the cache once before it is an error.
func (o *Options) resolveRules(ctx context.Context) ([]rbacv1.PolicyRule, error) {
	rules, err := o.rulesFromDiscovery()
	if err != nil && !o.discovery.Fresh() {
		o.discovery.Invalidate()
		rules, err = o.rulesFromDiscovery()
	}
	return rules, err
}

func (o *Options) rulesFromDiscovery() ([]rbacv1.PolicyRule, error) {
	// ServerPreferredResources would drop subresources such as pods/log.
	_, lists, err := o.discovery.ServerGroupsAndResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return nil, fmt.Errorf("discovering the server's resources: %w", err)
	}
	rules, err := rbac.NewCatalog(lists).Rules(o.Verbs, o.Resources)
	if err != nil {
		return nil, cmdutil.UsageErrorf("%w", err)
	}
	return rules, nil
}
