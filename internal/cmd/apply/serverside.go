package apply

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/yaml"

	"github.com/kubeaccess/kubeaccess/internal/controller"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/labels"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// runServerSide hands the file to kubeaccess controller: the TeamAccess
// object of the same name is server-side applied from it (the file was
// read and checked as apply reads it), and the controller reconciles it.
// It then waits, up to --timeout, for the controller's status of this
// generation, and says what it is.
func (o *Options) runServerSide(ctx context.Context) error {
	if o.problems != nil {
		return failure.UsageErrorf("%w\nnothing was applied", o.problems)
	}
	dyn, err := o.factory.Dynamic()
	if err != nil {
		return err
	}
	data, _, err := o.read()
	if err != nil {
		return err
	}
	var desired unstructured.Unstructured
	if err := yaml.Unmarshal(data, &desired.Object); err != nil {
		return failure.UsageErrorf("%w", err)
	}
	name := o.file.Metadata.Name
	// The controller binds the team's access on the authority of whoever
	// writes it: us, as the API server authenticates us (the admission
	// policy lets no one name anyone else).
	client, err := o.factory.Client()
	if err != nil {
		return err
	}
	me, err := verify.WhoAmI(ctx, client)
	if err != nil {
		return fmt.Errorf("asking the API server who you are, whom the TeamAccess names as its author: %w", err)
	}
	author := map[string]string{labels.Author: me.Username, labels.AuthorGroups: strings.Join(me.Groups, ",")}
	var dryRun []string
	if o.dryRun == "server" {
		dryRun = []string{metav1.DryRunAll}
	}
	// The file is the whole of the team's access, as with apply -f: it
	// replaces the object's spec (a merge would keep members the file no
	// longer has), only as the object was read.
	res := dyn.Resource(controller.TeamAccessGVR)
	got, err := res.Get(ctx, name, metav1.GetOptions{})
	switch {
	case isNotServed(err) || meta.IsNoMatchError(err):
		return failure.UsageErrorf("the cluster does not serve TeamAccess objects: install deploy/crd-teamaccess.yaml and deploy/controller.yaml, or apply without --server-side")
	case apierrors.IsNotFound(err):
		desired.SetResourceVersion("")
		desired.SetAnnotations(withAuthor(desired.GetAnnotations(), author))
		got, err = res.Create(ctx, &desired, metav1.CreateOptions{FieldManager: labels.Kubeaccess, DryRun: dryRun})
	case err == nil:
		got.Object["spec"] = desired.Object["spec"]
		got.SetAnnotations(withAuthor(got.GetAnnotations(), author))
		got, err = res.Update(ctx, got, metav1.UpdateOptions{FieldManager: labels.Kubeaccess, DryRun: dryRun})
	}
	if err != nil {
		return fmt.Errorf("applying TeamAccess %s: %w", name, err)
	}
	if o.dryRun != "" && o.dryRun != "none" {
		fmt.Fprintf(o.Out, "teamaccess.kubeaccess.io/%s accepted (server dry run): nothing was changed\n", name)
		return nil
	}
	fmt.Fprintf(o.Out, "teamaccess.kubeaccess.io/%s applied (generation %d): kubeaccess controller reconciles it\n", name, got.GetGeneration())
	var status *unstructured.Unstructured
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, o.Timeout, true, func(ctx context.Context) (bool, error) {
		cur, err := res.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		seen, _, _ := unstructured.NestedInt64(cur.Object, "status", "observedGeneration")
		if seen == got.GetGeneration() {
			status = cur
			return true, nil
		}
		return false, nil
	})
	if status == nil {
		fmt.Fprintf(o.ErrOut, "the controller has not reconciled generation %d within %s (is kubeaccess controller running?); see kubectl get teamaccess %s\n",
			got.GetGeneration(), o.Timeout, name)
		if ctx.Err() != nil {
			return err
		}
		return failure.ExitSilently(failure.ExitError)
	}
	return o.printServerSideStatus(status)
}

// withAuthor is annotations with the author's.
func withAuthor(annotations, author map[string]string) map[string]string {
	out := maps.Clone(annotations)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, author)
	return out
}

// printServerSideStatus says what the controller made of the team.
func (o *Options) printServerSideStatus(u *unstructured.Unstructured) error {
	conditions, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conditions {
		m, _ := c.(map[string]any)
		if m["type"] != "Ready" {
			continue
		}
		members, _, _ := unstructured.NestedInt64(u.Object, "status", "members")
		bound, _, _ := unstructured.NestedInt64(u.Object, "status", "bound")
		pending, _, _ := unstructured.NestedStringSlice(u.Object, "status", "pendingMembers")
		if m["status"] != "True" {
			return fmt.Errorf("the controller did not reconcile TeamAccess %s (%v): %v", u.GetName(), m["reason"], m["message"])
		}
		fmt.Fprintf(o.Out, "reconciled: %d members, %d bound", members, bound)
		if len(pending) > 0 {
			fmt.Fprintf(o.Out, "; waiting for a credential: %v (kubeaccess apply -f issues them)", pending)
		}
		fmt.Fprintln(o.Out)
		return nil
	}
	return nil
}

// isNotServed reports an API server that does not know the resource.
func isNotServed(err error) bool {
	return apierrors.IsNotFound(err) && strings.Contains(err.Error(), "the server could not find the requested resource")
}
