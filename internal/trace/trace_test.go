package trace

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func at(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

func ptr[T any](v T) *T { return &v }

// fixture: dave's credential renewed once and revoked at 30, its renewal
// identity, erin's token, and a grant by an old record without action.
func fixture() []records.Record {
	return []records.Record{
		{ID: "c-aaaa", User: "dave", Kind: "certificate", SHA256: "aaaa", Action: "grant", IssuedBy: "admin", IssuedAt: at(0), NotAfter: at(20), CredentialGroup: pki.CredentialGroupPrefix + "aaaa", ReplacedBy: "c-bbbb"},
		{ID: "c-bbbb", User: "dave", Kind: "certificate", SHA256: "bbbb", Action: "renewal", Replaces: "c-aaaa", Lineage: "c-aaaa", IssuedBy: "kubeaccess controller", IssuedAt: at(15), NotAfter: at(60), Revoked: ptr(at(30)), RevokedBy: "admin"},
		{ID: "c-iiii", User: pki.RenewalIdentityPrefix + "x:y", Kind: "certificate", SHA256: "iiii", RenewalIdentityOf: "c-aaaa", IssuedAt: at(1), NotAfter: at(600)},
		{ID: "t-tttt", User: "system:serviceaccount:ci:bot", Kind: "token", JTI: "tttt-1", ServiceAccount: "ci/bot", Action: "token", IssuedAt: at(0), NotAfter: at(60)},
		{ID: "c-oooo", User: "olga", Kind: "certificate", SHA256: "oooo", IssuedVia: "offline-ca", IssuedAt: at(0), NotAfter: at(60)},
	}
}

func event(user, credID string, minute int, groups ...string) *Event {
	e := &Event{AuditID: fmt.Sprint(user, minute), Stage: "ResponseComplete", Verb: "get", RequestURI: "/api/v1/namespaces/dev/pods",
		User:      authenticationv1.UserInfo{Username: user, Groups: groups},
		ObjectRef: &ObjectRef{Resource: "pods", Namespace: "dev", APIVersion: "v1"}, Received: at(minute), ResponseStatus: &struct{ Code int32 }{200}}
	if credID != "" {
		e.User.Extra = map[string]authenticationv1.ExtraValue{records.CredentialIDExtra: {credID}}
	}
	return e
}

func line(t *testing.T, e *Event) []byte {
	t.Helper()
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestAttribute(t *testing.T) {
	tr := New(fixture(), map[string]string{"c-oooo": "forged"})
	cases := map[string]struct {
		event      *Event
		credential string // "" for no attribution
		how        string
		flags      []string
	}{
		"first certificate, before revocation":       {event("dave", "X509SHA256=aaaa", 10), "c-aaaa", "grant", []string{FlagRevoked}},
		"renewal, after revocation":                  {event("dave", "X509SHA256=bbbb", 40), "c-bbbb", "renewal of grant", []string{FlagRevoked, FlagAfterRevocation}},
		"renewal identity, revoked with its lineage": {event(pki.RenewalIdentityPrefix+"x:y", "X509SHA256=iiii", 31), "c-iiii", "renewal identity", []string{FlagRevoked, FlagAfterRevocation}},
		"token":                         {event("system:serviceaccount:ci:bot", "JTI=tttt-1", 5), "t-tttt", "token", nil},
		"token after expiry":            {event("system:serviceaccount:ci:bot", "JTI=tttt-1", 61), "t-tttt", "token", []string{FlagAfterExpiry}},
		"untrusted record":              {event("olga", "X509SHA256=oooo", 5), "c-oooo", "grant (offline CA)", []string{FlagUntrusted}},
		"unknown kubeaccess credential": {event("mallory", "X509SHA256=ffff", 5, pki.CredentialGroupPrefix+"ffff"), "", "", []string{FlagUnknown}},
		"someone else's credential":     {event("system:kube-scheduler", "X509SHA256=ssss", 5), "", "", nil},
		"no credential ID":              {event("system:anonymous", "", 5), "", "", nil},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			a, err := readLine(tr, line(t, tc.event))
			if err != nil {
				t.Fatal(err)
			}
			if tc.credential == "" && tc.flags == nil {
				if a != nil {
					t.Fatalf("attributed %+v, want nothing", a)
				}
				return
			}
			if a == nil {
				t.Fatal("not attributed")
			}
			got := ""
			if a.Credential != nil {
				got = a.Credential.ID
				if a.Credential.How != tc.how {
					t.Errorf("how = %q, want %q", a.Credential.How, tc.how)
				}
			}
			if got != tc.credential || !slices.Equal(a.Flags, tc.flags) {
				t.Errorf("got %q %q, want %q %q", got, a.Flags, tc.credential, tc.flags)
			}
		})
	}
}

