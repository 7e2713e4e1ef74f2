package privilege

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
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

// CheckAuthority returns nil if who may create every object themselves,
// and otherwise an error naming, for each object, what they lack. An
// error from the API server means it could not tell: callers refuse.
func CheckAuthority(ctx context.Context, client kubernetes.Interface, who authenticationv1.UserInfo, createNamespace string, objs []Object) error {
	var problems []string
	ask := func(a authorizationv1.ResourceAttributes) (bool, error) { return allowedAs(ctx, client, who, &a, nil) }
	if createNamespace != "" {
		ok, err := ask(authorizationv1.ResourceAttributes{Verb: "create", Resource: "namespaces"})
		if err != nil {
			return err
		}
		if !ok {
			problems = append(problems, fmt.Sprintf("may not create namespace %s", createNamespace))
		}
	}
	for _, o := range objs {
		p, err := judge(ctx, client, who, o, ask)
		if err != nil {
			return err
		}
		problems = append(problems, p...)
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%q could not make this access themselves:\n  %s", who.Username, strings.Join(problems, "\n  "))
}

// judge says what who lacks to create one object.
func judge(ctx context.Context, client kubernetes.Interface, who authenticationv1.UserInfo, o Object, ask func(authorizationv1.ResourceAttributes) (bool, error)) ([]string, error) {
	const g = rbacv1.GroupName
	var (
		namespace, resource, what string
		// lift is the verb and object that lift RBAC's own check.
		lift authorizationv1.ResourceAttributes
	)
	switch obj := o.Obj.(type) {
	case *rbacv1.Role:
		namespace, resource, what = obj.Namespace, "roles", "Role "+obj.Namespace+"/"+obj.Name
		lift = authorizationv1.ResourceAttributes{Verb: "escalate", Group: g, Resource: "roles", Namespace: namespace}
	case *rbacv1.ClusterRole:
		resource, what = "clusterroles", "ClusterRole "+obj.Name
		lift = authorizationv1.ResourceAttributes{Verb: "escalate", Group: g, Resource: "clusterroles"}
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
	ok, err := ask(authorizationv1.ResourceAttributes{Verb: "create", Group: g, Resource: resource, Namespace: namespace})
	if err != nil {
		return nil, err
	}
	if !ok {
		out = append(out, fmt.Sprintf("may not create %s", what))
	}
	if ok, err = ask(lift); err != nil || ok {
		return out, err
	}
	lacking, err := lacks(ctx, client, who, o.Rules, namespace)
	if err != nil {
		return nil, err
	}
	if len(lacking) > 0 {
		out = append(out, fmt.Sprintf("may not %s, and does not hold %s", Describe(lift), strings.Join(lacking, "; ")))
	}
	return out, nil
}

func bindOn(ref rbacv1.RoleRef, namespace string) authorizationv1.ResourceAttributes {
	resource := "roles"
	if ref.Kind == "ClusterRole" {
		resource = "clusterroles"
	}
	return authorizationv1.ResourceAttributes{Verb: "bind", Group: rbacv1.GroupName, Resource: resource, Name: ref.Name, Namespace: namespace}
}

// lacks lists the permissions of rules that who does not hold in
// namespace ("" cluster-wide), each rule taken apart into single requests
// (a wildcard is asked as the wildcard, which only a wildcard allows).
func lacks(ctx context.Context, client kubernetes.Interface, who authenticationv1.UserInfo, rules []rbacv1.PolicyRule, namespace string) ([]string, error) {
	type question struct {
		res    *authorizationv1.ResourceAttributes
		nonRes *authorizationv1.NonResourceAttributes
		text   string
	}
	var qs []question
	for _, r := range rules {
		for _, verb := range r.Verbs {
			for _, url := range r.NonResourceURLs {
				qs = append(qs, question{nonRes: &authorizationv1.NonResourceAttributes{Verb: verb, Path: url}, text: verb + " " + url})
			}
			for _, group := range r.APIGroups {
				for _, resource := range r.Resources {
					names := r.ResourceNames
					if len(names) == 0 {
						names = []string{""}
					}
					res, sub, _ := strings.Cut(resource, "/")
					for _, name := range names {
						a := &authorizationv1.ResourceAttributes{Verb: verb, Group: group, Resource: res, Subresource: sub, Name: name, Namespace: namespace}
						qs = append(qs, question{res: a, text: Describe(*a)})
					}
				}
			}
		}
	}
	held := make([]bool, len(qs))
	eg, ctx := errgroup.WithContext(ctx)
	eg.SetLimit(reviewConcurrency)
	for i, q := range qs {
		eg.Go(func() (err error) {
			held[i], err = allowedAs(ctx, client, who, q.res, q.nonRes)
			return err
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	var out []string
	for i, q := range qs {
		if !held[i] {
			out = append(out, q.text)
		}
	}
	return out, nil
}

// allowedAs asks whether who may make a request, with every attribute
// the API server authenticated them with.
func allowedAs(ctx context.Context, client kubernetes.Interface, who authenticationv1.UserInfo, res *authorizationv1.ResourceAttributes, nonRes *authorizationv1.NonResourceAttributes) (bool, error) {
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range who.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	r := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: who.Username, UID: who.UID, Groups: who.Groups, Extra: extra, ResourceAttributes: res, NonResourceAttributes: nonRes,
	}}
	got, err := client.AuthorizationV1().SubjectAccessReviews().Create(ctx, r, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("asking the API server what %q may do: %w", who.Username, err)
	}
	if got.Status.EvaluationError != "" && !got.Status.Allowed && !got.Status.Denied {
		return false, fmt.Errorf("the API server could not decide what %q may do: %s", who.Username, got.Status.EvaluationError)
	}
	return got.Status.Allowed, nil
}
