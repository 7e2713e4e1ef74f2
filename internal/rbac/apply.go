package rbac

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kubeaccess/kubeaccess/internal/labels"
)

// BuildNamespace returns a Namespace labelled as kubeaccess's.
func BuildNamespace(name string) *corev1.Namespace {
	return &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels.Managed()},
	}
}

// Describe names an object as "Kind namespace/name" or "Kind name".
func Describe(obj runtime.Object) string {
	m, err := meta.Accessor(obj)
	if err != nil {
		return fmt.Sprintf("%T", obj)
	}
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	if ns := m.GetNamespace(); ns != "" {
		return kind + " " + ns + "/" + m.GetName()
	}
	return kind + " " + m.GetName()
}

// Apply creates or updates each object with server-side apply, so running
// the same grant twice converges. It returns the objects applied before any
// error, described.
func Apply(ctx context.Context, client kubernetes.Interface, objs []runtime.Object) ([]string, error) {
	var applied []string
	for _, obj := range objs {
		if err := applyOne(ctx, client, obj); err != nil {
			return applied, fmt.Errorf("applying %s: %w", Describe(obj), err)
		}
		applied = append(applied, Describe(obj))
	}
	return applied, nil
}

func applyOne(ctx context.Context, client kubernetes.Interface, obj runtime.Object) error {
	data, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	opts := metav1.PatchOptions{FieldManager: labels.Kubeaccess, Force: ptr.To(true)}
	r := client.RbacV1()
	switch o := obj.(type) {
	case *corev1.Namespace:
		_, err = client.CoreV1().Namespaces().Patch(ctx, o.Name, types.ApplyPatchType, data, opts)
	case *rbacv1.Role:
		_, err = r.Roles(o.Namespace).Patch(ctx, o.Name, types.ApplyPatchType, data, opts)
	case *rbacv1.ClusterRole:
		_, err = r.ClusterRoles().Patch(ctx, o.Name, types.ApplyPatchType, data, opts)
	case *rbacv1.RoleBinding:
		_, err = r.RoleBindings(o.Namespace).Patch(ctx, o.Name, types.ApplyPatchType, data, opts)
	case *rbacv1.ClusterRoleBinding:
		_, err = r.ClusterRoleBindings().Patch(ctx, o.Name, types.ApplyPatchType, data, opts)
	default:
		err = fmt.Errorf("kubeaccess cannot apply a %T", obj)
	}
	return err
}

// PrivilegedGroups returns the groups that ClusterRoleBindings bind to cluster-admin.
func PrivilegedGroups(ctx context.Context, client kubernetes.Interface) ([]string, error) {
	list, err := client.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var groups []string
	for _, b := range list.Items {
		if b.RoleRef.Kind != "ClusterRole" || b.RoleRef.Name != "cluster-admin" {
			continue
		}
		for _, s := range b.Subjects {
			if s.Kind == rbacv1.GroupKind {
				groups = append(groups, s.Name)
			}
		}
	}
	return groups, nil
}
