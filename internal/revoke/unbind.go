package revoke

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/labels"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/safe"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// Unbound is what Unbind did to one binding.
type Unbound struct {
	Step Step
	// Given are the permissions the binding gave, where it gave them,
	// for Check to ask about.
	Given []verify.Permission
	// Orphan is the binding's role when the binding was deleted: it may be
	// bound no more (see DeleteUnusedRoles).
	Orphan *rbac.Ref
}

// Unbind removes subject, and only subject, from the binding ref names,
// deleting the binding when no subject is left. It touches only objects
// kubeaccess made (its label and one of its names): another binding a
// record names is reported and left. An update or delete carries the
// version read, and is read again on a conflict.
func (r *Revoker) Unbind(ctx context.Context, ref rbac.Ref, subject rbacv1.Subject) (Unbound, error) {
	var out Unbound
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		out = Unbound{Step: Step{Ref: ref, Subject: subject.Name, DryRun: r.DryRun}}
		b, err := r.readBinding(ctx, ref)
		if apierrors.IsNotFound(err) {
			out.Step.Kind = AlreadyGone
			return nil
		} else if err != nil {
			return fmt.Errorf("reading %s: %w", ref.Display(), err)
		}
		if !kubeaccessMade(b.meta) {
			out.Step.Kind = NotOurs
			return nil
		}
		rules, err := r.roleRules(ctx, b.roleRef, ref.Namespace)
		if err != nil {
			return err
		}
		out.Given = verify.RulePermissions(rules, ref.Namespace)
		if !slices.ContainsFunc(*b.subjects, sameSubject(subject)) {
			// Bound to a group the certificate carries: removing the group
			// would take the access from everyone in it, so it stays, and
			// Check reports what the user may still do.
			out.Step.Kind = GroupBound
			return nil
		}
		*b.subjects = slices.DeleteFunc(*b.subjects, sameSubject(subject))
		if len(*b.subjects) > 0 {
			out.Step.Kind = Removed
			return b.update()
		}
		if err := b.remove(); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		out.Step.Kind = Deleted
		role := rbac.Binding{Ref: ref, RoleRef: b.roleRef}.RoleOf()
		out.Orphan = &role
		return nil
	})
	if err != nil {
		return Unbound{}, fmt.Errorf("removing %s from %s: %w", safe.Printable(subject.Name), ref.Display(), err)
	}
	return out, nil
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

func (r *Revoker) readBinding(ctx context.Context, ref rbac.Ref) (binding, error) {
	c := r.Client.RbacV1()
	switch ref.Kind {
	case "RoleBinding":
		b, err := c.RoleBindings(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return binding{}, err
		}
		return binding{&b.ObjectMeta, &b.Subjects, b.RoleRef,
			r.write(func() error {
				_, err := c.RoleBindings(ref.Namespace).Update(ctx, b, metav1.UpdateOptions{DryRun: r.DryRun.Options()})
				return err
			}),
			r.write(func() error { return c.RoleBindings(ref.Namespace).Delete(ctx, ref.Name, r.sameVersion(&b.ObjectMeta)) })}, nil
	case "ClusterRoleBinding":
		b, err := c.ClusterRoleBindings().Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return binding{}, err
		}
		return binding{&b.ObjectMeta, &b.Subjects, b.RoleRef,
			r.write(func() error {
				_, err := c.ClusterRoleBindings().Update(ctx, b, metav1.UpdateOptions{DryRun: r.DryRun.Options()})
				return err
			}),
			r.write(func() error { return c.ClusterRoleBindings().Delete(ctx, ref.Name, r.sameVersion(&b.ObjectMeta)) })}, nil
	}
	return binding{}, fmt.Errorf("%s is not a binding", ref)
}

func sameSubject(s rbacv1.Subject) func(rbacv1.Subject) bool {
	return func(t rbacv1.Subject) bool { return t.Kind == s.Kind && t.Name == s.Name && t.Namespace == s.Namespace }
}

// sameVersion deletes only the very version of the object that was read
// (a dry run with --dry-run=server).
func (r *Revoker) sameVersion(m *metav1.ObjectMeta) metav1.DeleteOptions {
	return metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &m.UID, ResourceVersion: &m.ResourceVersion}, DryRun: r.DryRun.Options()}
}

