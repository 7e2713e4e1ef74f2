package issuing

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/privilege"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// Access is the RBAC an issuing command binds.
type Access struct {
	Role      runtime.Object // Role or ClusterRole to create; nil when binding an existing one
	Binding   runtime.Object // RoleBinding or ClusterRoleBinding
	Rules     []rbacv1.PolicyRule
	Namespace string // "" when cluster-wide
	Subject   rbacv1.Subject
}

// Objects returns what is applied, in order.
func (a *Access) Objects() []runtime.Object {
	if a.Role == nil {
		return []runtime.Object{a.Binding}
	}
	return []runtime.Object{a.Role, a.Binding}
}

// Grants is the access as the privilege check reads it.
func (a *Access) Grants() []privilege.Grant {
	if a == nil {
		return nil
	}
	via := rbac.Describe(a.Binding)
	if a.Role != nil {
		via = rbac.Describe(a.Role) + " through " + via
	}
	return []privilege.Grant{{Namespace: a.Namespace, Rules: a.Rules, Via: via}}
}

// PlanAccess works out the role and binding that give subject the access
// the flags ask for, named base (plus ":ROLE" when binding an existing
// role), resolving resources through discovery or reading the role to
// bind. It changes nothing; nil means no access was asked for.
func (is *Issuer) PlanAccess(ctx context.Context, subject rbacv1.Subject, base string) (*Access, error) {
	if !is.HasAccess() {
		return nil, nil
	}
	a := &Access{Subject: subject, Namespace: is.Namespace}
	if is.ClusterWide {
		a.Namespace = ""
	}
	switch {
	case len(is.Verbs) > 0:
		rules, err := is.resolveRules()
		if err != nil {
			return nil, err
		}
		a.Rules = rules
		if is.ClusterWide {
			a.Role = rbac.BuildClusterRole(base, rules)
			a.Binding = rbac.BuildClusterRoleBinding(base, base, subject)
		} else {
			a.Role = rbac.BuildRole(base, is.Namespace, rules)
			a.Binding = rbac.BuildRoleBinding(base, is.Namespace, "Role", base, subject)
		}
	case is.Role != "":
		role, err := is.Client.RbacV1().Roles(is.Namespace).Get(ctx, is.Role, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, cmdutil.UsageErrorf("role %q not found in namespace %q", is.Role, is.Namespace)
		} else if err != nil {
			return nil, fmt.Errorf("reading role %s/%s: %w", is.Namespace, is.Role, err)
		}
		a.Rules = role.Rules
		a.Binding = rbac.BuildRoleBinding(rbac.BoundRoleName(base, "Role", is.Role), is.Namespace, "Role", is.Role, subject)
	default:
		role, err := is.Client.RbacV1().ClusterRoles().Get(ctx, is.ClusterRole, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, cmdutil.UsageErrorf("clusterrole %q not found", is.ClusterRole)
		} else if err != nil {
			return nil, fmt.Errorf("reading clusterrole %s: %w", is.ClusterRole, err)
		}
		a.Rules = role.Rules
		name := rbac.BoundRoleName(base, "ClusterRole", is.ClusterRole)
		if is.ClusterWide {
			a.Binding = rbac.BuildClusterRoleBinding(name, is.ClusterRole, subject)
		} else {
			a.Binding = rbac.BuildRoleBinding(name, is.Namespace, "ClusterRole", is.ClusterRole, subject)
		}
	}
	return a, nil
}

// resolveRules maps --resource values to API groups through discovery,
// cached on disk as kubectl caches it. A resource missing from the cache
// (say, a CRD installed since) refreshes the cache once before it is an error.
func (is *Issuer) resolveRules() ([]rbacv1.PolicyRule, error) {
	rules, err := is.rulesFromDiscovery()
	if err != nil && !is.Discovery.Fresh() {
		is.Discovery.Invalidate()
		rules, err = is.rulesFromDiscovery()
	}
	return rules, err
}

func (is *Issuer) rulesFromDiscovery() ([]rbacv1.PolicyRule, error) {
	// ServerPreferredResources would drop subresources such as pods/log.
	_, lists, err := is.Discovery.ServerGroupsAndResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return nil, fmt.Errorf("discovering the server's resources: %w", err)
	}
	rules, err := rbac.NewCatalog(lists).Rules(is.Verbs, is.Resources)
	if err != nil {
		return nil, cmdutil.UsageErrorf("%w", err)
	}
	return rules, nil
}

// BindingSubject is who the access of a user's certificate is bound to, and
// the name of its role and binding: the certificate's own group when it is
// revocable, else the group of --bind-group, else the user.
func BindingSubject(user, credentialGroup, bindGroup string) (rbacv1.Subject, string) {
	switch {
	case credentialGroup != "":
		return rbac.Subject(rbacv1.GroupKind, credentialGroup), credentialGroup
	case bindGroup != "":
		return rbac.Subject(rbacv1.GroupKind, bindGroup), rbac.GroupObjectName(bindGroup)
	}
	return rbac.Subject(rbacv1.UserKind, user), rbac.UserObjectName(user)
}
