package rbac

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/labels"
	"github.com/kubeaccess/kubeaccess/internal/safe"
)

// Ref names one RBAC object.
type Ref struct {
	Kind      string `json:"kind"` // Role, ClusterRole, RoleBinding or ClusterRoleBinding
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// UnmarshalJSON reads a reference as an object, or in the "Kind ns/name"
// string that records held before. A string that names no RBAC object is
// kept, with an empty Kind, for Validate to refuse: one bad reference must
// not make a whole record unreadable.
func (r *Ref) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		ref, err := ParseRef(s)
		if err != nil {
			ref = Ref{Name: s}
		}
		*r = ref
		return nil
	}
	type plain Ref
	return json.Unmarshal(data, (*plain)(r))
}

// Validate refuses a reference to anything but a Role, ClusterRole,
// RoleBinding or ClusterRoleBinding, or without a namespace where the kind
// has one.
func (r Ref) Validate() error {
	named := r.Name != "" && !strings.Contains(r.Name, "/")
	switch r.Kind {
	case "Role", "RoleBinding":
		if !named || r.Namespace == "" || strings.Contains(r.Namespace, "/") {
			return fmt.Errorf("%q names a %s without its namespace and name", r.String(), r.Kind)
		}
	case "ClusterRole", "ClusterRoleBinding":
		if !named || r.Namespace != "" {
			return fmt.Errorf("%q is not a %s name", r.String(), r.Kind)
		}
	default:
		return fmt.Errorf("%q is not a Role, ClusterRole, RoleBinding or ClusterRoleBinding", strings.TrimSpace(r.String()))
	}
	return nil
}

// RefOf names an RBAC object.
func RefOf(obj runtime.Object) (Ref, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return Ref{}, err
	}
	return Ref{Kind: obj.GetObjectKind().GroupVersionKind().Kind, Namespace: m.GetNamespace(), Name: m.GetName()}, nil
}

// String reads "RoleBinding ns/name" or "ClusterRoleBinding name", as
// records have always written them.
func (r Ref) String() string {
	if r.Namespace != "" {
		return r.Kind + " " + r.Namespace + "/" + r.Name
	}
	return r.Kind + " " + r.Name
}

// Display is String for people: a name that does not print as itself
// (RBAC names may hold control characters) is quoted.
func (r Ref) Display() string {
	name := r.Name
	if r.Namespace != "" {
		name = r.Namespace + "/" + r.Name
	}
	return r.Kind + " " + safe.Printable(name)
}

// ParseRef reads what String writes, refusing kinds kubeaccess does not make.
func ParseRef(s string) (Ref, error) {
	kind, path, ok := strings.Cut(s, " ")
	if !ok {
		return Ref{}, fmt.Errorf("%q names no RBAC object", s)
	}
	ref := Ref{Kind: kind, Name: path}
	if kind == "Role" || kind == "RoleBinding" {
		ref.Namespace, ref.Name, _ = strings.Cut(path, "/")
	}
	return ref, ref.Validate()
}

// Binding is a RoleBinding or ClusterRoleBinding, read alike.
type Binding struct {
	Ref      Ref
	Labels   map[string]string
	Subjects []rbacv1.Subject
	RoleRef  rbacv1.RoleRef
}

// ManagedByKubeaccess reports whether kubeaccess made the binding: it
// carries kubeaccess's label and one of the names kubeaccess gives.
func (b Binding) ManagedByKubeaccess() bool {
	return Managed(b.Labels, b.Ref.Name)
}

// Managed reports whether an object of this name and labels is one that
// kubeaccess made: its label, and a name in kubeaccess's reserved prefix.
func Managed(objLabels map[string]string, name string) bool {
	return objLabels[labels.ManagedBy] == labels.Kubeaccess && strings.HasPrefix(name, NamePrefix)
}

// BootstrapLabel marks the RBAC objects the API server creates itself.
const BootstrapLabel = "kubernetes.io/bootstrapping"

// Bootstrap reports whether a binding is one the API server creates
// itself. The label alone proves nothing (anyone who can create a binding
// can set it): the API server's own are named cluster-admin or system:*,
// live cluster-wide or in kube-system or kube-public, and bind only
// system identities.
func (b Binding) Bootstrap() bool {
	name, namespace := b.Ref.Name, b.Ref.Namespace
	if b.Labels[BootstrapLabel] != "rbac-defaults" || name != "cluster-admin" && !strings.HasPrefix(name, "system:") {
		return false
	}
	if namespace != "" && namespace != "kube-system" && namespace != "kube-public" {
		return false
	}
	for _, s := range b.Subjects {
		systemSA := s.Kind == rbacv1.ServiceAccountKind && s.Namespace == "kube-system"
		if !systemSA && (s.Kind == rbacv1.ServiceAccountKind || !strings.HasPrefix(s.Name, "system:")) {
			return false
		}
	}
	return true
}

// Index is one read of the cluster's bindings and roles.
type Index struct {
	Bindings   []Binding
	Roles      map[Ref][]rbacv1.PolicyRule
	RoleLabels map[Ref]map[string]string
	// Versions are each object's UID and resourceVersion as read, for
	// changes that must apply only to the object that was judged.
	Versions map[Ref]Version
}

// Version is an object's identity and version as read.
type Version struct {
	UID             types.UID
	ResourceVersion string
}

// Preconditions make a delete apply only to the object read at v.
func (v Version) Preconditions() *metav1.Preconditions {
	uid, rv := v.UID, v.ResourceVersion
	return &metav1.Preconditions{UID: &uid, ResourceVersion: &rv}
}

