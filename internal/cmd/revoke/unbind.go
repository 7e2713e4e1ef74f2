package revoke

import (
	"context"
	"fmt"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/safe"
)

// scopedRules are the rules a binding gave, where it gave them.
type scopedRules struct {
	namespace string // "" for a ClusterRoleBinding
	rules     []rbacv1.PolicyRule
}

// unbind removes subject, and only subject, from the binding ref names,
// deleting the binding when no subject is left; it then returns the
// binding's role, which may be bound no more (see deleteUnusedRoles). It touches only objects kubeaccess made (its
// label and one of its names): another binding a record names is
// reported and left. An update races nobody: it carries the version read,
// and is read again on a conflict. It returns the rules the binding gave
// and what it did.
func (o *Options) unbind(ctx context.Context, ref rbac.Ref, subject rbacv1.Subject) ([]scopedRules, []string, *rbac.Ref, error) {
	var (
		given  []scopedRules
		done   []string
		orphan *rbac.Ref
	)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		b, err := o.readBinding(ctx, ref)
		if apierrors.IsNotFound(err) {
			done = []string{ref.Display() + ": already gone"}
			return nil
		} else if err != nil {
			return fmt.Errorf("reading %s: %w", ref.Display(), err)
		}
		if !kubeaccessMade(b.meta) {
			done = []string{fmt.Sprintf("%s was not made by kubeaccess (it lacks kubeaccess's label or name); left as is", ref.Display())}
			return nil
		}
		rules, err := o.roleRules(ctx, b.roleRef, ref.Namespace)
		if err != nil {
			return err
		}
		given = []scopedRules{{namespace: ref.Namespace, rules: rules}}
		if !slices.ContainsFunc(*b.subjects, sameSubject(subject)) {
			// Bound to a group the certificate carries: removing the group
			// would take the access from everyone in it, so it stays, and the
			// check below reports what the user may still do.
			done = []string{ref.Display() + ": " + safe.Printable(subject.Name) + " is not a subject of it (it binds a group); left as is"}
			return nil
		}
		*b.subjects = slices.DeleteFunc(*b.subjects, sameSubject(subject))
		if len(*b.subjects) > 0 {
			if err := b.update(); err != nil {
				return err
			}
			done = []string{fmt.Sprintf("removed %s from %s%s", safe.Printable(subject.Name), ref.Display(), o.dryRun.Suffix())}
			return nil
		}
		if err := b.remove(); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		done = []string{"deleted " + ref.Display() + " (no subject left)" + o.dryRun.Suffix()}
		o.deleted = append(o.deleted, ref)
		role := rbac.Binding{Ref: ref, RoleRef: b.roleRef}.RoleOf()
		orphan = &role
		return nil
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("removing %s from %s: %w", safe.Printable(subject.Name), ref.Display(), err)
	}
	return given, done, orphan, nil
}

// binding is a RoleBinding or ClusterRoleBinding as read, with the calls
// that write that very version back or delete it.
type binding struct {
	meta     *metav1.ObjectMeta
	subjects *[]rbacv1.Subject
	roleRef  rbacv1.RoleRef
	update   func() error
	remove   func() error
}

func (o *Options) readBinding(ctx context.Context, ref rbac.Ref) (binding, error) {
	r := o.client.RbacV1()
	switch ref.Kind {
	case "RoleBinding":
		b, err := r.RoleBindings(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return binding{}, err
		}
		return binding{&b.ObjectMeta, &b.Subjects, b.RoleRef,
			o.write(func() error {
				_, err := r.RoleBindings(ref.Namespace).Update(ctx, b, metav1.UpdateOptions{DryRun: o.dryRun.Options()})
				return err
			}),
			o.write(func() error { return r.RoleBindings(ref.Namespace).Delete(ctx, ref.Name, o.sameVersion(&b.ObjectMeta)) })}, nil
	case "ClusterRoleBinding":
		b, err := r.ClusterRoleBindings().Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return binding{}, err
		}
		return binding{&b.ObjectMeta, &b.Subjects, b.RoleRef,
			o.write(func() error {
				_, err := r.ClusterRoleBindings().Update(ctx, b, metav1.UpdateOptions{DryRun: o.dryRun.Options()})
				return err
			}),
			o.write(func() error { return r.ClusterRoleBindings().Delete(ctx, ref.Name, o.sameVersion(&b.ObjectMeta)) })}, nil
	}
	return binding{}, fmt.Errorf("%s is not a binding", ref)
}

