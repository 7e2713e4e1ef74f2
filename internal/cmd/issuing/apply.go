package issuing

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// Apply creates the namespace when needed, then the objects the
// credential needs (a ServiceAccount, say), then the role and binding.
func (is *Issuer) Apply(ctx context.Context, createNamespace bool, acc *Access, needed []runtime.Object) ([]rbac.Change, error) {
	var objs []runtime.Object
	if createNamespace {
		objs = append(objs, rbac.BuildNamespace(is.Namespace))
	}
	objs = append(objs, needed...)
	if acc != nil {
		objs = append(objs, acc.Objects()...)
	}
	if len(objs) == 0 {
		return nil, nil
	}
	return rbac.Apply(ctx, is.Client, objs)
}

// Failed undoes what changes created after a failure and returns cause
// with an account of the state left: no kubeconfig, the notes (what
// happened to a CSR, say), and what was deleted and what remains.
func (is *Issuer) Failed(cause error, changes []rbac.Change, notes ...string) error {
	msg := append([]string{"no kubeconfig was written"}, notes...)
	if undone := is.undo(changes); undone != "" {
		msg = append(msg, undone)
	}
	return fmt.Errorf("%w\n%s", cause, strings.Join(msg, "; "))
}

// undo deletes what changes created and says what was removed and what
// remains.
func (is *Issuer) undo(changes []rbac.Change) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var msg []string
	deleted, failed := rbac.Undo(ctx, is.Client, changes)
	if len(deleted) > 0 {
		msg = append(msg, "deleted what this run created: "+strings.Join(deleted, ", "))
	}
	for _, err := range failed {
		msg = append(msg, fmt.Sprintf("%v: delete it with kubectl", err))
	}
	var kept []string
	for _, c := range changes {
		if !c.Created {
			kept = append(kept, rbac.Describe(c.Object))
		}
	}
	if len(kept) > 0 {
		msg = append(msg, "these existed before and were updated by this run: "+strings.Join(kept, ", "))
	}
	return strings.Join(msg, "; ")
}
