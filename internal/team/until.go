package team

import (
	"slices"
	"time"

	"github.com/kubeaccess/kubeaccess/internal/csr"
)

// At is r as of now: the members whose until: has passed are left out, as
// if the file no longer had them (their bindings go and their credentials
// are revoked), and named in Ended.
func (r *Resolved) At(now time.Time) *Resolved {
	out := *r
	out.Users, out.ServiceAccounts, out.Ended = nil, nil, nil
	keep := func(members []Member) []Member {
		var kept []Member
		for _, m := range members {
			if !m.Until.IsZero() && !now.Before(m.Until) {
				out.Ended = append(out.Ended, m.Name)
				continue
			}
			kept = append(kept, m)
		}
		return kept
	}
	out.Users, out.ServiceAccounts = keep(r.Users), keep(r.ServiceAccounts)
	return &out
}

// NextEnd is the soonest until: of r's members still to come, zero when
// none is.
func (r *Resolved) NextEnd(now time.Time) time.Time {
	var next time.Time
	for _, m := range slices.Concat(r.Users, r.ServiceAccounts) {
		if now.Before(m.Until) && (next.IsZero() || m.Until.Before(next)) {
			next = m.Until
		}
	}
	return next
}

// LifetimeAt is the lifetime of a credential issued to m now: no longer
// than their access lasts, but at least what the API takes.
func (m Member) LifetimeAt(now time.Time) time.Duration {
	if m.Until.IsZero() {
		return m.Lifetime
	}
	least := csr.MinTTL
	if m.ServiceAccount != "" {
		least = minTokenDuration
	}
	return max(min(m.Lifetime, m.Until.Sub(now)), least)
}
