package team

import (
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubeaccess/kubeaccess/internal/labels"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// Names of a team's objects. After the prefix come the team, then the
// role, or the subject and the role; a role name is a DNS label, so the
// last part is always the role.
//
//	kubeaccess:team:TEAM:ROLE                              (Role, ClusterRole)
//	kubeaccess:team:TEAM:group:GROUP:ROLE                  (bindings of a group's members)
//	kubeaccess:team:TEAM:serviceaccount:NS:NAME:ROLE       (bindings of a service account)
func roleName(team, role string) string { return teamPrefix(team) + role }

// teamPrefix begins the name of every object of team. A team name is a
// DNS label, without colons, so no other team's objects begin with it.
func teamPrefix(team string) string { return rbac.NamePrefix + "team:" + team + ":" }

// OfName is the team whose names name bears (kubeaccess:team:TEAM:...),
// whether or not the object is that team's.
func OfName(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, rbac.NamePrefix+"team:")
	if !ok {
		return "", false
	}
	team, _, ok := strings.Cut(rest, ":")
	return team, ok
}

func groupBindingName(team, group, role string) string {
	return rbac.NamePrefix + "team:" + team + ":group:" + group + ":" + role
}

func serviceAccountBindingName(team, namespace, name, role string) string {
	return rbac.NamePrefix + "team:" + team + ":serviceaccount:" + namespace + ":" + name + ":" + role
}

// Labels are those of a team's objects: kubeaccess's, and the team's
// name, which owns them for pruning.
func Labels(team string) map[string]string {
	l := labels.Managed()
	l[labels.Team] = team
	return l
}

// Objects are the roles and bindings that give the file's members their
// access. A group's access is bound to each of its members by name, as
// User subjects, not to the group: a member removed from the file loses
// it at once, whatever groups their certificate still carries. Only the
// members bound accepts (those holding a valid credential) are subjects;
// a binding left with none is not made.
func (r *Resolved) Objects(bound func(name string) bool) []runtime.Object {
	b := &objectSet{team: r.Team(), seen: map[rbac.Ref]bool{}}
	for _, g := range sortedKeys(r.File.Spec.Groups) {
		var subjects []rbacv1.Subject
		for _, u := range r.Users {
			if slices.Contains(u.Groups, g) && bound(u.Name) {
				subjects = append(subjects, rbac.Subject(rbacv1.UserKind, u.Name))
			}
		}
		slices.SortFunc(subjects, func(a, b rbacv1.Subject) int { return strings.Compare(a.Name, b.Name) })
		for _, a := range r.File.Spec.Groups[g] {
			b.bind(r, a, groupBindingName(b.team, g, a.Role), subjects)
		}
	}
	for _, sa := range r.ServiceAccounts {
		if !bound(sa.Name) {
			continue
		}
		subjects := []rbacv1.Subject{rbac.ServiceAccountSubject(sa.Namespace, sa.ServiceAccount)}
		for _, a := range sa.Access {
			b.bind(r, a, serviceAccountBindingName(b.team, sa.Namespace, sa.ServiceAccount, a.Role), subjects)
		}
	}
	return append(b.roles, b.bindings...)
}

// objectSet collects roles and bindings, each once.
type objectSet struct {
	team            string
	roles, bindings []runtime.Object
	seen            map[rbac.Ref]bool
}

func (b *objectSet) add(obj runtime.Object, role bool) {
	ref, err := rbac.RefOf(obj)
	if err != nil || b.seen[ref] {
		return
	}
	b.seen[ref] = true
	obj.(interface{ SetLabels(map[string]string) }).SetLabels(Labels(b.team))
	if role {
		b.roles = append(b.roles, obj)
	} else {
		b.bindings = append(b.bindings, obj)
	}
}

// bind adds the bindings of access a to subjects, and the roles the file
// defines by rules that they refer to.
func (b *objectSet) bind(r *Resolved, a Access, name string, subjects []rbacv1.Subject) {
	if len(subjects) == 0 {
		return
	}
	role := r.File.Spec.Roles[a.Role]
	kind, target := "ClusterRole", role.ClusterRole
	switch {
	case role.Role != "":
		kind, target = "Role", role.Role
	case role.ClusterRole == "":
		target = roleName(b.team, a.Role)
		if a.ClusterWide {
			b.add(rbac.BuildClusterRole(target, r.Rules[a.Role]), true)
		} else {
			kind = "Role"
		}
	}
	if a.ClusterWide {
		crb := rbac.BuildClusterRoleBinding(name, target, subjects[0])
		crb.Subjects = slices.Clone(subjects)
		b.add(crb, false)
		return
	}
	for _, ns := range a.Namespaces {
		if kind == "Role" && role.Role == "" {
			b.add(rbac.BuildRole(target, ns, r.Rules[a.Role]), true)
		}
		rb := rbac.BuildRoleBinding(name, ns, kind, target, subjects[0])
		rb.Subjects = slices.Clone(subjects)
		b.add(rb, false)
	}
}

// ObjectChange is a role or binding to create, update or delete.
type ObjectChange struct {
	Action string // create, update or delete
	Ref    rbac.Ref
	// Object is the object as wanted; nil for a delete.
	Object runtime.Object
	// Replace deletes the binding first: its roleRef changed, which the
	// API server does not allow to update.
	Replace bool
	// Detail says what changes: subjects added and removed, rules.
	Detail string
}

