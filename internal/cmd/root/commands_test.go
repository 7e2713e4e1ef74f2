package root

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/discovery/cached/memory"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubeaccess/kubeaccess/internal/audit"
	"github.com/kubeaccess/kubeaccess/internal/cmd/whocan"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

// fakeCluster is a factory of client-go fakes holding objs, serving pods,
// secrets and deployments in its discovery.
func fakeCluster(objs ...runtime.Object) cmdutil.TestFactory {
	client := fake.NewClientset(objs...)
	disco := client.Discovery().(*fakediscovery.FakeDiscovery)
	verbs := metav1.Verbs{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
	disco.Resources = []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "pods", SingularName: "pod", Namespaced: true, Kind: "Pod", Verbs: verbs, ShortNames: []string{"po"}},
			{Name: "pods/log", Namespaced: true, Kind: "Pod", Verbs: metav1.Verbs{"get"}},
			{Name: "secrets", SingularName: "secret", Namespaced: true, Kind: "Secret", Verbs: verbs},
		}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
			{Name: "deployments", SingularName: "deployment", Namespaced: true, Kind: "Deployment", Verbs: verbs, ShortNames: []string{"deploy"}},
		}},
	}
	return cmdutil.TestFactory{Clientset: client, DiscoveryOf: memory.NewMemCacheClient(disco), NamespaceName: "development",
		ClusterEntry: kubeconfig.Cluster{Name: "fake", Server: "https://fake.invalid:6443", CA: []byte("-----BEGIN CERTIFICATE-----")}}
}

// executeWith runs argv through the root command with f's clients.
func executeWith(t *testing.T, f cmdutil.TestFactory, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	f.Flags = genericclioptions.NewConfigFlags(true)
	cmd := newCmdRoot(streams, "kubeaccess", f.Flags, f)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	if err != nil && !failure.Silent(err) {
		errOut.WriteString("error: " + err.Error())
	}
	return out.String(), errOut.String(), failure.ExitCode(err)
}

func teamRBAC() []runtime.Object {
	return []runtime.Object{
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "deployer", Namespace: "development"},
			Rules: []rbacv1.PolicyRule{{Verbs: []string{"create", "get", "list"}, APIGroups: []string{"apps"}, Resources: []string{"deployments"}}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "team-dev", Namespace: "development"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "deployer"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "dev"}}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "sudo"},
			Rules: []rbacv1.PolicyRule{{Verbs: []string{"impersonate"}, APIGroups: []string{""}, Resources: []string{"users", "groups"}}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "helpers"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "sudo"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "helpdesk"}}},
	}
}

func TestCanWithoutACluster(t *testing.T) {
	f := fakeCluster(teamRBAC()...)
	for name, tc := range map[string]struct {
		args       []string
		code       int
		stdout     string
		stderr     string
		notInCheck string
	}{
		"yes through a group": {args: []string{"can", "dave", "-g", "dev", "create", "deploy"}, code: 0,
			stdout: "yes\n  through RoleBinding development/team-dev (Role development/deployer) to Group dev: verbs create,get,list on deployments in groups apps"},
		"no":                  {args: []string{"can", "dave", "-g", "dev", "delete", "deployments"}, code: 1, stdout: "no\n"},
		"no group, no":        {args: []string{"can", "dave", "get", "deployments"}, code: 1, stdout: "no\n"},
		"elsewhere":           {args: []string{"can", "dave", "-g", "dev", "get", "deployments", "-n", "production"}, code: 1, stdout: "no\n"},
		"a group alone":       {args: []string{"can", "group:helpdesk", "get", "pods"}, code: 1, stdout: "no\n"},
		"resource not served": {args: []string{"can", "group:helpdesk", "impersonate", "users"}, code: 2, stderr: `the server has no resource "users"`},
		"matrix":              {args: []string{"can", "dave", "-g", "dev"}, code: 0, stdout: "deployments.apps  yes  yes   no     yes     no      no     no      no"},
		"bad subject":         {args: []string{"can", "system:serviceaccount:only-ns"}, code: 2, stderr: "a service account is system:serviceaccount:NAMESPACE:NAME"},
		"unknown resource":    {args: []string{"can", "dave", "get", "deploymnets"}, code: 2, stderr: "did you mean deployments?"},
		"unknown verb":        {args: []string{"can", "dave", "gte", "pods"}, code: 2, stderr: `unknown verb "gte"`},
		"masters":             {args: []string{"can", "root", "-g", "system:masters", "delete", "secrets"}, code: 0, stdout: "note: system:masters is allowed everything"},
		"three arguments ok":  {args: []string{"can", "dave", "get"}, code: 2, stderr: "want SUBJECT, or SUBJECT VERB RESOURCE [NAME]"},
	} {
		t.Run(name, func(t *testing.T) {
			stdout, stderr, code := executeWith(t, f, tc.args...)
			if code != tc.code || !strings.Contains(stdout, tc.stdout) || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("%v: exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant stdout containing %q and stderr containing %q", tc.args, code, tc.code, stdout, stderr, tc.stdout, tc.stderr)
			}
		})
	}
}

