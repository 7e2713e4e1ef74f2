package privilege

import (
	"context"
	"fmt"
	"slices"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	rbacvalidation "k8s.io/component-helpers/auth/rbac/validation"
)

// Names reports whether subject s names the identity.
func (id Identity) Names(s rbacv1.Subject) bool {
	switch s.Kind {
	case rbacv1.UserKind:
		return s.Name == id.User
	case rbacv1.GroupKind:
		return slices.Contains(id.Groups, s.Name)
	case rbacv1.ServiceAccountKind:
		return id.User == "system:serviceaccount:"+s.Namespace+":"+s.Name
	}
	return false
}

// Sources names the RBAC bindings that give id the request a, as
// `ClusterRoleBinding "x" (ClusterRole "y") to Group "z"`. Other
// authorizers (system:masters, webhooks) leave no binding to name.
func Sources(ctx context.Context, client kubernetes.Interface, id Identity, a authorizationv1.ResourceAttributes) ([]string, error) {
	r := client.RbacV1()
	want := []rbacv1.PolicyRule{ruleOf(a)}
	var out []string
	crbs, err := r.ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	clusterRoleRules := map[string][]rbacv1.PolicyRule{}
	rulesOf := func(ref rbacv1.RoleRef, namespace string) []rbacv1.PolicyRule {
		if ref.Kind == "ClusterRole" {
			if rules, ok := clusterRoleRules[ref.Name]; ok {
				return rules
			}
			if role, err := r.ClusterRoles().Get(ctx, ref.Name, metav1.GetOptions{}); err == nil {
				clusterRoleRules[ref.Name] = role.Rules
				return role.Rules
			}
			return nil
		}
		if role, err := r.Roles(namespace).Get(ctx, ref.Name, metav1.GetOptions{}); err == nil {
			return role.Rules
		}
		return nil
	}
	for _, b := range crbs.Items {
		if who := namedSubject(id, b.Subjects); who != "" {
			if ok, _ := rbacvalidation.Covers(rulesOf(b.RoleRef, ""), want); ok {
				out = append(out, fmt.Sprintf("ClusterRoleBinding %q (%s %q) to %s", b.Name, b.RoleRef.Kind, b.RoleRef.Name, who))
			}
		}
	}
	if a.Namespace != "" {
		rbs, err := r.RoleBindings(a.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return out, err
		}
		for _, b := range rbs.Items {
			if who := namedSubject(id, b.Subjects); who != "" {
				if ok, _ := rbacvalidation.Covers(rulesOf(b.RoleRef, b.Namespace), want); ok {
					out = append(out, fmt.Sprintf("RoleBinding %s/%q (%s %q) to %s", b.Namespace, b.Name, b.RoleRef.Kind, b.RoleRef.Name, who))
				}
			}
		}
	}
	return out, nil
}

func namedSubject(id Identity, subjects []rbacv1.Subject) string {
	for _, s := range subjects {
		if id.Names(s) {
			return fmt.Sprintf("%s %q", s.Kind, s.Name)
		}
	}
	return ""
}

// Explain describes findings for an error message, naming for each part
// held already the bindings that give it, where they can be read.
func Explain(ctx context.Context, client kubernetes.Interface, id Identity, findings []Finding) string {
	var b strings.Builder
	for _, f := range findings {
		fmt.Fprintf(&b, "  %s\n", f)
		for i, a := range f.Held {
			if f.GrantedBy[i] != "" {
				continue
			}
			sources, err := Sources(ctx, client, id, a)
			switch {
			case err != nil:
				fmt.Fprintf(&b, "    (the bindings that give %s cannot be read: %v)\n", Describe(a), err)
			case len(sources) == 0:
				fmt.Fprintf(&b, "    %s is allowed by no RBAC binding kubeaccess can see: another authorizer (system:masters, a webhook) allows it\n", Describe(a))
			}
			for _, s := range sources {
				fmt.Fprintf(&b, "    held through %s\n", s)
			}
		}
	}
	return strings.TrimRight(b.String(), "\n")
}
