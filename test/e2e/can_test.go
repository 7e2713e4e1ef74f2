package e2e

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/kubeaccess/kubeaccess/internal/cmd/whocan"
)

// TestCanAgreesWithKubectl: kubeaccess can answers, for a user, a member
// of a group binding and a service account, what the real kubectl gets
// as each of them, without their credentials; who-can lists them.
func TestCanAgreesWithKubectl(t *testing.T) {
	dir := t.TempDir()
	dave := filepath.Join(dir, "dave.kubeconfig")
	grantJSON(t, cluster.AdminKubeconfig, "can-dave", "-g", "dev", "-n", "can-dev", "--verb", "create,get,update,list,delete", "--resource", "pods,services,deployments", "--out", dave)
	member := filepath.Join(dir, "member.kubeconfig")
	grantJSON(t, cluster.AdminKubeconfig, "can-member", "-g", "can-qa", "--bind-group", "can-qa", "-n", "can-qa", "--verb", "list,watch", "--resource", "pods,pods/log", "--out", member)
	bot := filepath.Join(dir, "bot.kubeconfig")
	mustSucceed(t, "token", kubeaccess(t, cluster.AdminKubeconfig, "token", "can-bot", "-n", "can-ci", "--create", "--verb", "get", "--resource", "configmaps", "--out", bot))

	for _, tc := range []struct {
		who        []string // kubeaccess can SUBJECT [-g ...]
		kubeconfig string
		ask        []string // VERB RESOURCE [-n NS]
	}{
		{[]string{"can-dave", "-g", "dev"}, dave, []string{"create", "deployments", "-n", "can-dev"}},
		{[]string{"can-dave", "-g", "dev"}, dave, []string{"delete", "pods", "-n", "can-dev"}},
		{[]string{"can-dave", "-g", "dev"}, dave, []string{"get", "secrets", "-n", "can-dev"}},
		{[]string{"can-dave", "-g", "dev"}, dave, []string{"create", "deployments", "-n", "default"}},
		{[]string{"can-dave", "-g", "dev"}, dave, []string{"list", "nodes"}},
		{[]string{"can-dave", "-g", "dev"}, dave, []string{"get", "/healthz"}},
		{[]string{"someone-else", "-g", "can-qa"}, member, []string{"list", "pods", "-n", "can-qa"}},
		{[]string{"someone-else", "-g", "can-qa"}, member, []string{"get", "pods/log", "-n", "can-qa"}},
		{[]string{"group:can-qa"}, member, []string{"watch", "pods", "-n", "can-qa"}},
		{[]string{"someone-else", "-g", "can-qa"}, member, []string{"delete", "pods", "-n", "can-qa"}},
		{[]string{"system:serviceaccount:can-ci:can-bot"}, bot, []string{"get", "configmaps", "-n", "can-ci"}},
		{[]string{"system:serviceaccount:can-ci:can-bot"}, bot, []string{"delete", "configmaps", "-n", "can-ci"}},
		{[]string{"system:serviceaccount:can-ci:can-bot"}, bot, []string{"get", "configmaps", "-n", "default"}},
	} {
		name := strings.Join(append(slices.Clone(tc.who), tc.ask...), " ")
		ours := kubeaccess(t, cluster.AdminKubeconfig, append(append([]string{"can"}, tc.who...), tc.ask...)...)
		theirs := kubectl(t, tc.kubeconfig, append([]string{"auth", "can-i"}, tc.ask...)...)
		if ours.code != theirs.code || ours.code > 1 {
			t.Errorf("%s: kubeaccess can exits %d (%s%s), kubectl auth can-i as that user exits %d (%s%s)", name, ours.code, ours.stdout, ours.stderr, theirs.code, theirs.stdout, theirs.stderr)
		}
		first, _, _ := strings.Cut(ours.stdout, "\n")
		if want := map[int]string{0: "yes", 1: "no"}[ours.code]; first != want {
			t.Errorf("%s: printed %q, want %q first", name, ours.stdout, want)
		}
		if ours.code == 0 && !strings.Contains(ours.stdout, "through ") {
			t.Errorf("%s: yes, but no binding named:\n%s", name, ours.stdout)
		}
	}

	r := kubeaccess(t, cluster.AdminKubeconfig, "can", "can-dave", "-g", "dev", "create", "deployments", "-n", "can-dev")
	if !strings.Contains(r.stdout, "through RoleBinding can-dev/kubeaccess:user:can-dave (Role can-dev/kubeaccess:user:can-dave) to User can-dave: verbs create,get,update,list,delete on deployments in groups apps") {
		t.Errorf("can does not name the binding and rule:\n%s", r.stdout)
	}
	m := kubeaccess(t, cluster.AdminKubeconfig, "can", "can-dave", "-g", "dev", "-n", "can-dev")
	mustSucceed(t, "can (matrix)", m)
	if !strings.Contains(m.stdout, "deployments.apps") || !regexpLine(m.stdout, `^deployments\.apps\s+yes\s+yes\s+no\s+yes\s+yes\s+no\s+yes\s+no$`) {
		t.Errorf("the matrix's deployments row is not get,list,create,update,delete:\n%s", m.stdout)
	}

	for _, tc := range []struct {
		ask  []string
		want whocan.Holder
	}{
		{[]string{"create", "deployments", "-n", "can-dev"}, whocan.Holder{Kind: "User", Name: "can-dave", Binding: "RoleBinding can-dev/kubeaccess:user:can-dave", Role: "Role can-dev/kubeaccess:user:can-dave"}},
		{[]string{"list", "pods", "-n", "can-qa"}, whocan.Holder{Kind: "Group", Name: "can-qa", Binding: "RoleBinding can-qa/kubeaccess:group:can-qa", Role: "Role can-qa/kubeaccess:group:can-qa"}},
		{[]string{"get", "configmaps", "-n", "can-ci"}, whocan.Holder{Kind: "ServiceAccount", Name: "can-bot", Namespace: "can-ci", Binding: "RoleBinding can-ci/kubeaccess:serviceaccount:can-ci:can-bot", Role: "Role can-ci/kubeaccess:serviceaccount:can-ci:can-bot"}},
	} {
		r := kubeaccess(t, cluster.AdminKubeconfig, append(append([]string{"who-can"}, tc.ask...), "-o", "json")...)
		mustSucceed(t, "who-can", r)
		holders := decodeItems[whocan.Holder](t, "who-can", r.stdout)
		if !slices.Contains(holders, tc.want) {
			t.Errorf("who-can %v does not list %+v:\n%s", tc.ask, tc.want, r.stdout)
		}
	}
}

