package rbac

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/labels"
)

// Ref names one RBAC object.
type Ref struct {
	Kind      string // Role, ClusterRole, RoleBinding or ClusterRoleBinding
	Namespace string // "" for cluster-scoped kinds
	Name      string
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
	return r.Kind + " " + cmdutil.Printable(name)
}

// ParseRef reads what String writes, refusing kinds kubeaccess does not make.
func ParseRef(s string) (Ref, error) {
	kind, path, ok := strings.Cut(s, " ")
	if !ok {
		return Ref{}, fmt.Errorf("%q names no RBAC object", s)
	}
	switch kind {
	case "Role", "RoleBinding":
		ns, name, ok := strings.Cut(path, "/")
		if !ok || ns == "" || name == "" {
			return Ref{}, fmt.Errorf("%q names a %s without its namespace", s, kind)
		}
		return Ref{Kind: kind, Namespace: ns, Name: name}, nil
	case "ClusterRole", "ClusterRoleBinding":
		if path == "" || strings.Contains(path, "/") {
			return Ref{}, fmt.Errorf("%q is not a %s name", s, kind)
		}
		return Ref{Kind: kind, Name: path}, nil
	}
	return Ref{}, fmt.Errorf("%q is not a Role, ClusterRole, RoleBinding or ClusterRoleBinding", s)
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

// Index is one read of the cluster's bindings and roles.
type Index struct {
	Bindings []Binding
	Roles    map[Ref][]rbacv1.PolicyRule
}

// ReadIndex lists every binding and role, concurrently.
func ReadIndex(ctx context.Context, client kubernetes.Interface) (*Index, error) {
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
	list("ClusterRoleBindings", func() (err error) { crbs, err = r.ClusterRoleBindings().List(ctx, metav1.ListOptions{}); return })
	list("RoleBindings", func() (err error) { rbs, err = r.RoleBindings("").List(ctx, metav1.ListOptions{}); return })
	list("ClusterRoles", func() (err error) { crs, err = r.ClusterRoles().List(ctx, metav1.ListOptions{}); return })
	list("Roles", func() (err error) { roles, err = r.Roles("").List(ctx, metav1.ListOptions{}); return })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	ix := &Index{Roles: map[Ref][]rbacv1.PolicyRule{}}
	for _, b := range crbs.Items {
		ix.Bindings = append(ix.Bindings, Binding{Ref{"ClusterRoleBinding", "", b.Name}, b.Labels, b.Subjects, b.RoleRef})
	}
	for _, b := range rbs.Items {
		ix.Bindings = append(ix.Bindings, Binding{Ref{"RoleBinding", b.Namespace, b.Name}, b.Labels, b.Subjects, b.RoleRef})
	}
	for _, cr := range crs.Items {
		ix.Roles[Ref{"ClusterRole", "", cr.Name}] = cr.Rules
	}
	for _, role := range roles.Items {
		ix.Roles[Ref{"Role", role.Namespace, role.Name}] = role.Rules
	}
	return ix, nil
}

// RoleOf is the role a binding refers to.
func (b Binding) RoleOf() Ref {
	if b.RoleRef.Kind == "ClusterRole" {
		return Ref{Kind: "ClusterRole", Name: b.RoleRef.Name}
	}
	return Ref{Kind: "Role", Namespace: b.Ref.Namespace, Name: b.RoleRef.Name}
}

// Binds reports whether any binding refers to role.
func (ix *Index) Binds(role Ref) bool {
	for _, b := range ix.Bindings {
		if b.RoleOf() == role {
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
