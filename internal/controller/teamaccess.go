package controller

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	kalabels "github.com/kubeaccess/kubeaccess/internal/labels"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/team"
)

// TeamAccessGVR is the TeamAccess custom resource (deploy/crd-teamaccess.yaml).
var TeamAccessGVR = schema.GroupVersionResource{Group: "kubeaccess.io", Version: "v1alpha1", Resource: "teamaccesses"}

// reconcileTeam brings the cluster to a TeamAccess: the same document as a
// team file, read with the same strictness, resolved with the same checks
// and refusals as apply -f, then its roles and bindings made, updated and
// pruned, its service accounts made and bound, and the credentials of
// members it no longer has revoked. A change to the team's objects made by
// anyone else (drift) is put back and reported as an Event. Users are bound
// once they hold a credential the team issued (apply -f issues them);
// those who do not yet are listed as pending in the status.
func (c *Controller) reconcileTeam(ctx context.Context, name string) (outcome, error) {
	obj, err := c.teams.Get(name)
	if apierrors.IsNotFound(err) {
		return outcome{result: "gone"}, nil
	} else if err != nil {
		return outcome{}, err
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return outcome{}, fmt.Errorf("TeamAccess %s is a %T", name, obj)
	}
	doc, err := yaml.Marshal(map[string]any{"apiVersion": team.APIVersion, "kind": team.Kind, "metadata": map[string]any{"name": name}, "spec": u.Object["spec"]})
	if err != nil {
		return outcome{}, err
	}
	file, err := team.Parse("TeamAccess "+name, doc)
	if err != nil {
		return c.teamStatus(ctx, u, nil, "Invalid", err)
	}
	catalog, err := c.Engine.Catalog()
	if err != nil {
		return outcome{}, err
	}
	state, err := c.teamState(name)
	if err != nil {
		return outcome{}, err
	}
	resolved, err := team.Resolve(file, catalog, state.Index, nil)
	if err != nil {
		c.Metrics.Refusals.WithLabelValues("team", "refused").Inc()
		return c.teamStatus(ctx, u, nil, "Refused", err)
	}
	plan, err := team.PlanInCluster(resolved, state, time.Now())
	if err != nil {
		return outcome{}, err
	}
	// The spec was reconciled before and has not changed since: what
	// must change now, someone else changed.
	drift := observedGeneration(u) == u.GetGeneration() && len(plan.Objects) > 0
	out, err := team.ApplyInCluster(ctx, c.Client, c.RecordsNamespace, "kubeaccess controller (TeamAccess "+name+")", plan)
	if err != nil {
		return c.teamStatus(ctx, u, plan, "ApplyFailed", err)
	}
	if drift {
		var what []string
		for _, ch := range plan.Objects {
			what = append(what, ch.Action+" "+ch.Ref.Display())
		}
		c.Metrics.Drift.Inc()
		c.event(u, corev1.EventTypeWarning, "DriftCorrected", "the team's objects had been changed by someone else; put back: %s", strings.Join(what, ", "))
		c.Logf("team %s: drift put back: %s", name, strings.Join(what, ", "))
	}
	for _, ch := range out.Done {
		if ch.Action == team.Revoke {
			c.event(u, corev1.EventTypeNormal, "MemberRevoked", "%s", ch.String())
		}
	}
	return c.teamStatus(ctx, u, plan, "Reconciled", nil)
}

