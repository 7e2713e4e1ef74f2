package rbac

import "strings"

// NamePrefix starts the name of every Role, ClusterRole and binding that
// kubeaccess makes. After it comes the kind of subject and its name, so
// that no user's name can equal a group's, a credential's or a service
// account's:
//
//	kubeaccess:user:NAME
//	kubeaccess:group:NAME
//	kubeaccess:credential:HEX            (the credential group itself)
//	kubeaccess:serviceaccount:NS:NAME
//
// A binding of an existing role adds "+role:ROLE" or "+clusterrole:ROLE".
// User and group names cannot hold "+" (pki.ValidateName), namespaces and
// service-account names cannot either, so the part before the first "+"
// is always the subject's.
const NamePrefix = "kubeaccess:"

// UserObjectName names the role and binding of a user's own access.
func UserObjectName(user string) string { return NamePrefix + "user:" + user }

// GroupObjectName names the role and binding of a group's access.
func GroupObjectName(group string) string { return NamePrefix + "group:" + group }

// ServiceAccountObjectName names the role and binding of a service account's access.
func ServiceAccountObjectName(namespace, name string) string {
	return NamePrefix + "serviceaccount:" + namespace + ":" + name
}

// BoundRoleName names the binding of an existing Role or ClusterRole
// (kind) to the subject whose objects are named base.
func BoundRoleName(base, kind, role string) string {
	return base + "+" + strings.ToLower(kind) + ":" + role
}
