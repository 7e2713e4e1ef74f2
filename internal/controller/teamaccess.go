package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/yaml"

	kalabels "github.com/kubeaccess/kubeaccess/internal/labels"
	"github.com/kubeaccess/kubeaccess/internal/privilege"
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
	if u.GetDeletionTimestamp() != nil {
		return c.pruneTeam(ctx, u)
	}
	// Whatever is made for the team is ended with it: the finalizer
	// comes before anything is made.
	if !slices.Contains(u.GetFinalizers(), TeamFinalizer) {
		if u, err = c.setFinalizers(ctx, u, append(u.GetFinalizers(), TeamFinalizer)); err != nil || u == nil {
			return outcome{}, err
		}
	}
	if err := c.authorPolicyHolds(); err != nil {
		c.Metrics.Refusals.WithLabelValues("team", "no-author-policy").Inc()
		return c.teamStatus(ctx, u, nil, "NoAuthorPolicy", err, nil)
	}
	author, err := authorOf(u.GetAnnotations())
	if err != nil {
		c.Metrics.Refusals.WithLabelValues("team", "no-author").Inc()
		return c.teamStatus(ctx, u, nil, "NoAuthor", err, nil)
	}
	doc, err := yaml.Marshal(map[string]any{"apiVersion": team.APIVersion, "kind": team.Kind, "metadata": map[string]any{"name": name}, "spec": u.Object["spec"]})
	if err != nil {
		return outcome{}, err
	}
	file, err := team.Parse("TeamAccess "+name, doc)
	if err != nil {
		return c.teamStatus(ctx, u, nil, "Invalid", err, nil)
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
		return c.teamStatus(ctx, u, nil, "Refused", err, nil)
	}
	plan, err := team.PlanInCluster(resolved, state, time.Now())
	if err != nil {
		return outcome{}, err
	}
	// What the team gives, it gives on its author's authority: what
	// they could not make themselves is not made, and what takes access
	// away still is.
	authority := &privilege.Authority{Client: c.Client, Who: *author}
	refused := plan.CheckAuthority(ctx, authority)
	var unauthorized *privilege.Unauthorized
	if errors.As(refused, &unauthorized) {
		plan = plan.OnlyRemovals()
	} else if refused != nil {
		return outcome{}, fmt.Errorf("checking the authority of TeamAccess %s's author: %w", name, refused)
	}
	// The spec was reconciled before and has not changed since: what
	// must change now, someone else changed.
	drift := observedGeneration(u) == u.GetGeneration() && reconciled(u) && len(plan.Objects) > 0
	out, err := team.ApplyInCluster(ctx, c.Client, c.RecordsNamespace, "kubeaccess controller (TeamAccess "+name+")", plan)
	if err != nil {
		return c.teamStatus(ctx, u, plan, "ApplyFailed", err, nil)
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
	if len(plan.Resolved.Ended) > 0 && len(plan.Objects)+len(plan.Revocations) > 0 {
		c.Metrics.Expiries.Add(float64(len(plan.Resolved.Ended)))
		c.event(u, corev1.EventTypeNormal, "AccessExpired", "the access of %s ended at its until:", strings.Join(plan.Resolved.Ended, ", "))
	}
	if unauthorized != nil {
		c.Metrics.Refusals.WithLabelValues("team", "unauthorized").Inc()
		c.event(u, corev1.EventTypeWarning, "Unauthorized", "%v", unauthorized)
		res, err := c.teamStatus(ctx, u, nil, "Unauthorized", unauthorized, nil)
		// Authority may come: look again in a while.
		res.after = time.Minute
		return res, err
	}
	// Those still without a credential are invited, when the team asks.
	inv := c.inviteMembers(ctx, u, plan, author, authority)
	c.reportInvitations(u, inv)
	res, err := c.teamStatus(ctx, u, plan, "Reconciled", nil, &inv)
	// A member's until:, or a link's expiry, is the next thing to do.
	next := resolved.NextEnd(time.Now())
	for _, o := range inv.open {
		if next.IsZero() || o.ExpiresAt.Before(next) {
			next = o.ExpiresAt
		}
	}
	if !next.IsZero() {
		res.after = time.Until(next) + time.Second
	}
	if inv.err != nil && (res.after == 0 || res.after > 30*time.Second) {
		res.after = 30 * time.Second
	}
	return res, err
}

