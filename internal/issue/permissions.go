package issue

import (
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// The permissions issuing takes, by step: the table the preflight check
// asks the API server about, and that kubeaccess serve builds its own
// start-up check on.

const csrGroup = certificatesv1.GroupName

var (
	// SubmitPermission is submitting a certificate request.
	SubmitPermission = verify.Permission{Verb: "create", Group: csrGroup, Resource: "certificatesigningrequests"}
	// WatchPermission is waiting for a request's certificate.
	WatchPermission = verify.Permission{Verb: "watch", Group: csrGroup, Resource: "certificatesigningrequests"}
	// ApprovePermissions are approving a client-certificate request and
	// waiting for its certificate.
	ApprovePermissions = []verify.Permission{
		{Verb: "update", Group: csrGroup, Resource: "certificatesigningrequests", Subresource: "approval"},
		{Verb: "approve", Group: csrGroup, Resource: "signers", Name: certificatesv1.KubeAPIServerClientSignerName},
		WatchPermission,
	}
)

// CreateNamespacePermissions are needed only when the namespace is missing.
// A namespace kubeaccess made is shared as it is, never patched (rbac.Apply).
var CreateNamespacePermissions = []verify.Permission{{Verb: "create", Resource: "namespaces"}}

// AccessPermissions lists what binding spec in namespace needs, worked
// out from the plan alone so it can be checked before anything is read.
func AccessPermissions(spec AccessSpec, namespace string) []verify.Permission {
	const rbacGroup = rbacv1.GroupName
	if spec.Empty() {
		return nil
	}
	var perms []verify.Permission
	if spec.ClusterWide {
		namespace = ""
	} else {
		perms = append(perms, verify.Permission{Verb: "get", Resource: "namespaces", Name: namespace})
	}
	// Objects are created, or applied server-side (patch) where they exist.
	write := func(resource string) {
		for _, verb := range []string{"create", "patch"} {
			perms = append(perms, verify.Permission{Verb: verb, Group: rbacGroup, Resource: resource, Namespace: namespace})
		}
	}
	switch {
	case spec.Role != "":
		perms = append(perms, verify.Permission{Verb: "get", Group: rbacGroup, Resource: "roles", Name: spec.Role, Namespace: namespace})
	case spec.ClusterRole != "":
		perms = append(perms, verify.Permission{Verb: "get", Group: rbacGroup, Resource: "clusterroles", Name: spec.ClusterRole})
	case spec.ClusterWide:
		write("clusterroles")
	default:
		write("roles")
	}
	if spec.ClusterWide {
		write("clusterrolebindings")
	} else {
		write("rolebindings")
	}
	return perms
}

// RecordPermissions are what keeping a record in namespace ns needs (and,
// on first use, creating its namespace); none for "".
func RecordPermissions(ns string) []verify.Permission {
	if ns == "" {
		return nil
	}
	return []verify.Permission{
		{Verb: "get", Resource: "namespaces", Name: ns},
		{Verb: "create", Resource: "configmaps", Namespace: ns},
	}
}

// PrivilegePermissions are what asking about an identity's privilege
// needs; none when it is not asked (allowPrivileged).
func PrivilegePermissions(allowPrivileged bool) []verify.Permission {
	if allowPrivileged {
		return nil
	}
	// The review itself, and what it reads: every role and binding, and
	// the service accounts whose power a workload would hold.
	perms := []verify.Permission{{Verb: "create", Group: "authorization.k8s.io", Resource: "subjectaccessreviews"}, {Verb: "list", Resource: "serviceaccounts"}}
	for _, r := range []string{"roles", "rolebindings", "clusterroles", "clusterrolebindings"} {
		perms = append(perms, verify.Permission{Verb: "list", Group: rbacv1.GroupName, Resource: r})
	}
	return perms
}

// permissionError names each permission the issuer lacks.
func permissionError(action string, missing []verify.Permission) error {
	if len(missing) == 0 {
		return nil
	}
	lines := make([]string, len(missing))
	for i, p := range missing {
		lines[i] = "  " + p.String()
	}
	return failure.DeniedErrorf("you lack permissions this %s needs; nothing was created:\n%s", action, strings.Join(lines, "\n"))
}