// DiffObjects compares the wanted objects with the team's objects in
// index: those wanted and missing are created, those that differ updated,
// and the team's that are no longer wanted deleted. An object of the same
// name that is not the team's is never touched: it is an error.
func DiffObjects(team string, want []runtime.Object, index *rbac.Index) ([]ObjectChange, error) {
	var changes []ObjectChange
	var conflicts []string
	wanted := map[rbac.Ref]bool{}
	bindings := map[rbac.Ref]rbac.Binding{}
	for _, b := range index.Bindings {
		bindings[b.Ref] = b
	}
	for _, obj := range want {
		ref, _ := rbac.RefOf(obj)
		wanted[ref] = true
		var (
			exists bool
			lbls   map[string]string
			same   bool
			roleOK = true
			detail string
		)
		switch o := obj.(type) {
		case *rbacv1.Role, *rbacv1.ClusterRole:
			var rules []rbacv1.PolicyRule
			rules, exists = index.Roles[ref]
			lbls = index.RoleLabels[ref]
			same = apiequality.Semantic.DeepEqual(rules, rulesOf(o))
			detail = "rules: " + describeRules(rulesOf(o))
		case *rbacv1.RoleBinding:
			var cur rbac.Binding
			cur, exists = bindings[ref]
			lbls, roleOK = cur.Labels, cur.RoleRef == o.RoleRef
			same = roleOK && apiequality.Semantic.DeepEqual(cur.Subjects, o.Subjects)
			detail = subjectChange(cur.Subjects, o.Subjects)
		case *rbacv1.ClusterRoleBinding:
			var cur rbac.Binding
			cur, exists = bindings[ref]
			lbls, roleOK = cur.Labels, cur.RoleRef == o.RoleRef
			same = roleOK && apiequality.Semantic.DeepEqual(cur.Subjects, o.Subjects)
			detail = subjectChange(cur.Subjects, o.Subjects)
		}
		switch {
		case !exists:
			changes = append(changes, ObjectChange{Action: "create", Ref: ref, Object: obj, Detail: detail})
		case lbls[labels.Team] != team || !rbac.Managed(lbls, ref.Name):
			conflicts = append(conflicts, ref.Display())
		case !same:
			if !roleOK {
				detail = "its role changes, so it is deleted and created again; " + detail
			}
			changes = append(changes, ObjectChange{Action: "update", Ref: ref, Object: obj, Replace: !roleOK, Detail: detail})
		}
	}
	if len(conflicts) > 0 {
		return nil, fmt.Errorf("these objects exist and are not team %s's, so kubeaccess leaves them alone; rename or delete them:\n  %s",
			team, strings.Join(conflicts, "\n  "))
	}
	for _, ref := range Owned(team, index) {
		if !wanted[ref] {
			changes = append(changes, ObjectChange{Action: "delete", Ref: ref})
		}
	}
	return changes, nil
}

// Owned are the team's roles and bindings in index: its label and
// kubeaccess's, and a name that kubeaccess gives the team's objects alone.
// A label anyone who may write the object can set; the name prefix keeps
// another team's objects, and kubeaccess's others, out of reach.
func Owned(team string, index *rbac.Index) []rbac.Ref {
	var refs []rbac.Ref
	ours := func(l map[string]string, name string) bool {
		return l[labels.Team] == team && rbac.Managed(l, name) && strings.HasPrefix(name, teamPrefix(team))
	}
	for _, b := range index.Bindings {
		if ours(b.Labels, b.Ref.Name) {
			refs = append(refs, b.Ref)
		}
	}
	for ref, l := range index.RoleLabels {
		if ours(l, ref.Name) {
			refs = append(refs, ref)
		}
	}
	slices.SortFunc(refs, func(a, b rbac.Ref) int { return strings.Compare(a.String(), b.String()) })
	return refs
}

// subjectChange says which subjects a binding gains and loses.
func subjectChange(from, to []rbacv1.Subject) string {
	var added, removed []string
	for _, s := range to {
		if !slices.Contains(from, s) {
			added = append(added, "+"+subjectName(s))
		}
	}
	for _, s := range from {
		if !slices.Contains(to, s) {
			removed = append(removed, "-"+subjectName(s))
		}
	}
	return "subjects " + abbreviate(slices.Concat(added, removed))
}

func subjectName(s rbacv1.Subject) string {
	if s.Kind == rbacv1.ServiceAccountKind {
		return s.Namespace + "/" + s.Name
	}
	return s.Name
}

// abbreviate lists a few names and counts the rest.
func abbreviate(names []string) string {
	const shown = 5
	if len(names) <= shown {
		return strings.Join(names, " ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:shown], " "), len(names)-shown)
}

// describeRules is verbs on resources, rule by rule.
func describeRules(rules []rbacv1.PolicyRule) string {
	parts := make([]string, len(rules))
	for i, r := range rules {
		res := slices.Clone(r.Resources)
		for j := range res {
			if g := r.APIGroups; len(g) == 1 && g[0] != "" {
				res[j] += "." + g[0]
			}
		}
		parts[i] = strings.Join(r.Verbs, ",") + " " + strings.Join(res, ",")
	}
	return strings.Join(parts, "; ")
}

// rulesOf is what one of the team's objects gives: a role's rules, or
// those of the role a binding binds (the last part of its name).
func (r *Resolved) rulesOf(obj runtime.Object) []rbacv1.PolicyRule {
	switch obj.(type) {
	case *rbacv1.RoleBinding, *rbacv1.ClusterRoleBinding:
		ref, _ := rbac.RefOf(obj)
		return r.Rules[ref.Name[strings.LastIndex(ref.Name, ":")+1:]]
	}
	return rulesOf(obj)
}

func rulesOf(obj runtime.Object) []rbacv1.PolicyRule {
	switch o := obj.(type) {
	case *rbacv1.Role:
		return o.Rules
	case *rbacv1.ClusterRole:
		return o.Rules
	}
	return nil
}