// ReadIndex lists every binding and role, concurrently, as they are now.
func ReadIndex(ctx context.Context, client kubernetes.Interface) (*Index, error) {
	return readIndex(ctx, client, "")
}

// ReadCachedIndex is ReadIndex from the API server's watch cache, which
// may lag etcd by a few milliseconds and is cheaper to serve: for checks
// that a later step makes again where it matters.
func ReadCachedIndex(ctx context.Context, client kubernetes.Interface) (*Index, error) {
	return readIndex(ctx, client, "0")
}

func readIndex(ctx context.Context, client kubernetes.Interface, resourceVersion string) (*Index, error) {
	r := client.RbacV1()
	var (
		crbs  *rbacv1.ClusterRoleBindingList
		rbs   *rbacv1.RoleBindingList
		crs   *rbacv1.ClusterRoleList
		roles *rbacv1.RoleList
	)
	g, ctx := errgroup.WithContext(ctx)
	list := func(what string, f func() error) {
		g.Go(func() error {
			if err := f(); err != nil {
				return fmt.Errorf("listing %s: %w", what, err)
			}
			return nil
		})
	}
	opts := metav1.ListOptions{ResourceVersion: resourceVersion}
	list("ClusterRoleBindings", func() (err error) { crbs, err = r.ClusterRoleBindings().List(ctx, opts); return })
	list("RoleBindings", func() (err error) { rbs, err = r.RoleBindings("").List(ctx, opts); return })
	list("ClusterRoles", func() (err error) { crs, err = r.ClusterRoles().List(ctx, opts); return })
	list("Roles", func() (err error) { roles, err = r.Roles("").List(ctx, opts); return })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return IndexOfItems(crbs.Items, rbs.Items, crs.Items, roles.Items), nil
}

// IndexOfItems is IndexOf of listed items (a list's, or a snapshot's).
func IndexOfItems(crbs []rbacv1.ClusterRoleBinding, rbs []rbacv1.RoleBinding, crs []rbacv1.ClusterRole, roles []rbacv1.Role) *Index {
	return IndexOf(ptrs(crbs), ptrs(rbs), ptrs(crs), ptrs(roles))
}

// IndexOf indexes bindings and roles as read (a list, or an informer's
// cache, which a controller reads from at no request).
func IndexOf(crbs []*rbacv1.ClusterRoleBinding, rbs []*rbacv1.RoleBinding, crs []*rbacv1.ClusterRole, roles []*rbacv1.Role) *Index {
	ix := &Index{Roles: map[Ref][]rbacv1.PolicyRule{}, RoleLabels: map[Ref]map[string]string{}, Versions: map[Ref]Version{}}
	version := func(ref Ref, m metav1.ObjectMeta) { ix.Versions[ref] = Version{m.UID, m.ResourceVersion} }
	for _, b := range crbs {
		ref := Ref{"ClusterRoleBinding", "", b.Name}
		ix.Bindings = append(ix.Bindings, Binding{ref, b.Labels, b.Subjects, b.RoleRef})
		version(ref, b.ObjectMeta)
	}
	for _, b := range rbs {
		ref := Ref{"RoleBinding", b.Namespace, b.Name}
		ix.Bindings = append(ix.Bindings, Binding{ref, b.Labels, b.Subjects, b.RoleRef})
		version(ref, b.ObjectMeta)
	}
	for _, cr := range crs {
		ref := Ref{"ClusterRole", "", cr.Name}
		ix.Roles[ref], ix.RoleLabels[ref] = cr.Rules, cr.Labels
		version(ref, cr.ObjectMeta)
	}
	for _, role := range roles {
		ref := Ref{"Role", role.Namespace, role.Name}
		ix.Roles[ref], ix.RoleLabels[ref] = role.Rules, role.Labels
		version(ref, role.ObjectMeta)
	}
	return ix
}

func ptrs[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

// RoleOf is the role a binding refers to.
func (b Binding) RoleOf() Ref {
	if b.RoleRef.Kind == "ClusterRole" {
		return Ref{Kind: "ClusterRole", Name: b.RoleRef.Name}
	}
	return Ref{Kind: "Role", Namespace: b.Ref.Namespace, Name: b.RoleRef.Name}
}

// Binds reports whether any binding refers to role.
func (ix *Index) Binds(role Ref, except ...Ref) bool {
	for _, b := range ix.Bindings {
		if b.RoleOf() == role && !slices.Contains(except, b.Ref) {
			return true
		}
	}
	return false
}

// BindingsOf returns the bindings with a subject that match accepts.
func (ix *Index) BindingsOf(match func(rbacv1.Subject) bool) []Binding {
	var out []Binding
	for _, b := range ix.Bindings {
		if slices.ContainsFunc(b.Subjects, match) {
			out = append(out, b)
		}
	}
	return out
}

// CheckAdoptable refuses objects that exist already in the index and were
// not made by kubeaccess: Apply would refuse them too, but only after a
// certificate was requested.
func (ix *Index) CheckAdoptable(objs []runtime.Object) error {
	for _, obj := range objs {
		ref, err := RefOf(obj)
		if err != nil {
			return err
		}
		labels, exists := ix.RoleLabels[ref]
		if i := slices.IndexFunc(ix.Bindings, func(b Binding) bool { return b.Ref == ref }); i >= 0 {
			labels, exists = ix.Bindings[i].Labels, true
		}
		if exists && !Managed(labels, ref.Name) {
			return notOurs(obj)
		}
	}
	return nil
}