// reportInvitations records what a reconcile did with the team's
// invitations: Events and metrics name the users, never a link.
func (c *Controller) reportInvitations(u *unstructured.Unstructured, inv invited) {
	if len(inv.sent) > 0 {
		c.Metrics.Invitations.WithLabelValues("sent").Add(float64(len(inv.sent)))
		c.event(u, corev1.EventTypeNormal, "Invited", "sent the invitation links of %s", strings.Join(inv.sent, ", "))
		c.Logf("team %s: sent the invitation links of %s", u.GetName(), strings.Join(inv.sent, ", "))
	}
	if len(inv.revoked) > 0 {
		c.Metrics.Invitations.WithLabelValues("revoked").Add(float64(len(inv.revoked)))
		c.event(u, corev1.EventTypeNormal, "InvitationRevoked", "revoked the open invitations of %s: no longer due", strings.Join(inv.revoked, ", "))
	}
	if inv.err != nil {
		c.Metrics.Refusals.WithLabelValues("team", "invitation-"+strings.ToLower(inv.reason)).Inc()
		c.event(u, corev1.EventTypeWarning, inv.reason, "%v", inv.err)
		c.Logf("team %s: invitations: %v", u.GetName(), inv.err)
	}
}

// reconciled says whether the TeamAccess's status says it was reconciled
// in full.
func reconciled(u *unstructured.Unstructured) bool {
	return meta.IsStatusConditionTrue(conditionsOf(u), "Ready")
}

// conditionsOf is the conditions of a TeamAccess's status, those that
// read as conditions.
func conditionsOf(u *unstructured.Unstructured) []metav1.Condition {
	raw, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	var conditions []metav1.Condition
	for _, item := range raw {
		var cond metav1.Condition
		if m, ok := item.(map[string]any); ok && runtime.DefaultUnstructuredConverter.FromUnstructured(m, &cond) == nil {
			conditions = append(conditions, cond)
		}
	}
	return conditions
}

// TeamFinalizer holds a deleted TeamAccess until the controller has
// deleted its roles and bindings and revoked its members' credentials.
const TeamFinalizer = "kubeaccess.io/prune"

// pruneTeam ends a deleted TeamAccess: what it made is deleted, its
// members' credentials revoked, then the finalizer removed. Taking access
// away needs no one's authority, so this is done whatever the author
// policy says.
func (c *Controller) pruneTeam(ctx context.Context, u *unstructured.Unstructured) (outcome, error) {
	name := u.GetName()
	if !slices.Contains(u.GetFinalizers(), TeamFinalizer) {
		return outcome{result: "gone"}, nil
	}
	state, err := c.teamState(name)
	if err != nil {
		return outcome{}, err
	}
	plan := team.PruneInCluster(name, state, time.Now())
	out, err := team.ApplyInCluster(ctx, c.Client, c.RecordsNamespace, "kubeaccess controller (TeamAccess "+name+" deleted)", plan)
	if err != nil {
		return outcome{}, fmt.Errorf("pruning deleted TeamAccess %s: %w", name, err)
	}
	var done []string
	for _, ch := range out.Done {
		done = append(done, ch.String())
	}
	revoked, err := c.revokeInvitations(ctx, name)
	if err != nil {
		return outcome{}, fmt.Errorf("pruning deleted TeamAccess %s: %w", name, err)
	}
	if len(revoked) > 0 {
		done = append(done, "revoked the open invitations of "+strings.Join(revoked, ", "))
	}
	if len(done) > 0 {
		c.event(u, corev1.EventTypeNormal, "Pruned", "the TeamAccess was deleted: %s", strings.Join(done, "; "))
		c.Logf("team %s deleted: %s", name, strings.Join(done, "; "))
	}
	_, err = c.setFinalizers(ctx, u, slices.DeleteFunc(slices.Clone(u.GetFinalizers()), func(f string) bool { return f == TeamFinalizer }))
	return outcome{result: "pruned"}, err
}

// setFinalizers patches a TeamAccess's finalizers, only as it was read
// (its resourceVersion), so that no one else's change is undone.
// It returns the object as patched, nil when it is gone.
func (c *Controller) setFinalizers(ctx context.Context, u *unstructured.Unstructured, finalizers []string) (*unstructured.Unstructured, error) {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"finalizers": finalizers, "resourceVersion": u.GetResourceVersion()}})
	if err != nil {
		return nil, err
	}
	got, err := c.Dynamic.Resource(TeamAccessGVR).Patch(ctx, u.GetName(), types.MergePatchType, patch, metav1.PatchOptions{FieldManager: kalabels.Kubeaccess})
	if apierrors.IsNotFound(err) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("setting the finalizers of TeamAccess %s: %w", u.GetName(), err)
	}
	return got, nil
}

