package impact

import (
	"context"
	"fmt"
	"io"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/safe"
)

// Change is an access change to judge: roles and bindings to create or
// update, subjects to take out of bindings, and objects to delete.
type Change struct {
	Put    []runtime.Object
	Remove []rbac.Ref
	// Unbind takes a subject (by name) out of a binding.
	Unbind map[rbac.Ref][]string
	// Subjects are evaluated besides those of the bindings changed.
	Subjects []Subject
}

// Apply is the index after the change; before is left as it was.
func (c Change) Apply(before *rbac.Index) (*rbac.Index, error) {
	after := before.Clone()
	for _, obj := range c.Put {
		if err := after.Put(obj); err != nil {
			return nil, err
		}
	}
	for _, ref := range c.Remove {
		after.Remove(ref)
	}
	for ref, names := range c.Unbind {
		i := slices.IndexFunc(after.Bindings, func(b rbac.Binding) bool { return b.Ref == ref })
		if i < 0 {
			continue
		}
		b := after.Bindings[i]
		b.Subjects = slices.DeleteFunc(slices.Clone(b.Subjects), func(s rbacv1.Subject) bool { return slices.Contains(names, s.Name) })
		after.Bindings[i] = b
	}
	return after, nil
}

// Of is what the change gives and takes: its subjects, and every subject
// of a binding it changes, before and after.
func Of(before *rbac.Index, u Universe, c Change) (Impact, error) {
	after, err := c.Apply(before)
	if err != nil {
		return Impact{}, err
	}
	changed := map[rbac.Ref]bool{}
	for _, obj := range c.Put {
		if ref, err := rbac.RefOf(obj); err == nil {
			changed[ref] = true
		}
	}
	for _, ref := range c.Remove {
		changed[ref] = true
	}
	for ref := range c.Unbind {
		changed[ref] = true
	}
	subjects := slices.Clone(c.Subjects)
	for _, ix := range []*rbac.Index{before, after} {
		for _, b := range ix.Bindings {
			if changed[b.Ref] {
				for _, s := range b.Subjects {
					subjects = append(subjects, SubjectOf(s, b.Ref.Namespace))
				}
			}
		}
	}
	return Compare(before, after, u, subjects), nil
}

// UniverseFrom is the universe of the server's resources.
func UniverseFrom(disco discovery.DiscoveryInterface) (Universe, error) {
	lists, err := Resources(disco)
	if err != nil {
		return Universe{}, err
	}
	return UniverseOf(lists), nil
}

// Show reads the cluster's roles, bindings and resources, and prints on w
// what the change would give and take (a dry run's impact).
func Show(ctx context.Context, client kubernetes.Interface, disco discovery.DiscoveryInterface, c Change, w io.Writer) error {
	before, err := rbac.ReadIndex(ctx, client)
	if err != nil {
		return fmt.Errorf("the access impact could not be worked out: %w", err)
	}
	u, err := UniverseFrom(disco)
	if err != nil {
		return fmt.Errorf("the access impact could not be worked out: %w", err)
	}
	im, err := Of(before, u, c)
	if err != nil {
		return err
	}
	im.Print(w)
	return nil
}

// Print writes the impact for people, one line per change.
func (im Impact) Print(w io.Writer) {
	if im.Empty() {
		fmt.Fprintln(w, "Access impact: nobody gains or loses a permission.")
		return
	}
	fmt.Fprintf(w, "Access impact: %d permissions gained, %d lost.\n", im.Gained, im.Lost)
	for _, l := range im.Lines {
		sign := "+"
		if l.Change == "loses" {
			sign = "-"
		}
		fmt.Fprintf(w, "  %s %s\n", sign, safe.Printable(l.String()))
	}
	for _, e := range im.Escalations {
		fmt.Fprintf(w, "  ! ESCALATION: %s would hold %s (%s), through %s\n", safe.Printable(e.Subject), e.Entry, e.Reason, safe.Printable(e.Through))
	}
}
