package cmdutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"testing"

	"github.com/kubeaccess/kubeaccess/internal/failure"
)

func TestValidateOutputFormat(t *testing.T) {
	if err := ValidateOutputFormat("", "json"); err != nil {
		t.Errorf("empty format: %v", err)
	}
	if err := ValidateOutputFormat("yaml", "json", "yaml"); err != nil {
		t.Errorf("yaml: %v", err)
	}
	err := ValidateOutputFormat("xml", "json", "yaml")
	if want := `unknown output format "xml": allowed formats are [json yaml]`; err == nil || err.Error() != want {
		t.Errorf("xml: error %v, want %q", err, want)
	}
	if failure.ExitCode(err) != failure.ExitUsage {
		t.Errorf("xml: exit code %d, want %d", failure.ExitCode(err), failure.ExitUsage)
	}
}

// A streamed list is one JSON document, as PrintList's, with each item's
// fields, kind and name.
func TestListStream(t *testing.T) {
	for _, n := range []int{0, 1, 3} {
		var buf bytes.Buffer
		s := NewListStream(&buf, "Thing")
		for i := range n {
			s.Add(fmt.Sprintf("t%d", i), struct {
				N    int    `json:"n"`
				Note string `json:"note"`
			}{i, "a \"quoted\" note"})
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		var list struct {
			Kind  string
			Items []struct {
				Kind     string
				Metadata struct{ Name string }
				N        int
				Note     string
			}
		}
		if err := json.Unmarshal(buf.Bytes(), &list); err != nil {
			t.Fatalf("%d items: %v\n%s", n, err, buf.String())
		}
		if list.Kind != "ThingList" || len(list.Items) != n {
			t.Fatalf("%d items: got %+v", n, list)
		}
		for i, it := range list.Items {
			if it.Kind != "Thing" || it.Metadata.Name != fmt.Sprintf("t%d", i) || it.N != i || it.Note != `a "quoted" note` {
				t.Errorf("item %d: %+v", i, it)
			}
		}
	}
	if err := NewListStream(io.Discard, "Thing").addAndClose("x", 3); err == nil {
		t.Error("a value that is not an object was printed")
	}
}

func (s *ListStream) addAndClose(name string, v any) error {
	s.Add(name, v)
	return s.Close()
}

func TestRequestKind(t *testing.T) {
	cases := map[string]struct {
		method, path string
		watch        bool
		want         string
	}{
		"create a review":    {"POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", false, "create subjectaccessreviews.authorization.k8s.io"},
		"get a configmap":    {"GET", "/api/v1/namespaces/kubeaccess-system/configmaps/kubeaccess-c-1", false, "get configmaps"},
		"list rolebindings":  {"GET", "/apis/rbac.authorization.k8s.io/v1/rolebindings", false, "list rolebindings.rbac.authorization.k8s.io"},
		"get a namespace":    {"GET", "/api/v1/namespaces/dev", false, "get namespaces"},
		"list namespaces":    {"GET", "/api/v1/namespaces", false, "list namespaces"},
		"approve a request":  {"PUT", "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval", false, "update certificatesigningrequests/approval.certificates.k8s.io"},
		"watch requests":     {"GET", "/apis/certificates.k8s.io/v1/certificatesigningrequests", true, "watch certificatesigningrequests.certificates.k8s.io"},
		"a token":            {"POST", "/api/v1/namespaces/ci/serviceaccounts/bot/token", false, "create serviceaccounts/token"},
		"discovery":          {"GET", "/apis/apps/v1", false, "get discovery"},
		"a non-resource URL": {"GET", "/healthz", false, "get /healthz"},
	}
	for name, tc := range cases {
		if got := requestKind(tc.method, tc.path, tc.watch); got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
}

func TestPerCredential(t *testing.T) {
	c := &Requests{count: map[string]int{"create selfsubjectrulesreviews.authorization.k8s.io": 2000, "create configmaps": 1000, "list roles.rbac.authorization.k8s.io": 1, "create rolebindings.rbac.authorization.k8s.io": 20}}
	want := "3.0 requests per credential: 2.0 create selfsubjectrulesreviews.authorization.k8s.io, 1.0 create configmaps, and 21 requests of 2 other kinds in the whole run"
	if got := c.PerCredential(1000); got != want {
		t.Errorf("PerCredential:\n got %s\nwant %s", got, want)
	}
	if got := c.PerCredential(0); got != "" {
		t.Errorf("PerCredential(0) = %q, want nothing", got)
	}
}
