package privilege

import (
	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// Held locally: the catalogue answered by RBAC evaluated from one read of
// the cluster's roles and bindings (rbac.Index.Decide), for many subjects
// at no cost per question. Access reviews stay the authority when issuing;
// this is for reports over a whole cluster (audit).

// LocalFindings are the catalogue entries u holds through RBAC, each part
// with the binding and rule that give it in place of a grant.
func LocalFindings(ix *rbac.Index, u rbac.User) []Finding {
	return walk(Catalogue, func(any AnyOf) (authorizationv1.ResourceAttributes, string, bool) { return heldLocally(ix, u, any) })
}

func heldLocally(ix *rbac.Index, u rbac.User, any AnyOf) (authorizationv1.ResourceAttributes, string, bool) {
	for _, a := range any {
		d := ix.Decide(u, rbac.Request{Verb: a.Verb, Group: a.Group, Resource: a.Resource, Subresource: a.Subresource, Name: a.Name, Namespace: a.Namespace})
		if d.Allowed && len(d.Reasons) > 0 {
			return a, d.Reasons[0].Describe(), true
		}
	}
	return authorizationv1.ResourceAttributes{}, "", false
}
