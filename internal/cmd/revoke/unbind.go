package revoke

import (
	"context"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// scopedRules are the rules a binding gave, where it gave them.
type scopedRules struct {
	namespace string // "" for a ClusterRoleBinding
	rules     []rbacv1.PolicyRule
}

// unbind removes subject from the binding ref names ("RoleBinding ns/name"
// or "ClusterRoleBinding name"), deleting the binding when kubeaccess made
// it and no subject is left, and then its role when kubeaccess made that
// and nothing else binds it. It returns the rules the binding gave and
// what it did.
func (o *Options) unbind(ctx context.Context, ref string, subject rbacv1.Subject) ([]scopedRules, []string, error) {
	kind, path, _ := strings.Cut(ref, " ")
	namespace, name, namespaced := strings.Cut(path, "/")
	if !namespaced {
		namespace, name = "", path
	}
	var (
		meta     *metav1.ObjectMeta
		subjects *[]rbacv1.Subject
		roleRef  rbacv1.RoleRef
		update   func() error
		remove   func() error
	)
	r := o.client.RbacV1()
	switch kind {
	case "RoleBinding":
		b, err := r.RoleBindings(namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, []string{ref + ": already gone"}, nil
		} else if err != nil {
			return nil, nil, fmt.Errorf("reading %s: %w", ref, err)
		}
		meta, subjects, roleRef = &b.ObjectMeta, &b.Subjects, b.RoleRef
		update = func() error { _, err := r.RoleBindings(namespace).Update(ctx, b, metav1.UpdateOptions{}); return err }
		remove = func() error { return r.RoleBindings(namespace).Delete(ctx, name, uidPrecondition(b.UID)) }
	case "ClusterRoleBinding":
		b, err := r.ClusterRoleBindings().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, []string{ref + ": already gone"}, nil
		} else if err != nil {
			return nil, nil, fmt.Errorf("reading %s: %w", ref, err)
		}
		meta, subjects, roleRef = &b.ObjectMeta, &b.Subjects, b.RoleRef
		update = func() error { _, err := r.ClusterRoleBindings().Update(ctx, b, metav1.UpdateOptions{}); return err }
		remove = func() error { return r.ClusterRoleBindings().Delete(ctx, name, uidPrecondition(b.UID)) }
	default:
		return nil, nil, fmt.Errorf("unknown binding %q in a record", ref)
	}
	rules, err := o.roleRules(ctx, roleRef, namespace)
	if err != nil {
		return nil, nil, err
	}
	given := []scopedRules{{namespace: namespace, rules: rules}}
	if !slices.ContainsFunc(*subjects, sameSubject(subject)) {
		// Bound to a group the certificate carries: removing the group
		// would take the access from everyone in it, so it stays, and the
		// check below reports what the user may still do.
		return given, []string{ref + ": " + subject.Name + " is not a subject of it (it binds a group); left as is"}, nil
	}
	*subjects = slices.DeleteFunc(*subjects, sameSubject(subject))
	var done []string
	if len(*subjects) == 0 && kubeaccessMade(meta) {
		if err := remove(); err != nil && !apierrors.IsNotFound(err) {
			return nil, nil, fmt.Errorf("deleting %s: %w", ref, err)
		}
		done = append(done, "deleted "+ref+" (no subject left)")
		if what, err := o.deleteRoleIfUnused(ctx, roleRef, namespace); err != nil {
			return nil, nil, err
		} else if what != "" {
			done = append(done, what)
		}
	} else {
		if err := update(); err != nil {
			return nil, nil, fmt.Errorf("removing %s from %s: %w", subject.Name, ref, err)
		}
		done = append(done, fmt.Sprintf("removed %s from %s", subject.Name, ref))
	}
	return given, done, nil
}

func sameSubject(s rbacv1.Subject) func(rbacv1.Subject) bool {
	return func(t rbacv1.Subject) bool { return t.Kind == s.Kind && t.Name == s.Name && t.Namespace == s.Namespace }
}

// uidPrecondition deletes only the very object that was read.
func uidPrecondition(uid types.UID) metav1.DeleteOptions {
	return metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}
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

// deleteRoleIfUnused deletes a role kubeaccess made once no binding in its
// scope refers to it.
func (o *Options) deleteRoleIfUnused(ctx context.Context, ref rbacv1.RoleRef, namespace string) (string, error) {
	r := o.client.RbacV1()
	if ref.Kind == "Role" {
		role, err := r.Roles(namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || err == nil && !kubeaccessMade(role) {
			return "", nil
		} else if err != nil {
			return "", err
		}
		bindings, err := r.RoleBindings(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return "", err
		}
		if slices.ContainsFunc(bindings.Items, func(b rbacv1.RoleBinding) bool { return b.RoleRef.Kind == "Role" && b.RoleRef.Name == ref.Name }) {
			return "", nil
		}
		if err := r.Roles(namespace).Delete(ctx, ref.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return "", err
		}
		return fmt.Sprintf("deleted Role %s/%s (nothing binds it any more)", namespace, ref.Name), nil
	}
	role, err := r.ClusterRoles().Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || err == nil && !kubeaccessMade(role) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	crbs, err := r.ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	rbs, err := r.RoleBindings("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	refers := func(k, n string) bool { return k == "ClusterRole" && n == ref.Name }
	if slices.ContainsFunc(crbs.Items, func(b rbacv1.ClusterRoleBinding) bool { return refers(b.RoleRef.Kind, b.RoleRef.Name) }) ||
		slices.ContainsFunc(rbs.Items, func(b rbacv1.RoleBinding) bool { return refers(b.RoleRef.Kind, b.RoleRef.Name) }) {
		return "", nil
	}
	if err := r.ClusterRoles().Delete(ctx, ref.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return "", err
	}
	return fmt.Sprintf("deleted ClusterRole %s (nothing binds it any more)", ref.Name), nil
}

// reportOthers lists, without touching them, bindings that still give the
// user or their groups access.
func (o *Options) reportOthers(ctx context.Context, subject rbacv1.Subject, groups []string) {
	matches := func(subjects []rbacv1.Subject) string {
		for _, s := range subjects {
			if sameSubject(subject)(s) {
				return subject.Name
			}
			if s.Kind == rbacv1.GroupKind && slices.Contains(groups, s.Name) {
				return "group " + s.Name
			}
		}
		return ""
	}
	r := o.client.RbacV1()
	var others []string
	if crbs, err := r.ClusterRoleBindings().List(ctx, metav1.ListOptions{}); err == nil {
		for _, b := range crbs.Items {
			if who := matches(b.Subjects); who != "" {
				others = append(others, fmt.Sprintf("ClusterRoleBinding %s gives %s the %s %s", b.Name, who, b.RoleRef.Kind, b.RoleRef.Name))
			}
		}
	}
	if rbs, err := r.RoleBindings("").List(ctx, metav1.ListOptions{}); err == nil {
		for _, b := range rbs.Items {
			if who := matches(b.Subjects); who != "" {
				others = append(others, fmt.Sprintf("RoleBinding %s/%s gives %s the %s %s", b.Namespace, b.Name, who, b.RoleRef.Kind, b.RoleRef.Name))
			}
		}
	}
	for _, s := range others {
		fmt.Fprintf(o.Out, "still in place (not touched): %s\n", s)
	}
}
