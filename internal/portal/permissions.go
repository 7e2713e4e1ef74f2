package portal

import (
	certificatesv1 "k8s.io/api/certificates/v1"

	"github.com/kubeaccess/kubeaccess/internal/invite"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// Permissions are what serving invitations takes: submitting, approving
// and watching client-certificate requests; reviewing an identity's
// access; making and binding the invited access (bind and escalate, as the
// access is not the server's own); and reading and writing invitations and
// records. serve checks them at start and names what is missing.
func Permissions(recordsNamespace string) []verify.Permission {
	const csrs, rbacGroup = "certificatesigningrequests", "rbac.authorization.k8s.io"
	perms := []verify.Permission{
		{Verb: "create", Group: certificatesv1.GroupName, Resource: csrs},
		{Verb: "get", Group: certificatesv1.GroupName, Resource: csrs},
		{Verb: "watch", Group: certificatesv1.GroupName, Resource: csrs},
		{Verb: "delete", Group: certificatesv1.GroupName, Resource: csrs},
		{Verb: "update", Group: certificatesv1.GroupName, Resource: csrs, Subresource: "approval"},
		{Verb: "approve", Group: certificatesv1.GroupName, Resource: "signers", Name: certificatesv1.KubeAPIServerClientSignerName},
		{Verb: "create", Group: "authorization.k8s.io", Resource: "subjectaccessreviews"},
		{Verb: "get", Resource: "namespaces"},
		{Verb: "create", Resource: "namespaces"},
		{Verb: "patch", Resource: "namespaces"},
		{Verb: "get", Resource: "configmaps", Namespace: recordsNamespace},
		{Verb: "list", Resource: "configmaps", Namespace: recordsNamespace},
		{Verb: "create", Resource: "configmaps", Namespace: recordsNamespace},
		{Verb: "update", Resource: "configmaps", Namespace: recordsNamespace},
		{Verb: "get", Resource: "secrets", Name: invite.KeySecret, Namespace: recordsNamespace},
	}
	for _, r := range []string{"roles", "rolebindings", "clusterroles", "clusterrolebindings"} {
		for _, v := range []string{"get", "list", "create", "patch", "delete"} {
			perms = append(perms, verify.Permission{Verb: v, Group: rbacGroup, Resource: r})
		}
	}
	for _, r := range []string{"roles", "clusterroles"} {
		perms = append(perms, verify.Permission{Verb: "bind", Group: rbacGroup, Resource: r}, verify.Permission{Verb: "escalate", Group: rbacGroup, Resource: r})
	}
	return perms
}
