package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/revoke"
)

// reconcileExpiry takes a record's access away once its time has come
// (grant --for), and otherwise asks to be woken then. A record is a
// ConfigMap others may write, so one that fails its checks is left alone;
// and what is taken away is only what revoke --credential takes: the
// record's own credential group, from bindings kubeaccess made.
func (c *Controller) reconcileExpiry(ctx context.Context, id string) (outcome, error) {
	cm, err := c.records.Get(records.ObjectName(id))
	if apierrors.IsNotFound(err) {
		return outcome{result: "gone"}, nil
	} else if err != nil {
		return outcome{}, err
	}
	rec := records.Read(cm)
	if rec.ReplacedBy != "" && c.KeepRenewed > 0 && issue.IsRenewing(rec) && rec.Check() == nil {
		return c.pruneRenewed(ctx, cm, rec)
	}
	switch {
	case rec.Until == nil || rec.Revoked != nil:
		return outcome{result: "nothing"}, nil
	case rec.Check() != nil:
		c.Metrics.Refusals.WithLabelValues("expiry", "tampered").Inc()
		c.event(cm, corev1.EventTypeWarning, "RecordTampered", "record %s says its access ends at %s, but it fails its checks (%v): left alone", rec.ID, rec.Until.Format(time.RFC3339), rec.Check())
		return outcome{result: "refused"}, nil
	case rec.CredentialGroup == "":
		// Access that ends by itself is bound to the credential's own
		// group; without one, ending it would take the user's other
		// credentials' access too.
		c.Metrics.Refusals.WithLabelValues("expiry", "not-revocable").Inc()
		return outcome{result: "refused"}, nil
	}
	if wait := time.Until(*rec.Until); wait > 0 {
		return outcome{result: "waiting", after: wait}, nil
	}
	r := &revoke.Revoker{Client: c.Client, RecordsNamespace: c.RecordsNamespace, By: "kubeaccess controller (access until " + rec.Until.Format(time.RFC3339) + ")"}
	res, err := r.Revoke(ctx, revoke.Target{Credential: rec.ID})
	if err != nil {
		return outcome{}, err
	}
	changed := 0
	for _, s := range res.Steps {
		if s.Changed() {
			changed++
		}
	}
	c.Metrics.Expiries.Inc()
	c.event(cm, corev1.EventTypeNormal, "AccessExpired", "the access of %s's credential %s ended at %s: %d binding(s) and role(s) changed, %d permission(s) now denied",
		rec.User, rec.ID, rec.Until.Format(time.RFC3339), changed, res.Denied)
	c.Logf("expiry: credential %s of %s: access ended at %s (%d changes)", rec.ID, rec.User, rec.Until.Format(time.RFC3339), changed)
	return outcome{result: "expired"}, nil
}

// pruneRenewed deletes the record of a renewing credential's certificate
// that a renewal replaced, once it has been expired for KeepRenewed: such
// a credential is renewed every lifetime, and would otherwise leave a
// record each time, for ever. Its successors keep its lineage.
func (c *Controller) pruneRenewed(ctx context.Context, cm *corev1.ConfigMap, rec records.Record) (outcome, error) {
	if wait := time.Until(rec.NotAfter.Add(c.KeepRenewed)); wait > 0 {
		return outcome{result: "waiting", after: wait}, nil
	}
	// Only the record as read: one changed meanwhile is looked at again.
	err := c.Client.CoreV1().ConfigMaps(cm.Namespace).Delete(ctx, cm.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &cm.UID, ResourceVersion: &cm.ResourceVersion}})
	if err != nil && !apierrors.IsNotFound(err) {
		return outcome{}, fmt.Errorf("deleting the renewed record %s: %w", rec.ID, err)
	}
	c.Logf("expiry: record %s of %s, renewed as %s, expired at %s: deleted", rec.ID, rec.User, rec.ReplacedBy, rec.NotAfter.Format(time.RFC3339))
	return outcome{result: "pruned"}, nil
}

// event records an Event about obj (a record, a request, a TeamAccess),
// when there is a recorder.
func (c *Controller) event(obj runtime.Object, kind, reason, format string, args ...any) {
	if c.Events != nil {
		c.Events.Eventf(obj, kind, reason, format, args...)
	}
}
