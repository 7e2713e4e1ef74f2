package rbac

import (
	"fmt"
	"maps"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Clone is a copy of the index that changes (Put, Remove) leave the
// original as it was.
func (ix *Index) Clone() *Index {
	return &Index{
		Bindings: slices.Clone(ix.Bindings), Roles: maps.Clone(ix.Roles),
		RoleLabels: maps.Clone(ix.RoleLabels), Versions: maps.Clone(ix.Versions),
	}
}

// Put adds a role or binding to the index, or replaces the one of its
// name, as creating or updating it in the cluster would.
func (ix *Index) Put(obj runtime.Object) error {
	ref, err := RefOf(obj)
	if err != nil {
		return err
	}
	ix.Remove(ref)
	switch o := obj.(type) {
	case *rbacv1.Role:
		ix.Roles[ref], ix.RoleLabels[ref] = o.Rules, o.Labels
	case *rbacv1.ClusterRole:
		ix.Roles[ref], ix.RoleLabels[ref] = o.Rules, o.Labels
	case *rbacv1.RoleBinding:
		ix.Bindings = append(ix.Bindings, Binding{ref, o.Labels, o.Subjects, o.RoleRef})
	case *rbacv1.ClusterRoleBinding:
		ix.Bindings = append(ix.Bindings, Binding{ref, o.Labels, o.Subjects, o.RoleRef})
	default:
		return fmt.Errorf("%T is not a role or binding", obj)
	}
	return nil
}

// Remove takes a role or binding out of the index, as deleting it would.
func (ix *Index) Remove(ref Ref) {
	delete(ix.Roles, ref)
	delete(ix.RoleLabels, ref)
	delete(ix.Versions, ref)
	ix.Bindings = slices.DeleteFunc(ix.Bindings, func(b Binding) bool { return b.Ref == ref })
}
