package issue

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// DryRun is how much of a plan is carried out.
type DryRun string

// The dry-run modes, as kubectl names them; the zero value carries the
// plan out.
const (
	DryRunNone   DryRun = ""
	DryRunClient DryRun = "client"
	DryRunServer DryRun = "server"
)

// Options is what a request's DryRun field carries: All with server, so
// that the API server admits and authorizes the request and persists
// nothing.
func (d DryRun) Options() []string {
	if d == DryRunServer {
		return []string{metav1.DryRunAll}
	}
	return nil
}

// Suffix marks what a dry run only pretended to do, as kubectl does.
func (d DryRun) Suffix() string {
	switch d {
	case DryRunClient:
		return " (dry run)"
	case DryRunServer:
		return " (server dry run)"
	}
	return ""
}

// ParseDryRun reads --dry-run's value; a bare --dry-run means client.
func ParseDryRun(s string) (DryRun, error) {
	switch d := DryRun(s); d {
	case "", "none":
		return DryRunNone, nil
	case DryRunClient, DryRunServer:
		return d, nil
	case "true":
		return DryRunClient, nil
	case "false":
		return DryRunNone, nil
	}
	return "", fmt.Errorf(`--dry-run must be "none", "client" or "server", not %q`, s)
}

// dryRun returns what the plan would create: as built (client), or as the
// server accepts it without persisting anything (server), so that
// admission and RBAC refusals show.
func (x *Execution) dryRun(ctx context.Context, pre preflighted, res *Result) (*Result, error) {
	issued, err := x.issuance.Objects(x)
	if err != nil {
		return nil, err
	}
	objs := x.toApply(pre)
	if x.Plan.DryRun == DryRunClient {
		res.Objects = append(issued, objs...)
		return res, nil
	}
	for _, obj := range issued {
		got, err := x.dryRunCreate(ctx, obj)
		if err != nil {
			return nil, err
		}
		res.Objects = append(res.Objects, got)
	}
	if pre.createNamespace {
		// Nothing can be created, even as a dry run, in a namespace that
		// does not exist yet: the server judges the namespace alone.
		x.Emit(Note, "namespace %q does not exist yet, so the server could not judge the objects to create in it", x.Plan.Namespace)
		objs = objs[:1]
	}
	changes, err := rbac.DryRunApply(ctx, x.Client, objs)
	if err != nil {
		return nil, fmt.Errorf("the server refuses it (dry run, nothing was created): %w", err)
	}
	for _, c := range changes {
		res.Objects = append(res.Objects, c.Object)
	}
	return res, nil
}

// dryRunCreate sends the source's own objects (a CertificateSigningRequest)
// as a server-side dry run.
func (x *Execution) dryRunCreate(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
	creator, ok := x.issuance.(ServerDryRunner)
	if !ok {
		return obj, nil
	}
	got, err := creator.DryRunCreate(ctx, x, obj)
	if err != nil {
		return nil, fmt.Errorf("the server refuses it (dry run, nothing was created): %w", err)
	}
	if gvk := obj.GetObjectKind().GroupVersionKind(); !gvk.Empty() {
		got.GetObjectKind().SetGroupVersionKind(gvk)
	}
	return got, nil
}
