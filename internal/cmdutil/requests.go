package cmdutil

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// Requests counts the API requests a process makes, by verb and
// resource ("create subjectaccessreviews.authorization.k8s.io"), so that
// a bulk run can say what each credential cost the API server.
type Requests struct {
	mu    sync.Mutex
	count map[string]int
}

// RequestCounter counts the requests of every client the factory builds.
var RequestCounter = &Requests{count: map[string]int{}}

func (c *Requests) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		kind := requestKind(r.Method, r.URL.Path, r.URL.Query().Get("watch") == "true")
		c.mu.Lock()
		c.count[kind]++
		c.mu.Unlock()
		return next.RoundTrip(r)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Count is one kind of request and how many were made.
type Count struct {
	Kind string `json:"kind"`
	N    int    `json:"n"`
}

// Counts are the requests made so far, most first.
func (c *Requests) Counts() []Count {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Count, 0, len(c.count))
	for k, n := range c.count {
		out = append(out, Count{k, n})
	}
	slices.SortFunc(out, func(a, b Count) int {
		if a.N != b.N {
			return b.N - a.N
		}
		return strings.Compare(a.Kind, b.Kind)
	})
	return out
}

// Total is how many requests were made.
func (c *Requests) Total() int {
	n := 0
	for _, k := range c.Counts() {
		n += k.N
	}
	return n
}

// PerCredential says what each of n credentials cost, by kind of request.
func (c *Requests) PerCredential(n int) string {
	if n == 0 {
		return ""
	}
	var (
		parts      []string
		rest, kind int
	)
	for _, k := range c.Counts() {
		// Kinds made a few times in the whole run (reading the cluster
		// once, binding a team) would print as 0.0: they are summed.
		if per := float64(k.N) / float64(n); per >= 0.05 {
			parts = append(parts, fmt.Sprintf("%.1f %s", per, k.Kind))
		} else {
			rest, kind = rest+k.N, kind+1
		}
	}
	if kind > 0 {
		parts = append(parts, fmt.Sprintf("and %d requests of %d other kinds in the whole run", rest, kind))
	}
	return fmt.Sprintf("%.1f requests per credential: %s", float64(c.Total())/float64(n), strings.Join(parts, ", "))
}

// requestKind names a request by its verb and resource, as the API
// server's request info does: /api/v1/namespaces/NS/configmaps/NAME is a
// get of configmaps, /apis/G/V/RESOURCE a list or create of RESOURCE.G.
func requestKind(method, path string, watch bool) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var group string
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		group, parts = parts[1], parts[3:]
	default:
		return strings.ToLower(method) + " " + path
	}
	if len(parts) >= 2 && parts[0] == "namespaces" && len(parts) != 2 {
		parts = parts[2:]
	}
	if len(parts) == 0 {
		return strings.ToLower(method) + " discovery"
	}
	resource, named := parts[0], len(parts) >= 2
	if len(parts) >= 3 {
		resource += "/" + parts[2]
	}
	if group != "" {
		resource += "." + group
	}
	verb := map[string]string{http.MethodPost: "create", http.MethodPut: "update", http.MethodPatch: "patch", http.MethodDelete: "delete"}[method]
	switch {
	case verb != "":
	case watch:
		verb = "watch"
	case named:
		verb = "get"
	default:
		verb = "list"
	}
	return verb + " " + resource
}