// teamStatus writes the TeamAccess's status (only when it changed, so
// that writing it does not wake the loop again): Ready with why, the
// members bound and pending, and the generation it is about.
func (c *Controller) teamStatus(ctx context.Context, u *unstructured.Unstructured, plan *team.InCluster, reason string, cause error) (outcome, error) {
	status := map[string]any{}
	if s, ok := u.Object["status"].(map[string]any); ok {
		status = runtime.DeepCopyJSON(s)
	}
	var conditions []metav1.Condition
	if raw, ok := status["conditions"].([]any); ok {
		for _, item := range raw {
			var cond metav1.Condition
			if m, ok := item.(map[string]any); ok && runtime.DefaultUnstructuredConverter.FromUnstructured(m, &cond) == nil {
				conditions = append(conditions, cond)
			}
		}
	}
	ready := metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: reason, ObservedGeneration: u.GetGeneration(),
		Message: "the team's roles and bindings match its spec"}
	if cause != nil {
		ready.Status, ready.Message = metav1.ConditionFalse, cause.Error()
	}
	meta.SetStatusCondition(&conditions, ready)
	raw := make([]any, len(conditions))
	for i := range conditions {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&conditions[i])
		if err != nil {
			return outcome{}, err
		}
		raw[i] = m
	}
	fresh := map[string]any{"observedGeneration": u.GetGeneration(), "conditions": raw}
	if plan != nil {
		fresh["members"], fresh["bound"], fresh["pending"] = int64(plan.Members()), int64(len(plan.Bound)), int64(len(plan.Pending))
		pending := make([]any, len(plan.Pending))
		for i, p := range plan.Pending {
			pending[i] = p
		}
		fresh["pendingMembers"] = pending
	} else {
		for _, k := range []string{"members", "bound", "pending", "pendingMembers"} {
			if v, ok := status[k]; ok {
				fresh[k] = v
			}
		}
	}
	result := "reconciled"
	if cause != nil {
		result = strings.ToLower(reason)
	}
	if reflect.DeepEqual(normalize(fresh), normalize(status)) {
		return outcome{result: result}, nil
	}
	fresh["lastReconcileTime"] = time.Now().UTC().Format(time.RFC3339)
	updated := u.DeepCopy()
	updated.Object["status"] = fresh
	if _, err := c.Dynamic.Resource(TeamAccessGVR).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return outcome{}, fmt.Errorf("writing the status of TeamAccess %s: %w", u.GetName(), err)
	}
	return outcome{result: result}, nil
}

// normalize is a status as JSON numbers and without its time of writing,
// to tell whether it changed.
func normalize(status map[string]any) map[string]any {
	out := map[string]any{}
	data, err := yaml.Marshal(status)
	if err == nil && yaml.Unmarshal(data, &out) == nil {
		delete(out, "lastReconcileTime")
	}
	return out
}

// observedGeneration is the generation the status was last written for.
func observedGeneration(u *unstructured.Unstructured) int64 {
	g, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	return g
}

// teamState is what the cluster holds for team, as the informers hold it:
// every role and binding, the namespaces and the team's records. A write
// judged on a view a moment old carries the version it judged (deletes
// their UID and resourceVersion), so it fails rather than undo a newer
// change, and the reconcile runs again.
func (c *Controller) teamState(name string) (*team.State, error) {
	everything := labels.Everything()
	crbs, err := c.clusterRoleBindings.List(everything)
	if err != nil {
		return nil, err
	}
	rbs, err := c.roleBindings.List(everything)
	if err != nil {
		return nil, err
	}
	crs, err := c.clusterRoles.List(everything)
	if err != nil {
		return nil, err
	}
	roles, err := c.roles.List(everything)
	if err != nil {
		return nil, err
	}
	nss, err := c.namespaces.List(everything)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(nss))
	for i, ns := range nss {
		names[i] = ns.Name
	}
	cms, err := c.records.List(labels.SelectorFromSet(labels.Set{kalabels.Team: name}))
	if err != nil {
		return nil, err
	}
	recs, untrusted := records.TeamRecords(name, cms)
	st := team.StateFrom(name, rbac.IndexOf(crbs, rbs, crs, roles), names, recs, untrusted)
	accounts, err := c.serviceAccounts.List(everything)
	if err != nil {
		return nil, err
	}
	st.ServiceAccounts = make(map[string]bool, len(accounts))
	for _, sa := range accounts {
		st.ServiceAccounts[sa.Namespace+"/"+sa.Name] = true
	}
	return st, nil
}