func sameSubject(s rbacv1.Subject) func(rbacv1.Subject) bool {
	return func(t rbacv1.Subject) bool { return t.Kind == s.Kind && t.Name == s.Name && t.Namespace == s.Namespace }
}

// sameVersion deletes only the very version of the object that was read
// (a dry run with --dry-run=server).
func (o *Options) sameVersion(m *metav1.ObjectMeta) metav1.DeleteOptions {
	return metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &m.UID, ResourceVersion: &m.ResourceVersion}, DryRun: o.dryRun.Options()}
}

// write is a change to the cluster, which --dry-run=client leaves unmade.
func (o *Options) write(change func() error) func() error {
	if o.dryRun == issue.DryRunClient {
		return func() error { return nil }
	}
	return change
}

// roleRules reads the rules a binding refers to.
func (o *Options) roleRules(ctx context.Context, ref rbacv1.RoleRef, namespace string) ([]rbacv1.PolicyRule, error) {
	r := o.client.RbacV1()
	if ref.Kind == "Role" {
		role, err := r.Roles(namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading Role %s/%s: %w", namespace, ref.Name, err)
		}
		return role.Rules, nil
	}
	role, err := r.ClusterRoles().Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading ClusterRole %s: %w", ref.Name, err)
	}
	return role.Rules, nil
}

// deleteUnusedRoles deletes the roles among candidates that kubeaccess
// made and that no binding of index refers to any more.
func (o *Options) deleteUnusedRoles(ctx context.Context, index *rbac.Index, candidates []rbac.Ref) ([]string, error) {
	var done []string
	for _, role := range candidates {
		if index.Binds(role, o.deleted...) {
			continue
		}
		meta, remove, err := o.readRole(ctx, role)
		if apierrors.IsNotFound(err) {
			continue
		} else if err != nil {
			return done, fmt.Errorf("reading %s: %w", role.Display(), err)
		}
		if !kubeaccessMade(meta) {
			continue
		}
		if err := remove(); err != nil && !apierrors.IsNotFound(err) {
			return done, fmt.Errorf("deleting %s: %w", role.Display(), err)
		}
		done = append(done, fmt.Sprintf("deleted %s (nothing binds it any more)%s", role.Display(), o.dryRun.Suffix()))
	}
	return done, nil
}

// readRole reads a Role or ClusterRole, with the call that deletes that
// very version.
func (o *Options) readRole(ctx context.Context, ref rbac.Ref) (*metav1.ObjectMeta, func() error, error) {
	r := o.client.RbacV1()
	if ref.Kind == "Role" {
		role, err := r.Roles(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return nil, nil, err
		}
		return &role.ObjectMeta, o.write(func() error { return r.Roles(ref.Namespace).Delete(ctx, ref.Name, o.sameVersion(&role.ObjectMeta)) }), nil
	}
	role, err := r.ClusterRoles().Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		return nil, nil, err
	}
	return &role.ObjectMeta, o.write(func() error { return r.ClusterRoles().Delete(ctx, ref.Name, o.sameVersion(&role.ObjectMeta)) }), nil
}

// reportOthers lists, without touching them, bindings that still give the
// user or their groups access.
func (o *Options) reportOthers(index *rbac.Index, subject rbacv1.Subject, groups []string) {
	names := func(s rbacv1.Subject) bool {
		return sameSubject(subject)(s) || s.Kind == rbacv1.GroupKind && slices.Contains(groups, s.Name)
	}
	for _, b := range index.BindingsOf(names) {
		who := safe.Printable(subject.Name)
		if !slices.ContainsFunc(b.Subjects, sameSubject(subject)) {
			i := slices.IndexFunc(b.Subjects, names)
			who = "group " + safe.Printable(b.Subjects[i].Name)
		}
		fmt.Fprintf(o.Out, "still in place (not touched): %s gives %s the %s %s\n", b.Ref.Display(), who, b.RoleRef.Kind, safe.Printable(b.RoleRef.Name))
	}
}
