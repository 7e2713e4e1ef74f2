// Package labels holds the marks kubeaccess puts on every object it creates,
// so that later commands (list, revoke, audit) can find them.
package labels

const (
	// ManagedBy is the standard label naming the tool that manages an object.
	ManagedBy = "app.kubernetes.io/managed-by"
	// Kubeaccess is the value of ManagedBy on kubeaccess's objects, and its
	// field manager name in create, update and server-side apply requests.
	Kubeaccess = "kubeaccess"
	// User holds the user an object was made for, as a label value.
	User = "kubeaccess.io/user"
	// Team names the team file (kubeaccess apply) that owns an object or
	// a record.
	Team = "kubeaccess.io/team"
	// Author and AuthorGroups name who wrote a TeamAccess's spec, as the
	// API server authenticated them (its user name, and its groups joined
	// by commas); the admission policy in deploy/crd-teamaccess.yaml lets
	// no one write them but that person.
	Author       = "kubeaccess.io/author"
	AuthorGroups = "kubeaccess.io/author-groups"
)

// Managed returns the labels of an object kubeaccess creates.
func Managed() map[string]string {
	return map[string]string{ManagedBy: Kubeaccess}
}
