package issue

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"

	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/privilege"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// Access is the RBAC a plan binds, resolved against the cluster.
type Access struct {
	Role      runtime.Object // Role or ClusterRole to create; nil when binding an existing one
	Binding   runtime.Object // RoleBinding or ClusterRoleBinding
	Rules     []rbacv1.PolicyRule
	Namespace string // "" when cluster-wide
	Subject   rbacv1.Subject
}

// Objects returns what is applied, in order.
func (a *Access) Objects() []runtime.Object {
	if a == nil {
		return nil
	}
	if a.Role == nil {
		return []runtime.Object{a.Binding}
	}
	return []runtime.Object{a.Role, a.Binding}
}

// Refs are the typed references of the access's objects.
func (a *Access) Refs() []rbac.Ref {
	var refs []rbac.Ref
	for _, obj := range a.Objects() {
		if ref, err := rbac.RefOf(obj); err == nil {
			refs = append(refs, ref)
		}
	}
	return refs
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

// resolveAccess works out the role and binding that give the plan's
// binding subject its access, resolving resources through discovery or
// reading the role to bind. It changes nothing; nil means no access.
func (x *Execution) resolveAccess(ctx context.Context) (*Access, error) {
	spec, p := x.Plan.Access, x.Plan
	if spec.Empty() {
		return nil, nil
	}
	subject, base := p.bindingSubject()
	a := &Access{Subject: subject, Namespace: p.Namespace}
	if spec.ClusterWide {
		a.Namespace = ""
	}
	client := x.Client.RbacV1()
	switch {
	case len(spec.Verbs) > 0:
		rules, err := x.Engine.resolveRules(spec.Verbs, spec.Resources)
		if err != nil {
			return nil, err
		}
		a.Rules = rules
		if spec.ClusterWide {
			a.Role = rbac.BuildClusterRole(base, rules)
			a.Binding = rbac.BuildClusterRoleBinding(base, base, subject)
		} else {
			a.Role = rbac.BuildRole(base, p.Namespace, rules)
			a.Binding = rbac.BuildRoleBinding(base, p.Namespace, "Role", base, subject)
		}
	case spec.Role != "":
		role, err := client.Roles(p.Namespace).Get(ctx, spec.Role, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, failure.UsageErrorf("role %q not found in namespace %q", spec.Role, p.Namespace)
		} else if err != nil {
			return nil, fmt.Errorf("reading role %s/%s: %w", p.Namespace, spec.Role, err)
		}
		a.Rules = role.Rules
		a.Binding = rbac.BuildRoleBinding(rbac.BoundRoleName(base, "Role", spec.Role), p.Namespace, "Role", spec.Role, subject)
	default:
		role, err := client.ClusterRoles().Get(ctx, spec.ClusterRole, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, failure.UsageErrorf("clusterrole %q not found", spec.ClusterRole)
		} else if err != nil {
			return nil, fmt.Errorf("reading clusterrole %s: %w", spec.ClusterRole, err)
		}
		a.Rules = role.Rules
		name := rbac.BoundRoleName(base, "ClusterRole", spec.ClusterRole)
		if spec.ClusterWide {
			a.Binding = rbac.BuildClusterRoleBinding(name, spec.ClusterRole, subject)
		} else {
			a.Binding = rbac.BuildRoleBinding(name, p.Namespace, "ClusterRole", spec.ClusterRole, subject)
		}
	}
	return a, nil
}

// resolveRules maps --resource values to API groups through discovery,
// cached on disk as kubectl caches it and read once per engine. A resource
// missing from the cache (say, a CRD installed since) refreshes the cache
// once before it is an error.
func (e *Engine) resolveRules(verbs, resources []string) ([]rbacv1.PolicyRule, error) {
	if e.discovery == nil {
		return nil, fmt.Errorf("resolving resources needs the server's discovery")
	}
	catalog, err := e.catalog.get(e.readCatalog)
	if err != nil {
		return nil, err
	}
	rules, err := catalog.Rules(verbs, resources)
	if err != nil && !e.discovery.Fresh() {
		e.discovery.Invalidate()
		e.catalog.reset()
		if catalog, err = e.catalog.get(e.readCatalog); err != nil {
			return nil, err
		}
		rules, err = catalog.Rules(verbs, resources)
	}
	if err != nil {
		return nil, failure.UsageErrorf("%w", err)
	}
	return rules, nil
}

// Catalog is the server's resources, read once per engine through its
// (cached) discovery.
func (e *Engine) Catalog() (*rbac.Catalog, error) {
	if e.discovery == nil {
		return nil, fmt.Errorf("resolving resources needs the server's discovery")
	}
	return e.catalog.get(e.readCatalog)
}

// readCatalog reads the server's resources.
func (e *Engine) readCatalog() (*rbac.Catalog, error) {
	// ServerPreferredResources would drop subresources such as pods/log.
	_, lists, err := e.discovery.ServerGroupsAndResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return nil, fmt.Errorf("discovering the server's resources: %w", err)
	}
	return rbac.NewCatalog(lists), nil
}