// TestPrefilterIsExact: whatever the events, reading lines through the
// prefilter attributes exactly as decoding every line does.
func TestPrefilterIsExact(t *testing.T) {
	tr := New(fixture(), nil)
	rng := rand.New(rand.NewPCG(1, 2))
	ids := []string{"X509SHA256=aaaa", "X509SHA256=bbbb", "X509SHA256=iiii", "JTI=tttt-1", "X509SHA256=ffff", "JTI=zzzz", "", "X509SHA256=aaa", "X509SHA256=aaaab"}
	users := []string{"dave", "system:node:n1", pki.RenewalIdentityPrefix + "q", "kubeaccess:portal"}
	for i := range 5000 {
		e := event(users[rng.IntN(len(users))], ids[rng.IntN(len(ids))], rng.IntN(100))
		if rng.IntN(4) == 0 {
			e.User.Groups = []string{pki.CredentialGroupPrefix + "ffff"}
		}
		if rng.IntN(3) == 0 {
			// A request body may carry another credential's ID (a CSR's extra).
			e.Annotations = map[string]string{"note": ids[rng.IntN(len(ids))]}
		}
		want := tr.AttributeEvent(e)
		got, err := readLine(tr, line(t, e))
		if err != nil {
			t.Fatal(err)
		}
		if (want == nil) != (got == nil) || want != nil && (!slices.Equal(want.Flags, got.Flags) || (want.Credential == nil) != (got.Credential == nil)) {
			t.Fatalf("event %d %+v: prefiltered %+v, decoded %+v", i, e.User, got, want)
		}
	}
}

// readLine is what ReadLogs does with one line: the prefilter, then,
// when it lets the line through, decoding and attributing.
func readLine(tr *Tracer, line []byte) (*Attribution, error) {
	if !tr.mayConcern(line) {
		return nil, nil
	}
	_, a, err := tr.decode(line)
	return a, err
}

func TestAllowedBy(t *testing.T) {
	cases := map[string]struct {
		reason string
		want   rbac.Ref
		ok     bool
	}{
		"role binding":         {`RBAC: allowed by RoleBinding "kubeaccess:user:dave/development" of Role "kubeaccess:user:dave" to User "dave"`, rbac.Ref{Kind: "RoleBinding", Namespace: "development", Name: "kubeaccess:user:dave"}, true},
		"cluster role binding": {`RBAC: allowed by ClusterRoleBinding "kubeaccess:group:ops" of ClusterRole "view" to Group "ops"`, rbac.Ref{Kind: "ClusterRoleBinding", Name: "kubeaccess:group:ops"}, true},
		"denied":               {`RBAC: no rules`, rbac.Ref{}, false},
		"empty":                {"", rbac.Ref{}, false},
	}
	for name, tc := range cases {
		got, ok := allowedBy(tc.reason)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: got %v %v, want %v %v", name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestSuggest(t *testing.T) {
	get := event("dave", "", 1)
	list := event("dave", "", 2)
	list.Verb = "list"
	logs := event("dave", "", 3)
	logs.ObjectRef = &ObjectRef{Resource: "pods", Subresource: "log", Namespace: "dev", Name: "web"}
	deploy := event("dave", "", 4)
	deploy.Verb, deploy.ObjectRef = "create", &ObjectRef{Resource: "deployments", APIGroup: "apps", Namespace: "dev"}
	nodes := event("dave", "", 5)
	nodes.Verb, nodes.ObjectRef = "list", &ObjectRef{Resource: "nodes"}
	healthz := event("dave", "", 6)
	healthz.ObjectRef, healthz.RequestURI = nil, "/healthz?verbose=1"
	denied := event("dave", "", 7)
	denied.Verb, denied.ResponseStatus = "delete", &struct{ Code int32 }{403}
	as := event("dave", "", 8)
	as.Verb, as.ImpersonatedUser = "delete", &authenticationv1.UserInfo{Username: "root"}

	s := Suggest(rbac.Subject(rbacv1.UserKind, "dave"), []*Event{get, list, logs, deploy, nodes, healthz, denied, as, get})
	want := map[string][]rbacv1.PolicyRule{"dev": {
		{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods/log"}},
		{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}},
		{Verbs: []string{"create"}, APIGroups: []string{"apps"}, Resources: []string{"deployments"}},
	}}
	wantCluster := []rbacv1.PolicyRule{
		{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}},
		{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"nodes"}},
	}
	if fmt.Sprint(s.Namespaced) != fmt.Sprint(want) || fmt.Sprint(s.Cluster) != fmt.Sprint(wantCluster) {
		t.Errorf("got\n%v\n%v\nwant\n%v\n%v", s.Namespaced, s.Cluster, want, wantCluster)
	}
	if s.Denied != 1 || s.Impersonated != 1 {
		t.Errorf("left out %d denied, %d impersonated; want 1, 1", s.Denied, s.Impersonated)
	}
	if objs := s.Objects("suggested-c-aaaa"); len(objs) != 4 {
		t.Errorf("%d objects, want a ClusterRole, a Role and their bindings", len(objs))
	}
}
