package audit

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/safe"
	"github.com/kubeaccess/kubeaccess/internal/trace"
)

// Unused asks for the credentials and bindings that audit logs show no
// use of since a time.
type Unused struct {
	// Logs are the audit logs to read ("-" for Stdin).
	Logs  []string
	Stdin io.Reader
	Since time.Time
	// Window is what Since was given as ("30d"), for the findings.
	Window string

	// Report is what the logs say, read with the records the audit reads;
	// Unreadable the lines that held no audit event.
	Report     *trace.Report
	Unreadable []trace.Unreadable
}

// read reads the logs, joined to recs.
func (u *Unused) read(ctx context.Context, recs []records.Record) error {
	var err error
	u.Report, u.Unreadable, err = trace.ReadLogs(ctx, u.Logs, u.Stdin, trace.New(recs, nil), nil)
	return err
}

// checkUnused reports the active credentials kubeaccess issued that made
// no request in the logs since Since (a credential renewed meanwhile
// counts as used when any of its certificates was), and the bindings
// kubeaccess made that the RBAC authorizer never named as allowing a
// request. The authorizer names the first binding that allows, so a
// binding never named may still be needed where another allows first: it
// is reported as low severity, for a person to judge.
func checkUnused(s *state) []Finding {
	u := s.o.Unused
	if u == nil {
		return nil
	}
	lastUsed := map[string]time.Time{}
	for _, r := range s.records {
		if last := u.Report.LastUsed(r); last.After(lastUsed[r.LineageID()]) {
			lastUsed[r.LineageID()] = last
		}
	}
	firstIssued := map[string]time.Time{}
	for _, r := range s.records {
		if t, ok := firstIssued[r.LineageID()]; !ok || r.IssuedAt.Before(t) {
			firstIssued[r.LineageID()] = r.IssuedAt
		}
	}
	var out []Finding
	for _, r := range s.records {
		if r.Revoked != nil || r.ReplacedBy != "" || !s.o.Now.Before(r.NotAfter) || r.RenewalIdentityOf != "" || r.Check() != nil {
			continue
		}
		last, lineage := lastUsed[r.LineageID()], r.LineageID()
		if last.After(u.Since) {
			continue
		}
		detail := fmt.Sprintf("%s's credential (issued %s) made no request in the audit logs in the last %s", safe.Printable(r.User), firstIssued[lineage].Format(time.RFC3339), u.Window)
		if !last.IsZero() {
			detail += fmt.Sprintf("; last used %s", last.Format(time.RFC3339))
		} else if firstIssued[lineage].After(u.Since) {
			detail = fmt.Sprintf("%s's credential (issued %s) has made no request in the audit logs since it was issued", safe.Printable(r.User), firstIssued[lineage].Format(time.RFC3339))
		}
		out = append(out, Finding{Low, "unused-credential", r.ID, detail + "; revoke it if it is not needed"})
	}
	for _, b := range s.bindings {
		if !b.ManagedByKubeaccess() {
			continue
		}
		if last, ok := u.Report.BindingUse[b.Ref]; ok && last.After(u.Since) {
			continue
		}
		out = append(out, Finding{Low, "unused-binding", b.Ref.String(), fmt.Sprintf("no request in the audit logs in the last %s was allowed by it "+
			"(the API server names only the first binding that allows a request)", u.Window)})
	}
	return out
}