func TestWhoCanWithoutACluster(t *testing.T) {
	stdout, stderr, code := executeWith(t, fakeCluster(teamRBAC()...), "who-can", "create", "deployments", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var holders struct {
		Kind  string `json:"kind"`
		Items []struct {
			whocan.Holder
			Kind        string `json:"kind"`
			SubjectKind string `json:"subjectKind"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(stdout), &holders); err != nil {
		t.Fatal(err)
	}
	want := whocan.Holder{Kind: "Group", Name: "dev", Binding: "RoleBinding development/team-dev", Role: "Role development/deployer"}
	if holders.Kind != "SubjectList" || len(holders.Items) != 1 {
		t.Fatalf("who-can -o json is not a SubjectList of one: %s", stdout)
	}
	got := holders.Items[0]
	got.Holder.Kind = got.SubjectKind
	if got.Kind != "Subject" || got.Holder != want {
		t.Errorf("holder %+v, want only %+v", got, want)
	}
	stdout, _, code = executeWith(t, fakeCluster(teamRBAC()...), "who-can", "create", "deployments", "-o", "jsonpath={.items[*].subjectKind}/{.items[*].metadata.name}")
	if code != 0 || stdout != "Group/dev" {
		t.Errorf("who-can -o jsonpath: exit %d, %q", code, stdout)
	}
}

func TestAuditWithoutACluster(t *testing.T) {
	stdout, stderr, code := executeWith(t, fakeCluster(teamRBAC()...), "audit", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var list struct {
		Items []audit.Finding `json:"items"`
	}
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		t.Fatal(err)
	}
	findings := list.Items
	found := false
	for _, f := range findings {
		if f.Check == "escalation" && f.Object == "Group helpdesk" && strings.Contains(f.Detail, "impersonate-users, impersonate-groups") {
			found = true
		}
	}
	if !found {
		t.Errorf("audit does not report group helpdesk's impersonation, whatever its role is called: %+v", findings)
	}
}

// recordObject is a record as kubeaccess stores it: a labelled ConfigMap.
func recordObject(t *testing.T, r records.Record) runtime.Object {
	t.Helper()
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kubeaccess-" + r.ID, Namespace: records.DefaultNamespace,
		Labels: map[string]string{"app.kubernetes.io/managed-by": "kubeaccess", "kubeaccess.io/user": "x", records.KindLabel: r.Kind}},
		Data: map[string]string{"record.json": string(data)}}
}

func TestListWithoutACluster(t *testing.T) {
	later := time.Now().Add(24 * time.Hour).UTC()
	bot := records.Record{ID: "t-0011223344556677", User: "system:serviceaccount:ci:bot", Kind: "token", ServiceAccount: "ci/bot",
		NotBefore: time.Now().Add(-time.Hour).UTC(), NotAfter: later, JTI: "6f9d1c2e-0000-4a5b-9c8d-7e6f5a4b3c2d"}
	forged := records.Record{ID: "t-8899aabbccddeeff", User: "admin", Kind: "token", ServiceAccount: "kube-system/admin",
		NotBefore: time.Now().Add(-time.Hour).UTC(), NotAfter: later}
	f := fakeCluster(recordObject(t, bot), recordObject(t, forged))
	stdout, stderr, code := executeWith(t, f, "list")
	if code != 0 || !strings.Contains(stdout, "system:serviceaccount:ci:bot") || !regexp.MustCompile(`(?m)^admin .*tampered`).MatchString(stdout) ||
		!strings.Contains(stderr, `record t-8899aabbccddeeff says user "admin", but its service account is kube-system/admin`) {
		t.Errorf("list: exit %d\n%s\n%s", code, stdout, stderr)
	}
	stdout, _, code = executeWith(t, f, "list", "--credential", "JTI=6f9d1c2e-0000-4a5b-9c8d-7e6f5a4b3c2d", "-o", "json")
	if code != 0 || !strings.Contains(stdout, `"id": "t-0011223344556677"`) {
		t.Errorf("list --credential JTI=...: exit %d\n%s", code, stdout)
	}
	stdout, _, code = executeWith(t, f, "list", "-o", "name")
	if code != 0 || stdout != "credential.kubeaccess.io/t-0011223344556677\ncredential.kubeaccess.io/t-8899aabbccddeeff\n" {
		t.Errorf("list -o name: exit %d\n%s", code, stdout)
	}
	_, stderr, code = executeWith(t, f, "list", "--credential", "t-")
	if code != 2 || !strings.Contains(stderr, `no record of a credential "t-"`) {
		t.Errorf("list --credential with too short a prefix: exit %d\n%s", code, stderr)
	}
	_, stderr, code = executeWith(t, f, "list", "--credential", "t-00", "--user", "x")
	if code != 2 || !strings.Contains(stderr, "--credential names one credential") {
		t.Errorf("list --credential --user: exit %d\n%s", code, stderr)
	}
}
