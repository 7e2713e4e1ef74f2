package trace

import (
	"regexp"
	"strings"
	"time"

	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/version"
)

// Usage is what a log says of one credential's use.
type Usage struct {
	CredentialID string `json:"credentialID"`
	User         string `json:"user"`
	// Credential is nil for a kubeaccess credential no record names.
	Credential *Credential `json:"credential,omitempty"`
	// Requests counts requests (an event per request, by its last
	// stage), Events every event logged. Housekeeping counts the events
	// of kubeaccess's own checks and renewals made with the credential,
	// which are not its use: First and Last leave them out.
	Requests, Events, Housekeeping int
	First, Last                    time.Time
	// Flags counts the events of each flag.
	Flags map[string]int `json:"flags,omitempty"`
}

// Report is what trace has read so far.
type Report struct {
	// Events counts every event read; Attributed those made with a
	// kubeaccess credential.
	Events, Attributed int
	// Flagged counts the attributed events with a flag.
	Flagged int
	Usage   map[string]*Usage
	// BindingUse maps a binding the RBAC authorizer named as allowing a
	// request to when it last did.
	BindingUse map[rbac.Ref]time.Time
}

// NewReport is an empty report.
func NewReport() *Report {
	return &Report{Usage: map[string]*Usage{}, BindingUse: map[rbac.Ref]time.Time{}}
}

// Add counts one event and its attribution (either may be nil: a line
// not read in full, or an event not made with a kubeaccess credential).
func (r *Report) Add(e *Event, a *Attribution) {
	r.Events++
	if e != nil {
		if ref, ok := allowedBy(e.Annotations[reasonAnnotation]); ok && e.Received.After(r.BindingUse[ref]) {
			r.BindingUse[ref] = e.Received
		}
	}
	if a == nil {
		return
	}
	r.Attributed++
	if len(a.Flags) > 0 {
		r.Flagged++
	}
	u := r.Usage[a.CredentialID]
	if u == nil {
		u = &Usage{CredentialID: a.CredentialID, User: a.User, Credential: a.Credential, Flags: map[string]int{}}
		r.Usage[a.CredentialID] = u
	}
	u.Events++
	for _, f := range a.Flags {
		u.Flags[f]++
	}
	if e != nil && strings.HasPrefix(e.UserAgent, version.HousekeepingAgentPrefix) {
		u.Housekeeping++
		return
	}
	if e == nil || e.Final() {
		u.Requests++
	}
	if u.First.IsZero() || a.Time.Before(u.First) {
		u.First = a.Time
	}
	if a.Time.After(u.Last) {
		u.Last = a.Time
	}
}

// reasonPattern reads the binding out of the RBAC authorizer's reason:
// `RBAC: allowed by RoleBinding "NAME/NAMESPACE" of Role "R" to User "U"`
// or `RBAC: allowed by ClusterRoleBinding "NAME" of ...`.
var reasonPattern = regexp.MustCompile(`^RBAC: allowed by (RoleBinding|ClusterRoleBinding) "([^"]+)"`)

// allowedBy is the binding an authorization reason names.
func allowedBy(reason string) (rbac.Ref, bool) {
	m := reasonPattern.FindStringSubmatch(reason)
	if m == nil {
		return rbac.Ref{}, false
	}
	if m[1] == "ClusterRoleBinding" {
		return rbac.Ref{Kind: m[1], Name: m[2]}, true
	}
	i := strings.LastIndexByte(m[2], '/')
	if i < 0 {
		return rbac.Ref{}, false
	}
	return rbac.Ref{Kind: m[1], Namespace: m[2][i+1:], Name: m[2][:i]}, true
}

// LastUsed is when the logs last show r's credential used, zero when they
// do not.
func (r *Report) LastUsed(rec records.Record) time.Time {
	var last time.Time
	for _, id := range rec.CredentialIDs() {
		if u, ok := r.Usage[id]; ok && u.Last.After(last) {
			last = u.Last
		}
	}
	return last
}
