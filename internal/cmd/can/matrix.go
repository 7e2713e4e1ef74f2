package can

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// Verbs are the columns of the matrix, as access-matrix shows them.
var Verbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}

// Row is one resource of the matrix: for each verb, allowed or not, or
// absent where the resource does not serve that verb.
type Row struct {
	Resource string          `json:"resource"`
	Group    string          `json:"group"`
	Verbs    map[string]bool `json:"verbs"`
	Reasons  []string        `json:"reasons,omitempty"`
}

// name is the resource as kubectl names it: pods, deployments.apps.
func (r Row) name() string { return rbac.GroupResource{Group: r.Group, Resource: r.Resource}.String() }

// matrix prints every resource of the namespace (every resource with -A)
// against the standard verbs.
func (o *Options) matrix(disco discovery.CachedDiscoveryInterface, index *rbac.Index) error {
	lists, err := preferred(disco, o.namespace != "")
	if err != nil {
		return err
	}
	var rows []Row
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, res := range list.APIResources {
			if strings.Contains(res.Name, "/") {
				continue
			}
			rows = append(rows, o.row(index, gv.Group, res))
		}
	}
	slices.SortFunc(rows, func(a, b Row) int { return strings.Compare(a.Resource+"."+a.Group, b.Resource+"."+b.Group) })
	if o.Output.Structured() {
		return cmdutil.PrintList(o.Output, o.Out, "ResourceAccess", rows, Row.name)
	}
	return o.printMatrix(rows, index)
}

func (o *Options) row(index *rbac.Index, group string, res metav1.APIResource) Row {
	r := Row{Resource: res.Name, Group: group, Verbs: map[string]bool{}}
	seen := map[string]bool{}
	for _, verb := range Verbs {
		if !slices.Contains(res.Verbs, verb) {
			continue
		}
		d := index.Decide(o.user, rbac.Request{Verb: verb, Group: group, Resource: res.Name, Namespace: o.namespace})
		r.Verbs[verb] = d.Allowed
		for _, reason := range d.Reasons {
			line := reason.Binding.Display() + " (" + reason.Role.Display() + ")"
			if !seen[line] {
				seen[line] = true
				r.Reasons = append(r.Reasons, line)
			}
		}
	}
	return r
}

// preferred lists the resources the server prefers: only namespaced ones
// for a namespace.
func preferred(disco discovery.CachedDiscoveryInterface, namespaced bool) ([]*metav1.APIResourceList, error) {
	var (
		lists []*metav1.APIResourceList
		err   error
	)
	if namespaced {
		lists, err = disco.ServerPreferredNamespacedResources()
	} else {
		lists, err = disco.ServerPreferredResources()
	}
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return nil, fmt.Errorf("discovering the server's resources: %w", err)
	}
	return lists, nil
}

func (o *Options) printMatrix(rows []Row, index *rbac.Index) error {
	w := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	header := "NAME"
	for _, v := range Verbs {
		header += "\t" + strings.ToUpper(v)
	}
	if o.Output.Format() == "wide" {
		header += "\tTHROUGH"
	}
	fmt.Fprintln(w, header)
	for _, r := range rows {
		name := r.Resource
		if r.Group != "" {
			name += "." + r.Group
		}
		line := name
		for _, v := range Verbs {
			allowed, served := r.Verbs[v]
			switch {
			case !served:
				line += "\tn/a"
			case allowed:
				line += "\tyes"
			default:
				line += "\tno"
			}
		}
		if o.Output.Format() == "wide" {
			line += "\t" + strings.Join(r.Reasons, ", ")
		}
		fmt.Fprintln(w, line)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if d := index.Decide(o.user, rbac.Request{Verb: "get", Resource: "pods"}); d.Outside != "" {
		fmt.Fprintf(o.ErrOut, "note: %s\n", d.Outside)
	}
	return nil
}
