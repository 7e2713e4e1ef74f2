package privilege

import (
	"context"
	"fmt"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/kubernetes"
	rbacvalidation "k8s.io/component-helpers/auth/rbac/validation"

	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// Sources names the RBAC bindings that give id the request a, as
// `ClusterRoleBinding "x" (ClusterRole "y") to Group "z"`. Other
// authorizers (system:masters, webhooks) leave no binding to name.
func Sources(ctx context.Context, client kubernetes.Interface, id Identity, a authorizationv1.ResourceAttributes) ([]string, error) {
	index, err := rbac.ReadIndex(ctx, client)
	if err != nil {
		return nil, err
	}
	want := []rbacv1.PolicyRule{ruleOf(a)}
	var out []string
	u := id.RBACUser()
	for _, b := range index.BindingsNaming(u) {
		if b.Ref.Namespace != "" && b.Ref.Namespace != a.Namespace {
			continue
		}
		if ok, _ := rbacvalidation.Covers(index.Roles[b.RoleOf()], want); !ok {
			continue
		}
		kind, name := b.Ref.Kind, fmt.Sprintf("%q", b.Ref.Name)
		if b.Ref.Namespace != "" {
			name = b.Ref.Namespace + "/" + name
		}
		out = append(out, fmt.Sprintf("%s %s (%s %q) to %s", kind, name, b.RoleRef.Kind, b.RoleRef.Name, namedSubject(u, b)))
	}
	return out, nil
}

// namedSubject is the subject of b that names u, for messages.
func namedSubject(u rbac.User, b rbac.Binding) string {
	for _, s := range b.Subjects {
		if u.Named(s, b.Ref.Namespace) {
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
