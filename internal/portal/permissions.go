package portal

import (
	certificatesv1 "k8s.io/api/certificates/v1"

	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// Permissions are what serving invitations takes: submitting and watching
// client-certificate requests (and, with auto, approving them); reviewing
// an identity's access and its namespaces' service accounts; making and
// binding the invited access (bind and escalate, as the access is not the
// server's own); and reading and writing invitations and records. serve
// checks them at start and names what is missing.
func Permissions(recordsNamespace string, auto bool) []verify.Permission {
	const csrs, rbacGroup = "certificatesigningrequests", "rbac.authorization.k8s.io"
	perms := []verify.Permission{
		{Verb: "create", Group: certificatesv1.GroupName, Resource: csrs},
		{Verb: "get", Group: certificatesv1.GroupName, Resource: csrs},
		{Verb: "watch", Group: certificatesv1.GroupName, Resource: csrs},
		{Verb: "create", Group: "authorization.k8s.io", Resource: "subjectaccessreviews"},
		{Verb: "list", Resource: "serviceaccounts"},
		{Verb: "get", Resource: "namespaces"},
		{Verb: "create", Resource: "namespaces"},
		{Verb: "get", Resource: "configmaps", Namespace: recordsNamespace},
		{Verb: "list", Resource: "configmaps", Namespace: recordsNamespace},
		{Verb: "create", Resource: "configmaps", Namespace: recordsNamespace},
		{Verb: "update", Resource: "configmaps", Namespace: recordsNamespace},
		{Verb: "get", Resource: "secrets", Namespace: recordsNamespace},
		{Verb: "list", Resource: "secrets", Namespace: recordsNamespace},
		{Verb: "watch", Resource: "secrets", Namespace: recordsNamespace},
		{Verb: "update", Resource: "secrets", Namespace: recordsNamespace},
	}
	if auto {
		perms = append(perms,
			verify.Permission{Verb: "update", Group: certificatesv1.GroupName, Resource: csrs, Subresource: "approval"},
			verify.Permission{Verb: "approve", Group: certificatesv1.GroupName, Resource: "signers", Name: certificatesv1.KubeAPIServerClientSignerName})
	}
	for _, r := range []string{"roles", "rolebindings", "clusterroles", "clusterrolebindings"} {
		// delete undoes what a failed redemption made.
		for _, v := range []string{"get", "list", "create", "patch", "delete"} {
			perms = append(perms, verify.Permission{Verb: v, Group: rbacGroup, Resource: r})
		}
	}
	for _, r := range []string{"roles", "clusterroles"} {
		perms = append(perms, verify.Permission{Verb: "bind", Group: rbacGroup, Resource: r}, verify.Permission{Verb: "escalate", Group: rbacGroup, Resource: r})
	}
	return perms
}
