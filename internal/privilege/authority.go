package privilege

import (
	"context"
	"fmt"
	"strings"
	"sync"

	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// Authority: whatever kubeaccess does on someone's behalf (the portal
// redeeming an invitation) it does only as far as that someone could do
// it themselves. The API server lets a person create a role only with
// escalate on it or holding every permission it gives, and a binding only
// with bind on its role or holding every permission of the role where the
// binding applies; CheckAuthority asks the same questions of the API
// server about the person (SubjectAccessReview with their user, UID,
// groups and extra), since the objects are created with kubeaccess's own
// rights.

// Object is an RBAC object to be created on someone's behalf, with the
// rules of the role it is or binds.
type Object struct {
	Obj   runtime.Object
	Rules []rbacv1.PolicyRule
}

// CheckAuthority returns nil if who may create every object themselves
// (and namespace createNamespace, when not ""), and otherwise an error
// naming, for each object, what they lack. An error from the API server
// means it could not tell: callers refuse.
func CheckAuthority(ctx context.Context, client kubernetes.Interface, who authenticationv1.UserInfo, createNamespace string, objs []Object) error {
	var needs []verify.Permission
	if createNamespace != "" {
		needs = append(needs, verify.Permission{Verb: "create", Resource: "namespaces", Name: createNamespace})
	}
	return (&Authority{Client: client, Who: who}).Check(ctx, needs, objs)
}

// Authority asks what one person may do, each question once: a team's
// hundreds of bindings ask the same few (create rolebindings in a
// namespace, bind its role there).
type Authority struct {
	Client kubernetes.Interface
	Who    authenticationv1.UserInfo

	mu      sync.Mutex
	answers map[verify.Permission]bool
	lacking map[string][]string
}

// Check returns nil if Who holds every one of needs (a name in one names
// the object made, for the message, and is not asked) and may create every
// object themselves; otherwise an error naming all they lack.
func (a *Authority) Check(ctx context.Context, needs []verify.Permission, objs []Object) error {
	var problems []string
	for _, p := range needs {
		asked := p
		asked.Name = ""
		ok, err := a.can(ctx, asked)
		if err != nil {
			return err
		}
		if !ok {
			problems = append(problems, strings.TrimSpace(fmt.Sprintf("may not %s %s %s", p.Verb, singular(p.Resource), path(p))))
		}
	}
	for _, o := range objs {
		p, err := a.judge(ctx, o)
		if err != nil {
			return err
		}
		problems = append(problems, p...)
	}
	if len(problems) == 0 {
		return nil
	}
	return &Unauthorized{Who: a.Who.Username, Lacks: problems}
}

// Unauthorized is a refusal: Who could not make the access themselves,
// for the reasons in Lacks.
type Unauthorized struct {
	Who   string
	Lacks []string
}

func (u *Unauthorized) Error() string {
	return fmt.Sprintf("%q could not make this access themselves:\n  %s", u.Who, strings.Join(u.Lacks, "\n  "))
}

// singular is a resource's name for one object: teamaccesses is a
// teamaccess, secrets a secret.
func singular(resource string) string {
	if strings.HasSuffix(resource, "sses") {
		return strings.TrimSuffix(resource, "es")
	}
	return strings.TrimSuffix(resource, "s")
}

// path is NAMESPACE/NAME, or NAME.
func path(p verify.Permission) string {
	if p.Namespace == "" {
		return p.Name
	}
	return p.Namespace + "/" + p.Name
}

// can asks once whether Who holds p.
func (a *Authority) can(ctx context.Context, p verify.Permission) (bool, error) {
	return remember(&a.mu, &a.answers, p, func() (bool, error) { return verify.CanAs(ctx, a.Client, a.Who, p) })
}

// remember is the answer to key in *answers, asked of f the first time
// (an error is not remembered).
func remember[K comparable, V any](mu *sync.Mutex, answers *map[K]V, key K, f func() (V, error)) (V, error) {
	mu.Lock()
	v, known := (*answers)[key]
	mu.Unlock()
	if known {
		return v, nil
	}
	v, err := f()
	if err != nil {
		return v, err
	}
	mu.Lock()
	defer mu.Unlock()
	if *answers == nil {
		*answers = map[K]V{}
	}
	(*answers)[key] = v
	return v, nil
}

// judge says what Who lacks to create one object.
func (a *Authority) judge(ctx context.Context, o Object) ([]string, error) {
	const g = rbacv1.GroupName
	var (
		namespace, resource, what string
		// lift is the verb and object that lift RBAC's own check.
		lift verify.Permission
	)
	switch obj := o.Obj.(type) {
	case *rbacv1.Role:
		namespace, resource, what = obj.Namespace, "roles", "Role "+obj.Namespace+"/"+obj.Name
		lift = verify.Permission{Verb: "escalate", Group: g, Resource: "roles", Namespace: namespace}
	case *rbacv1.ClusterRole:
		resource, what = "clusterroles", "ClusterRole "+obj.Name
		lift = verify.Permission{Verb: "escalate", Group: g, Resource: "clusterroles"}
	case *rbacv1.RoleBinding:
		namespace, resource, what = obj.Namespace, "rolebindings", "RoleBinding "+obj.Namespace+"/"+obj.Name
		lift = bindOn(obj.RoleRef, namespace)
	case *rbacv1.ClusterRoleBinding:
		resource, what = "clusterrolebindings", "ClusterRoleBinding "+obj.Name
		lift = bindOn(obj.RoleRef, "")
	default:
		return nil, fmt.Errorf("%T is not an RBAC object", o.Obj)
	}
	var out []string
	ok, err := a.can(ctx, verify.Permission{Verb: "create", Group: g, Resource: resource, Namespace: namespace})
	if err != nil {
		return nil, err
	}
	if !ok {
		out = append(out, fmt.Sprintf("may not create %s", what))
	}
	if ok, err = a.can(ctx, lift); err != nil || ok {
		return out, err
	}
	lacking, err := a.lacks(ctx, o.Rules, namespace)
	if err != nil {
		return nil, err
	}
	if len(lacking) > 0 {
		out = append(out, fmt.Sprintf("may not %s, and does not hold %s", lift, strings.Join(lacking, "; ")))
	}
	return out, nil
}

func bindOn(ref rbacv1.RoleRef, namespace string) verify.Permission {
	resource := "roles"
	if ref.Kind == "ClusterRole" {
		resource = "clusterroles"
	}
	return verify.Permission{Verb: "bind", Group: rbacv1.GroupName, Resource: resource, Name: ref.Name, Namespace: namespace}
}

// lacks lists the permissions of rules that who does not hold in
// namespace ("" cluster-wide), each rule taken apart into single requests
// (a wildcard is asked as the wildcard, which only a wildcard allows).
func (a *Authority) lacks(ctx context.Context, rules []rbacv1.PolicyRule, namespace string) ([]string, error) {
	key := fmt.Sprintf("%s\x00%v", namespace, rules)
	return remember(&a.mu, &a.lacking, key, func() ([]string, error) { return lacks(ctx, a.Client, a.Who, rules, namespace) })
}

// lacks asks it afresh.
func lacks(ctx context.Context, client kubernetes.Interface, who authenticationv1.UserInfo, rules []rbacv1.PolicyRule, namespace string) ([]string, error) {
	missing, err := verify.MissingAs(ctx, client, who, verify.RulePermissions(rules, namespace))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range missing {
		out = append(out, p.String())
	}
	// RulePermissions leaves non-resource URLs out; they are asked here.
	for _, r := range rules {
		for _, verb := range r.Verbs {
			for _, path := range r.NonResourceURLs {
				ok, err := verify.CanAsPath(ctx, client, who, verb, path)
				if err != nil {
					return nil, err
				}
				if !ok {
					out = append(out, verb+" "+path)
				}
			}
		}
	}
	return out, nil
}