// regexpLine reports whether a line of s matches pattern.
func regexpLine(s, pattern string) bool {
	return regexp.MustCompile(`(?m)` + pattern).MatchString(s)
}

// TestGrantSaysWhatElseIsAllowed: a grant reports access the identity
// already has beyond what it grants, and where from; --strict refuses it
// with nothing created.
func TestGrantSaysWhatElseIsAllowed(t *testing.T) {
	admin := adminClient(t)
	dir := t.TempDir()
	// A namespace of its own: reading Secrets where a powerful service
	// account's token may lie (other tests make some in default) is a
	// refusal of its own.
	namespace(t, admin, "whatelse")
	bindRules(t, admin, "team-x-reads-secrets", "whatelse", []rbacv1.PolicyRule{{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"secrets"}}},
		rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "team-x"})
	out := filepath.Join(dir, "xavier.kubeconfig")
	r := kubeaccess(t, cluster.AdminKubeconfig, "grant", "xavier", "-g", "team-x", "-n", "whatelse", "--verb", "get", "--resource", "pods", "--strict", "--out", out)
	mustFailWith(t, "grant --strict to a member of a group with more access", r, 2,
		`refusing with --strict: besides what is granted, "xavier" would be allowed, through bindings already in place:`)
	if !strings.Contains(r.stderr, `RoleBinding whatelse/team-x-reads-secrets (ClusterRole team-x-reads-secrets) to Group team-x: verbs get,list on secrets in groups ""`) {
		t.Errorf("--strict does not name the binding and rule:\n%s", r.stderr)
	}
	mustHaveIssuedNothing(t, admin, "xavier", out)

	r = kubeaccess(t, cluster.AdminKubeconfig, "grant", "xavier", "-g", "team-x", "-n", "whatelse", "--verb", "get", "--resource", "pods", "--out", out)
	mustSucceed(t, "the same grant without --strict", r)
	if !strings.Contains(r.stderr, `note: besides what is granted, "xavier" is allowed, through bindings already in place:`) || !strings.Contains(r.stderr, "team-x-reads-secrets") {
		t.Errorf("the grant does not report the access beyond it:\n%s", r.stderr)
	}
	mustSucceed(t, "xavier reads secrets, as reported", kubectl(t, out, "get", "secrets", "-n", "whatelse"))

	plain := kubeaccess(t, cluster.AdminKubeconfig, "grant", "yolanda", "-n", "whatelse", "--verb", "get", "--resource", "pods", "--strict", "--out", filepath.Join(dir, "y.kubeconfig"))
	mustSucceed(t, "grant --strict with nothing beyond it", plain)
	if strings.Contains(plain.stderr, "besides what is granted") {
		t.Errorf("a plain grant reports access beyond it:\n%s", plain.stderr)
	}
}
