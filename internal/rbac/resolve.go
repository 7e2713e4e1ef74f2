// Package rbac turns --verb/--resource flags into RBAC rules resolved
// against the cluster's API discovery, builds roles and bindings, and
// applies them.
package rbac

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KnownVerbs are the verbs Kubernetes authorizers check.
var KnownVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection",
	"approve", "bind", "escalate", "impersonate", "sign", "use", "*"}

// ValidateVerbs refuses verbs Kubernetes never checks (usually typos).
func ValidateVerbs(verbs []string) error {
	if len(verbs) == 0 {
		return fmt.Errorf("--verb needs at least one verb")
	}
	for _, v := range verbs {
		if !slices.Contains(KnownVerbs, v) {
			return fmt.Errorf("unknown verb %q: use one of %s", v, strings.Join(KnownVerbs, ","))
		}
	}
	return nil
}

// GroupResource is a resource (possibly with a subresource, "pods/log") in an API group.
type GroupResource struct {
	Group    string
	Resource string
}

// String names the resource as kubectl does: "pods", "deployments.apps",
// and a subresource after its group: "pods/exec", "deployments.apps/scale".
func (g GroupResource) String() string {
	res, sub, _ := strings.Cut(g.Resource, "/")
	if g.Group != "" {
		res += "." + g.Group
	}
	if sub != "" {
		res += "/" + sub
	}
	return res
}

// Catalog indexes the resources an API server serves, in discovery order
// (the server lists the core group first).
type Catalog struct {
	byName map[string][]GroupResource // plural, singular and short names
	all    []string                   // every plural and subresource name, for suggestions
}

// NewCatalog indexes discovery results (ServerPreferredResources or ServerGroupsAndResources).
func NewCatalog(lists []*metav1.APIResourceList) *Catalog {
	c := &Catalog{byName: map[string][]GroupResource{}}
	for _, list := range lists {
		if list == nil {
			continue
		}
		group := ""
		if i := strings.Index(list.GroupVersion, "/"); i >= 0 {
			group = list.GroupVersion[:i]
		}
		for _, r := range list.APIResources {
			gr := GroupResource{Group: group, Resource: r.Name}
			names := []string{r.Name}
			if !strings.Contains(r.Name, "/") {
				names = append(names, r.SingularName)
				names = append(names, r.ShortNames...)
			}
			for _, n := range names {
				if n != "" && !slices.Contains(c.byName[n], gr) {
					c.byName[n] = append(c.byName[n], gr)
				}
			}
			if !slices.Contains(c.all, r.Name) {
				c.all = append(c.all, r.Name)
			}
		}
	}
	return c
}

// Resolve finds the API group of a --resource value: "deployments",
// "deployment", "deploy", "deployments.apps", "pods/log" or "*".
func (c *Catalog) Resolve(value string) (GroupResource, error) {
	if value == "*" {
		return GroupResource{Group: "*", Resource: "*"}, nil
	}
	name, sub, _ := strings.Cut(value, "/")
	resource, group, qualified := strings.Cut(name, ".")
	for _, gr := range c.byName[resource] {
		if qualified && gr.Group != group {
			continue
		}
		plural, _, _ := strings.Cut(gr.Resource, "/")
		if sub == "" {
			return GroupResource{Group: gr.Group, Resource: plural}, nil
		}
		full := GroupResource{Group: gr.Group, Resource: plural + "/" + sub}
		if slices.Contains(c.byName[full.Resource], full) {
			return full, nil
		}
	}
	return GroupResource{}, c.unknown(value)
}

func (c *Catalog) unknown(value string) error {
	var close []string
	for _, name := range c.all {
		if Distance(value, name) <= 2 || (len(value) >= 3 && strings.HasPrefix(name, value)) {
			close = append(close, name)
		}
	}
	sort.Strings(close)
	if len(close) > 5 {
		close = close[:5]
	}
	if len(close) == 0 {
		return fmt.Errorf("the server has no resource %q (see kubectl api-resources)", value)
	}
	return fmt.Errorf("the server has no resource %q; did you mean %s?", value, strings.Join(close, ", "))
}

// Rules resolves resources and returns one rule per API group, granting
// verbs on that group's resources, in the order the resources were given.
func (c *Catalog) Rules(verbs, resources []string) ([]rbacv1.PolicyRule, error) {
	if err := ValidateVerbs(verbs); err != nil {
		return nil, err
	}
	var rules []rbacv1.PolicyRule
	index := map[string]int{}
	for _, value := range resources {
		gr, err := c.Resolve(value)
		if err != nil {
			return nil, err
		}
		i, ok := index[gr.Group]
		if !ok {
			i = len(rules)
			index[gr.Group] = i
			rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{gr.Group}, Verbs: slices.Clone(verbs)})
		}
		if !slices.Contains(rules[i].Resources, gr.Resource) {
			rules[i].Resources = append(rules[i].Resources, gr.Resource)
		}
	}
	return rules, nil
}

// Distance is the edit distance between a and b, for suggesting a name.
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
