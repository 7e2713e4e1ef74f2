package portal

import (
	"slices"

	certificatesv1 "k8s.io/api/certificates/v1"

	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// Permissions are what serving invitations takes: submitting and watching
// client-certificate requests (and, with auto, approving them); reviewing
// an identity's access and its namespaces' service accounts; making and
// binding the invited access (bind and escalate, as the access is not the
// server's own); and reading and writing invitations and records. serve
// checks them at start and names what is missing.
func Permissions(recordsNamespace string, auto bool) []verify.Permission {
	const rbacGroup = "rbac.authorization.k8s.io"
	// What the engine asks of whoever issues: submitting (and watching)
	// requests, reviewing an identity's privilege, and keeping records.
	perms := slices.Concat([]verify.Permission{issue.SubmitPermission, issue.WatchPermission,
		{Verb: "get", Group: certificatesv1.GroupName, Resource: "certificatesigningrequests"}},
		issue.PrivilegePermissions(false), issue.RecordPermissions(recordsNamespace), issue.CreateNamespacePermissions)
	if auto {
		perms = append(perms, issue.ApprovePermissions...)
	}
	// The invitations and records themselves: read, listed, and changed.
	perms = append(perms, verify.Permission{Verb: "get", Resource: "namespaces"})
	for _, r := range []string{"configmaps", "secrets"} {
		for _, v := range []string{"get", "list", "update"} {
			perms = append(perms, verify.Permission{Verb: v, Resource: r, Namespace: recordsNamespace})
		}
	}
	perms = append(perms, verify.Permission{Verb: "watch", Resource: "secrets", Namespace: recordsNamespace})
	for _, r := range []string{"roles", "rolebindings", "clusterroles", "clusterrolebindings"} {
		// delete undoes what a failed redemption made.
		for _, v := range []string{"get", "list", "create", "patch", "delete"} {
			perms = append(perms, verify.Permission{Verb: v, Group: rbacGroup, Resource: r})
		}
	}
	for _, r := range []string{"roles", "clusterroles"} {
		perms = append(perms, verify.Permission{Verb: "bind", Group: rbacGroup, Resource: r}, verify.Permission{Verb: "escalate", Group: rbacGroup, Resource: r})
	}
	return verify.Unique(perms)
}
