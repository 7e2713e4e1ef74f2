package issue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// undoTimeout bounds the clean-up after a failure or an interruption,
// which runs on its own context since the plan's may be cancelled.
const undoTimeout = 10 * time.Second

// Execute carries out p: the read-only checks, then the credential issued
// while the access is bound, the kubeconfig written, and the record kept
// while the credential is verified. A failure before the kubeconfig is
// written undoes exactly what this Execute made, and the error says what
// was undone and what remains; so does an interruption (ctx cancelled),
// with an interrupted error.
func (e *Engine) Execute(ctx context.Context, p *Plan) (*Result, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	x := &Execution{Engine: e, Plan: p, Client: e.client}
	if p.DryRun == DryRunNone {
		if err := x.checkDestination(); err != nil {
			return nil, err
		}
	}
	var (
		pre preflighted
		err error
	)
	if p.Offline {
		x.Emit(Warning, "--offline --allow-privileged: %q was not checked for escalation-grade permissions", p.Subject.User)
		if x.issuance, err = p.Source.Prepare(ctx, x); err != nil {
			return nil, err
		}
	} else if pre, err = x.preflight(ctx); err != nil {
		return nil, interrupted(ctx, err, "nothing was created")
	}
	res := &Result{Subject: p.Subject, Access: pre.access}
	if x.Issuer != nil {
		res.IssuedBy = x.Issuer.Username
	}
	if p.DryRun != DryRunNone {
		return x.dryRun(ctx, pre, res)
	}
	if err := x.issue(ctx, pre, res); err != nil {
		return nil, err
	}
	return res, x.finish(ctx, res)
}

// issue makes the credential and binds the access, in the source's order,
// and writes the kubeconfig; a failure undoes both.
func (x *Execution) issue(ctx context.Context, pre preflighted, res *Result) error {
	objs := x.toApply(pre)
	var (
		wg       sync.WaitGroup
		applyErr error
		bind     = func() {
			if len(objs) > 0 {
				x.Emit(Progress, "applying the access")
				res.Changes, applyErr = rbac.Apply(ctx, x.Client, objs)
			}
		}
		cred *Credential
		err  error
	)
	source := x.issuance
	switch x.Plan.Source.Order() {
	case BindFirst:
		if bind(); applyErr == nil {
			cred, err = source.Issue(ctx, x, res.Changes)
		}
	case BindAlongside:
		wg.Go(bind)
		cred, err = source.Issue(ctx, x, nil)
		wg.Wait()
	case BindAfter:
		if cred, err = source.Issue(ctx, x, nil); err == nil {
			bind()
		}
	}
	if err = errors.Join(err, applyErr); err != nil {
		return x.failed(ctx, err, res.Changes)
	}
	res.Credential = cred
	res.Entry = x.entry(cred)
	if x.Plan.Destination.None() {
		return nil
	}
	if res.Kubeconfig, err = x.write(res.Entry); err != nil {
		return x.failed(ctx, err, res.Changes)
	}
	return nil
}

// finish keeps the record while it verifies the credential against the API
// server; the kubeconfig stays either way, and the error says so.
func (x *Execution) finish(ctx context.Context, res *Result) error {
	p, written := x.Plan, res.Kubeconfig
	if written == "" {
		written = "the kubeconfig"
	}
	if p.Offline {
		x.Emit(Progress, "wrote %s; --offline, so it was not tried against the API server, and no record was kept", written)
		return nil
	}
	x.Emit(Progress, "wrote %s; verifying it against the API server", written)
	var (
		wg        sync.WaitGroup
		recordErr error
	)
	// Once the kubeconfig is written the credential exists: its record is
	// kept even if the run is interrupted now, so that what is on disk and
	// what the cluster knows of agree (apply relies on it).
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	wg.Go(func() { res.Record, recordErr = x.keepRecord(recordCtx, res) })
	var err error
	if res.Credential.HoldsSecret() {
		res.Verified, err = verifyWith(ctx, res.Entry, p.Subject.User, p.Subject.Groups, res.Access)
	} else {
		res.Verified, err = verifyFor(ctx, x.Client, p.Subject.User, p.Subject.Groups, res.Access)
	}
	wg.Wait()
	switch {
	case recordErr != nil && res.RecordID != "":
		return fmt.Errorf("%s was written and the credential recorded, but %w", written, recordErr)
	case recordErr != nil:
		return fmt.Errorf("%s was written but the credential was not recorded: %w", written, recordErr)
	case errors.Is(ctx.Err(), context.Canceled):
		return failure.InterruptedErrorf("interrupted: %s was written and the credential recorded, but it was not verified", written)
	case err != nil && apierrors.IsUnauthorized(err):
		if h, ok := p.Source.(RejectionExplainer); ok {
			return fmt.Errorf("%s was written but the API server rejects its %s: %s", written, res.Credential.Kind(), h.RejectedBecause())
		}
	}
	if err != nil {
		return fmt.Errorf("%s was written but does not work as granted: %w", written, err)
	}
	return nil
}

// toApply lists what is applied, in order: the namespace when it must be
// created, what the credential needs, then the access.
func (x *Execution) toApply(pre preflighted) []runtime.Object {
	var objs []runtime.Object
	if pre.createNamespace {
		objs = append(objs, rbac.BuildNamespace(x.Plan.Namespace))
	}
	objs = append(objs, pre.needed...)
	return append(objs, pre.access.Objects()...)
}

// failed undoes what changes and the source made after a failure, and
// returns cause with an account of the state left.
func (x *Execution) failed(ctx context.Context, cause error, changes []rbac.Change) error {
	msg := []string{"no kubeconfig was written"}
	if note := x.issuance.Undo(x); note != "" {
		msg = append(msg, note)
	}
	if undone := x.undo(changes); undone != "" {
		msg = append(msg, undone)
	}
	return interrupted(ctx, cause, strings.Join(msg, "; "))
}

// interrupted returns cause with the account of what was left; when ctx
// was cancelled (Ctrl-C), as an interruption that says so, whatever the
// step it cut short made of it.
func interrupted(ctx context.Context, cause error, account string) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return failure.InterruptedErrorf("interrupted: %s", account)
	}
	return fmt.Errorf("%w\n%s", cause, account)
}

// undo deletes what changes created and says what was removed and what
// remains.
func (x *Execution) undo(changes []rbac.Change) string {
	ctx, cancel := context.WithTimeout(context.Background(), undoTimeout)
	defer cancel()
	var msg []string
	deleted, failed := rbac.Undo(ctx, x.Client, changes)
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
