package invite

import (
	"fmt"
	"strings"
)

// Describe says in words what the invite's access allows.
func (i *Invite) Describe() string {
	if i.Team != "" {
		return fmt.Sprintf("what team %s gives its member %s (kubeaccess controller binds it once the certificate exists)", i.Team, i.User)
	}
	a := i.Access
	where := "in namespace " + i.Namespace
	if a.ClusterWide {
		where = "in every namespace (cluster-wide)"
	}
	switch {
	case len(a.Verbs) > 0:
		return fmt.Sprintf("%s %s %s", strings.Join(a.Verbs, ", "), strings.Join(a.Resources, ", "), where)
	case a.Role != "":
		return fmt.Sprintf("what the Role %s allows %s", a.Role, where)
	case a.ClusterRole != "":
		return fmt.Sprintf("what the ClusterRole %s allows %s", a.ClusterRole, where)
	}
	return "nothing yet: the certificate only proves who you are, and an admin grants access apart"
}
