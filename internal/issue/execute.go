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
	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
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
		if _, err := p.Source.Prepare(ctx, x); err != nil {
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
	source := x.Plan.Source
	switch source.Order() {
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
	case recordErr != nil:
		return fmt.Errorf("%s was written but the credential was not recorded: %w", written, recordErr)
	case errors.Is(ctx.Err(), context.Canceled):
		return failure.InterruptedErrorf("interrupted: %s was written and the credential recorded, but it was not verified", written)
	case err != nil && apierrors.IsUnauthorized(err):
		if h, ok := p.Source.(interface{ RejectedBecause() string }); ok {
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
	if note := x.Plan.Source.Undo(x); note != "" {
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

// entry is the kubeconfig entry of the credential.
func (x *Execution) entry(cred *Credential) kubeconfig.Entry {
	e := x.Engine.cluster.EntryFor(x.Plan.Subject.User, x.Plan.Namespace)
	e.Certificate, e.Key, e.Token = cred.CertificatePEM, cred.KeyPEM, cred.Token
	return e
}

// checkDestination refuses before any change when the kubeconfig could
// not be written as asked.
func (x *Execution) checkDestination() error {
	d := x.Plan.Destination
	var err error
	switch {
	case d.Merge != "":
		_, err = kubeconfig.CheckMerge(d.Merge, x.entry(&Credential{}), d.Force)
	case d.Path != "":
		err = kubeconfig.CheckNew(d.Path, d.Force)
	}
	if err != nil {
		return failure.UsageErrorf("%w", err)
	}
	return nil
}

// write writes a new file or merges into an existing one. The merge target
// is read again here, not reused from checkDestination, so entries added
// to it while the credential was being issued are kept.
func (x *Execution) write(e kubeconfig.Entry) (string, error) {
	d := x.Plan.Destination
	if d.Merge != "" {
		cfg, err := kubeconfig.CheckMerge(d.Merge, e, d.Force)
		if err != nil {
			return "", err
		}
		return d.Merge, kubeconfig.Merge(d.Merge, cfg, e)
	}
	return d.Path, kubeconfig.Write(d.Path, e.Config(), d.Force)
}

// keepRecord saves the record of the credential and returns where it is.
func (x *Execution) keepRecord(ctx context.Context, res *Result) (string, error) {
	p := x.Plan
	if p.RecordsNamespace == "" {
		return "", nil
	}
	r := RecordOf(p, res)
	if err := x.records().Save(ctx, r); err != nil {
		return "", err
	}
	return p.RecordsNamespace + "/" + r.ID, nil
}

// RecordOf is what the inventory keeps of the credential p issued: never
// a key or a token.
func RecordOf(p *Plan, res *Result) records.Record {
	cred := res.Credential
	r := records.Record{
		User: p.Subject.User, Groups: p.Subject.Groups, Kind: cred.Kind(), IssuedVia: cred.Via,
		IssuedAt: time.Now().UTC().Truncate(time.Second), IssuedBy: res.IssuedBy,
		Access: records.Describe(res.Changes), Namespace: p.Namespace, TTL: p.Source.Lifetime().String(),
		CredentialGroup: p.Subject.CredentialGroup, Team: p.Team, Replaces: p.Replaces,
	}
	if p.IssuedBy != "" {
		r.IssuedBy = p.IssuedBy
	}
	if p.Via != "" {
		r.IssuedVia = p.Via
	}
	if cred.Token != "" {
		r.ID, r.JTI, r.Issuer = records.TokenID(cred.Token), cred.Claims.ID, cred.Claims.Issuer
		r.NotBefore, r.NotAfter = time.Now().UTC().Truncate(time.Second), cred.Claims.ExpiresAt
		sa := p.Subject.ServiceAccount
		r.ServiceAccount, r.BoundSecret = sa.Namespace+"/"+sa.Name, cred.BoundSecret
		return r
	}
	info := pki.Describe(cred.Certificate)
	r.ID, r.Serial, r.SHA256, r.Issuer = records.CertificateID(info.SHA256), info.Serial, info.SHA256, info.Issuer
	r.NotBefore, r.NotAfter, r.CSR, r.Certificate = info.NotBefore, info.NotAfter, cred.CSRName, string(cred.CertificatePEM)
	return r
}

// dryRun returns what the plan would create: as built (client), or as the
// server accepts it without persisting anything (server), so that
// admission and RBAC refusals show.
func (x *Execution) dryRun(ctx context.Context, pre preflighted, res *Result) (*Result, error) {
	issued, err := x.Plan.Source.Objects(x)
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
	creator, ok := x.Plan.Source.(interface {
		DryRunCreate(ctx context.Context, x *Execution, obj runtime.Object) (runtime.Object, error)
	})
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