// teamStatus writes the TeamAccess's status (only when it changed, so
// that writing it does not wake the loop again): Ready with why, the
// members bound and pending, and the generation it is about.
func (c *Controller) teamStatus(ctx context.Context, u *unstructured.Unstructured, plan *team.InCluster, reason string, cause error, inv *invited) (outcome, error) {
	status := map[string]any{}
	if s, ok := u.Object["status"].(map[string]any); ok {
		status = runtime.DeepCopyJSON(s)
	}
	conditions := conditionsOf(u)
	ready := metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: reason, ObservedGeneration: u.GetGeneration(),
		Message: "the team's roles and bindings match its spec"}
	if cause != nil {
		ready.Status, ready.Message = metav1.ConditionFalse, cause.Error()
	}
	meta.SetStatusCondition(&conditions, ready)
	if inv != nil {
		invitedCondition(&conditions, u.GetGeneration(), plan, inv)
	}
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
	}
	if inv != nil {
		open := make([]any, len(inv.open))
		for i, o := range inv.open {
			open[i] = map[string]any{"user": o.User, "expiresAt": o.ExpiresAt.UTC().Format(time.RFC3339), "sentTo": o.SentTo}
		}
		fresh["invited"], fresh["invitations"] = int64(len(inv.open)), open
	} else {
		for _, k := range []string{"invited", "invitations"} {
			if v, ok := status[k]; ok {
				fresh[k] = v
			}
		}
	}
	if plan == nil {
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

// invitedCondition sets the Invited condition of a team whose spec asks
// for invitations (and drops it from one that no longer does): whether
// every pending user holds an open invitation, sent.
func invitedCondition(conditions *[]metav1.Condition, generation int64, plan *team.InCluster, inv *invited) {
	if plan.Resolved.File.Spec.Invitations == nil {
		meta.RemoveStatusCondition(conditions, "Invited")
		return
	}
	cond := metav1.Condition{Type: "Invited", Status: metav1.ConditionTrue, Reason: "Invited", ObservedGeneration: generation,
		Message: fmt.Sprintf("%d pending users hold an open invitation, sent", len(inv.open))}
	if inv.err != nil {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, inv.reason, inv.err.Error()
	}
	meta.SetStatusCondition(conditions, cond)
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
// every role, the bindings that are the team's or bear its names (by the
// team index), the namespaces and the team's records. A write judged on a
// view a moment old carries the version it judged (deletes their UID and
// resourceVersion), so it fails rather than undo a newer change, and the
// reconcile runs again.
func (c *Controller) teamState(name string) (*team.State, error) {
	everything := labels.Everything()
	crbs, err := byIndex[*rbacv1.ClusterRoleBinding](c.clusterRoleBindingIndex, name)
	if err != nil {
		return nil, err
	}
	rbs, err := byIndex[*rbacv1.RoleBinding](c.roleBindingIndex, name)
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
	st.ServiceAccountExists = func(namespace, name string) bool {
		_, err := c.serviceAccounts.ServiceAccounts(namespace).Get(name)
		return err == nil
	}
	return st, nil
}

// teamIndex indexes bindings by the team they belong to, or whose names
// they bear (kubeaccess:team:TEAM:...): a team's reconcile reads those
// alone, and still sees an object of its names that is not its own.
const teamIndex = "team"

func teamsOf(obj any) ([]string, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	var out []string
	if t := m.GetLabels()[kalabels.Team]; t != "" {
		out = append(out, t)
	}
	if t, ok := team.OfName(m.GetName()); ok && !slices.Contains(out, t) {
		out = append(out, t)
	}
	return out, nil
}

// byIndex is the objects of team in an informer's team index.
func byIndex[T any](ix cache.Indexer, team string) ([]T, error) {
	objs, err := ix.ByIndex(teamIndex, team)
	if err != nil {
		return nil, err
	}
	return ofType[T](objs), nil
}

// ofType are those of objs, an informer cache's, that are a T.
func ofType[T any](objs []any) []T {
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		if t, ok := o.(T); ok {
			out = append(out, t)
		}
	}
	return out
}
