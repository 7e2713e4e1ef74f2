package verify

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Permission is one thing a client may or may not do.
type Permission struct {
	Verb, Group, Resource, Subresource, Name, Namespace string
}

// PermissionOf is the permission an access review's attributes ask about.
func PermissionOf(a authorizationv1.ResourceAttributes) Permission {
	return Permission{Verb: a.Verb, Group: a.Group, Resource: a.Resource, Subresource: a.Subresource, Name: a.Name, Namespace: a.Namespace}
}

// String reads like RBAC: `approve signers.certificates.k8s.io "kubernetes.io/kube-apiserver-client"`.
func (p Permission) String() string {
	s := p.Verb + " " + p.Resource
	if p.Subresource != "" {
		s += "/" + p.Subresource
	}
	if p.Group != "" {
		s += "." + p.Group
	}
	if p.Name != "" {
		s += fmt.Sprintf(" %q", p.Name)
	}
	if p.Namespace != "" {
		s += " in namespace " + p.Namespace
	} else {
		s += " (cluster-wide)"
	}
	return s
}

// Can asks the API server whether the client holds permission.
func Can(ctx context.Context, client kubernetes.Interface, p Permission) (bool, error) {
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: p.Verb, Group: p.Group, Resource: p.Resource, Subresource: p.Subresource, Name: p.Name, Namespace: p.Namespace,
		},
	}}
	got, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("checking permission to %s: %w", p, err)
	}
	return got.Status.Allowed, nil
}

// reviewConcurrency bounds the access reviews in flight at once.
const reviewConcurrency = 16

// CanFor asks the API server whether user, in groups, holds permission
// (a SubjectAccessReview, which the asker needs permission to create).
func CanFor(ctx context.Context, client kubernetes.Interface, user string, groups []string, p Permission) (bool, error) {
	return CanAs(ctx, client, authenticationv1.UserInfo{Username: user, Groups: groups}, p)
}

// CanAs is CanFor for a person as the API server authenticated them: with
// their UID and extra too, which authorizers may look at.
func CanAs(ctx context.Context, client kubernetes.Interface, who authenticationv1.UserInfo, p Permission) (bool, error) {
	return reviewAs(ctx, client, who, p.String(), &authorizationv1.ResourceAttributes{
		Verb: p.Verb, Group: p.Group, Resource: p.Resource, Subresource: p.Subresource, Name: p.Name, Namespace: p.Namespace,
	}, nil)
}

// CanAsPath is CanAs for a non-resource URL (/metrics, /healthz).
func CanAsPath(ctx context.Context, client kubernetes.Interface, who authenticationv1.UserInfo, verb, path string) (bool, error) {
	return reviewAs(ctx, client, who, verb+" "+path, nil, &authorizationv1.NonResourceAttributes{Verb: verb, Path: path})
}

// reviewAs asks one SubjectAccessReview as who, failing when the API
// server could not decide.
func reviewAs(ctx context.Context, client kubernetes.Interface, who authenticationv1.UserInfo, what string,
	res *authorizationv1.ResourceAttributes, nonRes *authorizationv1.NonResourceAttributes) (bool, error) {
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range who.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: who.Username, UID: who.UID, Groups: who.Groups, Extra: extra, ResourceAttributes: res, NonResourceAttributes: nonRes,
	}}
	got, err := client.AuthorizationV1().SubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("checking whether %s may %s: %w", who.Username, what, err)
	}
	if got.Status.EvaluationError != "" && !got.Status.Allowed && !got.Status.Denied {
		return false, fmt.Errorf("the API server could not decide whether %s may %s: %s", who.Username, what, got.Status.EvaluationError)
	}
	return got.Status.Allowed, nil
}

// MissingFor is Missing for another user, through SubjectAccessReviews.
func MissingFor(ctx context.Context, client kubernetes.Interface, user string, groups []string, perms []Permission) ([]Permission, error) {
	return MissingAs(ctx, client, authenticationv1.UserInfo{Username: user, Groups: groups}, perms)
}

// MissingAs is Missing for a person as the API server authenticated them.
func MissingAs(ctx context.Context, client kubernetes.Interface, who authenticationv1.UserInfo, perms []Permission) ([]Permission, error) {
	return missing(ctx, perms, func(ctx context.Context, p Permission) (bool, error) { return CanAs(ctx, client, who, p) })
}

// Missing returns the permissions the client does not hold, in the order
// given. The reviews run concurrently.
func Missing(ctx context.Context, client kubernetes.Interface, perms []Permission) ([]Permission, error) {
	return missing(ctx, perms, func(ctx context.Context, p Permission) (bool, error) { return Can(ctx, client, p) })
}

func missing(ctx context.Context, perms []Permission, can func(context.Context, Permission) (bool, error)) ([]Permission, error) {
	allowed := make([]bool, len(perms))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(reviewConcurrency)
	for i, p := range perms {
		g.Go(func() error {
			ok, err := can(ctx, p)
			allowed[i] = ok
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var missing []Permission
	for i, p := range perms {
		if !allowed[i] {
			missing = append(missing, p)
		}
	}
	return missing, nil
}

// RulePermissions expands rules into the permissions they grant in
// namespace ("" for cluster-wide): one per verb, group and resource.
// Rules limited to resource names or non-resource URLs are checked by name
// or skipped, as an access review cannot express them otherwise.
func RulePermissions(rules []rbacv1.PolicyRule, namespace string) []Permission {
	var perms []Permission
	for _, r := range rules {
		names := r.ResourceNames
		if len(names) == 0 {
			names = []string{""}
		}
		for _, verb := range r.Verbs {
			for _, group := range r.APIGroups {
				for _, res := range r.Resources {
					resource, sub, _ := strings.Cut(res, "/")
					for _, name := range names {
						perms = append(perms, Permission{Verb: verb, Group: group, Resource: resource, Subresource: sub, Name: name, Namespace: namespace})
					}
				}
			}
		}
	}
	return perms
}

// Unique drops repeated permissions, keeping the first of each.
func Unique(perms []Permission) []Permission {
	var out []Permission
	for _, p := range perms {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}
