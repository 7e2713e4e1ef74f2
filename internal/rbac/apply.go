package rbac

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

// BuildServiceAccount returns a ServiceAccount labelled as kubeaccess's.
func BuildServiceAccount(name, namespace string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: objectMeta(name, namespace),
	}
}

// BuildLeaseSecret returns an empty Secret that tokens can be bound to:
// deleting it revokes them.
func BuildLeaseSecret(name, namespace string) *corev1.Secret {
	s := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: objectMeta(name, namespace),
		Type:       corev1.SecretTypeOpaque,
	}
	s.Annotations = map[string]string{"kubeaccess.io/purpose": "tokens bound to this Secret stop working when it is deleted"}
	return s
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

// Change is one object Apply wrote.
type Change struct {
	Object  runtime.Object // as the server returned it
	Created bool           // it did not exist before this run
}

// String names the object and whether it was created or updated.
func (c Change) String() string {
	if c.Created {
		return Describe(c.Object) + " (created)"
	}
	return Describe(c.Object) + " (updated)"
}

// Apply creates each object or, where it exists already, updates it with
// server-side apply, so running the same grant twice converges. Whether
// the create succeeded tells Undo exactly what this run made, with no read
// beforehand to race with. It returns the changes made before any error.
func Apply(ctx context.Context, client kubernetes.Interface, objs []runtime.Object) ([]Change, error) {
	return apply(ctx, client, objs, false)
}

// DryRunApply is Apply with every write sent as a server-side dry run:
// admission and authorization (RBAC's escalation check among them) judge
// each object, and nothing is persisted. The changes are what the server
// would have stored.
func DryRunApply(ctx context.Context, client kubernetes.Interface, objs []runtime.Object) ([]Change, error) {
	return apply(ctx, client, objs, true)
}

func apply(ctx context.Context, client kubernetes.Interface, objs []runtime.Object, dryRun bool) ([]Change, error) {
	var changes []Change
	for _, obj := range objs {
		c, err := clientFor(client, obj, dryRun)
		if err != nil {
			return changes, err
		}
		got, err := c.create(ctx, obj)
		created := err == nil
		if apierrors.IsAlreadyExists(err) {
			got, err = adopt(ctx, c, obj)
		}
		if err != nil {
			return changes, fmt.Errorf("applying %s: %w", Describe(obj), err)
		}
		got.GetObjectKind().SetGroupVersionKind(obj.GetObjectKind().GroupVersionKind())
		changes = append(changes, Change{Object: got, Created: created})
	}
	return changes, nil
}

// adopt updates an existing object with server-side apply, only if
// kubeaccess made it, and only the version just read: another's object of
// the same name is never taken over.
func adopt(ctx context.Context, c objectClient, obj runtime.Object) (runtime.Object, error) {
	existing, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	m, err := meta.Accessor(existing)
	if err != nil {
		return nil, err
	}
	if !madeByKubeaccess(obj, m) {
		return nil, notOurs(obj)
	}
	if _, ok := obj.(*corev1.Namespace); ok {
		// A namespace of kubeaccess's holds nothing to update: leaving it
		// as it is lets many issuances share it without conflicts.
		return existing, nil
	}
	desired := obj.DeepCopyObject()
	dm, err := meta.Accessor(desired)
	if err != nil {
		return nil, err
	}
	// A precondition: the apply fails with a conflict if the object
	// changed since it was read.
	dm.SetResourceVersion(m.GetResourceVersion())
	return c.apply(ctx, desired)
}

// madeByKubeaccess reports whether an existing object is kubeaccess's:
// its label and, for RBAC objects, a name in kubeaccess's prefix.
func madeByKubeaccess(obj runtime.Object, m metav1.Object) bool {
	switch obj.(type) {
	case *rbacv1.Role, *rbacv1.ClusterRole, *rbacv1.RoleBinding, *rbacv1.ClusterRoleBinding:
		return Managed(m.GetLabels(), m.GetName())
	}
	return m.GetLabels()[labels.ManagedBy] == labels.Kubeaccess
}