// write is a change to the cluster, which a client dry run leaves unmade.
func (r *Revoker) write(change func() error) func() error {
	if r.DryRun == issue.DryRunClient {
		return func() error { return nil }
	}
	return change
}

// roleRules reads the rules a binding refers to; a role that is gone gave
// nothing.
func (r *Revoker) roleRules(ctx context.Context, ref rbacv1.RoleRef, namespace string) ([]rbacv1.PolicyRule, error) {
	c := r.Client.RbacV1()
	if ref.Kind == "Role" {
		role, err := c.Roles(namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading Role %s/%s: %w", namespace, ref.Name, err)
		}
		return role.Rules, nil
	}
	role, err := c.ClusterRoles().Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading ClusterRole %s: %w", ref.Name, err)
	}
	return role.Rules, nil
}

// DeleteUnusedRoles deletes the roles among candidates that kubeaccess
// made and that no binding of index refers to any more, but for those in
// deleted (which index may have been read before their deletion).
func (r *Revoker) DeleteUnusedRoles(ctx context.Context, index *rbac.Index, candidates, deleted []rbac.Ref) ([]Step, error) {
	var done []Step
	for _, role := range candidates {
		if index.Binds(role, deleted...) {
			continue
		}
		meta, remove, err := r.readRole(ctx, role)
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
		done = append(done, Step{Kind: Deleted, Ref: role, DryRun: r.DryRun})
	}
	return done, nil
}

// readRole reads a Role or ClusterRole, with the call that deletes that
// very version.
func (r *Revoker) readRole(ctx context.Context, ref rbac.Ref) (*metav1.ObjectMeta, func() error, error) {
	c := r.Client.RbacV1()
	if ref.Kind == "Role" {
		role, err := c.Roles(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return nil, nil, err
		}
		return &role.ObjectMeta, r.write(func() error { return c.Roles(ref.Namespace).Delete(ctx, ref.Name, r.sameVersion(&role.ObjectMeta)) }), nil
	}
	role, err := c.ClusterRoles().Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		return nil, nil, err
	}
	return &role.ObjectMeta, r.write(func() error { return c.ClusterRoles().Delete(ctx, ref.Name, r.sameVersion(&role.ObjectMeta)) }), nil
}

// kubeaccessMade reports whether kubeaccess made an object: its label and
// one of the names it gives.
func kubeaccessMade(m metav1.Object) bool {
	return rbac.Managed(m.GetLabels(), m.GetName())
}

// ErrNotOurs is an object kubeaccess did not make, which it leaves alone.
var ErrNotOurs = errors.New("not made by kubeaccess")

// EndTokens deletes the Secret a record's tokens are bound to, which ends
// them all at once, if kubeaccess made it; the delete carries the UID
// read. A record without a bound Secret has nothing to end.
func (r *Revoker) EndTokens(ctx context.Context, rec records.Record) error {
	if rec.BoundSecret == "" {
		return nil
	}
	ns, _, _ := strings.Cut(rec.ServiceAccount, "/")
	secrets := r.Client.CoreV1().Secrets(ns)
	s, err := secrets.Get(ctx, rec.BoundSecret, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading Secret %s/%s, to which %s's tokens are bound: %w", ns, rec.BoundSecret, rec.ServiceAccount, err)
	}
	if s.Labels[labels.ManagedBy] != labels.Kubeaccess || s.Type != corev1.SecretTypeOpaque {
		return fmt.Errorf("%w: the Secret %s/%s, to which %s's tokens are bound, is not kubeaccess's; delete it yourself to end them", ErrNotOurs, ns, rec.BoundSecret, rec.ServiceAccount)
	}
	if r.DryRun == issue.DryRunClient {
		return nil
	}
	opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID, ResourceVersion: &s.ResourceVersion}, DryRun: r.DryRun.Options()}
	if err := secrets.Delete(ctx, s.Name, opts); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting Secret %s/%s, to which %s's tokens are bound: %w", ns, rec.BoundSecret, rec.ServiceAccount, err)
	}
	return nil
}