// Undo deletes, newest first, the objects changes created, each only if it
// is still the very object created (same UID and resourceVersion): one
// changed since by someone else stays, and is reported. Updated objects
// stay as they are. It returns what it deleted and what it could not.
func Undo(ctx context.Context, client kubernetes.Interface, changes []Change) (deleted []string, failed []error) {
	for _, c := range slices.Backward(changes) {
		if !c.Created {
			continue
		}
		if err := remove(ctx, client, c.Object); err != nil && !apierrors.IsNotFound(err) {
			failed = append(failed, fmt.Errorf("%s could not be deleted: %w", Describe(c.Object), err))
			continue
		}
		deleted = append(deleted, Describe(c.Object))
	}
	return deleted, failed
}

// remove deletes obj if it is still the same version of the same object.
func remove(ctx context.Context, client kubernetes.Interface, obj runtime.Object) error {
	c, err := clientFor(client, obj, false)
	if err != nil {
		return err
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	err = c.delete(ctx, m.GetUID(), m.GetResourceVersion())
	if apierrors.IsConflict(err) {
		return fmt.Errorf("it was changed since this run created it, so it was left: %w", err)
	}
	return err
}

// objectClient reads, applies and deletes one named object.
type objectClient interface {
	get(ctx context.Context) (runtime.Object, error)
	create(ctx context.Context, obj runtime.Object) (runtime.Object, error)
	apply(ctx context.Context, obj runtime.Object) (runtime.Object, error)
	delete(ctx context.Context, uid types.UID, resourceVersion string) error
}

// typedClient is the part of a client-go typed client that objectClient needs.
type typedClient[T runtime.Object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

type named[T runtime.Object] struct {
	client typedClient[T]
	name   string
	dryRun []string
}

func (n named[T]) get(ctx context.Context) (runtime.Object, error) {
	return n.client.Get(ctx, n.name, metav1.GetOptions{})
}

func (n named[T]) create(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
	return n.client.Create(ctx, obj.(T), metav1.CreateOptions{FieldManager: labels.Kubeaccess, DryRun: n.dryRun})
}

func (n named[T]) apply(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	return n.client.Patch(ctx, n.name, types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: labels.Kubeaccess, Force: ptr.To(true), DryRun: n.dryRun})
}

func (n named[T]) delete(ctx context.Context, uid types.UID, resourceVersion string) error {
	pre := &metav1.Preconditions{UID: &uid}
	if resourceVersion != "" {
		pre.ResourceVersion = &resourceVersion
	}
	return n.client.Delete(ctx, n.name, metav1.DeleteOptions{Preconditions: pre})
}

// clientFor returns the client for obj's kind, one of those kubeaccess writes.
func clientFor(client kubernetes.Interface, obj runtime.Object, dryRun bool) (objectClient, error) {
	r := client.RbacV1()
	var d []string
	if dryRun {
		d = []string{metav1.DryRunAll}
	}
	switch o := obj.(type) {
	case *corev1.Namespace:
		return named[*corev1.Namespace]{client.CoreV1().Namespaces(), o.Name, d}, nil
	case *corev1.ServiceAccount:
		return named[*corev1.ServiceAccount]{client.CoreV1().ServiceAccounts(o.Namespace), o.Name, d}, nil
	case *corev1.Secret:
		return named[*corev1.Secret]{client.CoreV1().Secrets(o.Namespace), o.Name, d}, nil
	case *rbacv1.Role:
		return named[*rbacv1.Role]{r.Roles(o.Namespace), o.Name, d}, nil
	case *rbacv1.ClusterRole:
		return named[*rbacv1.ClusterRole]{r.ClusterRoles(), o.Name, d}, nil
	case *rbacv1.RoleBinding:
		return named[*rbacv1.RoleBinding]{r.RoleBindings(o.Namespace), o.Name, d}, nil
	case *rbacv1.ClusterRoleBinding:
		return named[*rbacv1.ClusterRoleBinding]{r.ClusterRoleBindings(), o.Name, d}, nil
	}
	return nil, fmt.Errorf("kubeaccess does not handle %T", obj)
}

// notOurs says which object is in the way.
func notOurs(obj runtime.Object) error {
	return fmt.Errorf("%s exists and was not made by kubeaccess (it lacks the label %s=%s, or kubeaccess's name): "+
		"refusing to take it over; delete or rename it, or bind it with --role/--clusterrole instead", Describe(obj), labels.ManagedBy, labels.Kubeaccess)
}
