package issuing

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/renewing"
)

// Renewing are the flags of a certificate that renews itself (grant,
// approve): --renewing, --renew-before and --offline-for.
type Renewing struct {
	Renewing    bool
	RenewBefore time.Duration
	// OfflineFor is the lifetime of the renewal identity: how long the
	// holder may be away.
	OfflineFor time.Duration
	changed    func(string) bool
}

// AddFlags registers the flags; renewing says what --renewing does; a
// token (offline false) has no renewal identity, so no --offline-for.
func (r *Renewing) AddFlags(fs *pflag.FlagSet, renewingUsage string, offline bool) {
	fs.BoolVar(&r.Renewing, "renewing", false, renewingUsage)
	fs.DurationVar(&r.RenewBefore, "renew-before", 0, "With --renewing, renew when this much of the lifetime is left (default a third of it)")
	r.changed = fs.Changed
	if !offline {
		return
	}
	fs.DurationVar(&r.OfflineFor, "offline-for", renewing.DefaultOfflineFor, "With --renewing, how long its holder may be away and still renew once the short certificate has expired: "+
		"the lifetime of a second certificate (a renewal identity) that may only ask for that renewal; 0 for none")
}

// Validate checks the flags without I/O.
func (r *Renewing) Validate() error {
	switch {
	case r.RenewBefore < 0 || r.RenewBefore > 0 && !r.Renewing:
		return failure.UsageErrorf("--renew-before is for --renewing, and positive")
	case r.OfflineFor < 0 || r.OfflineFor > 0 && r.OfflineFor < csr.MinTTL:
		return failure.UsageErrorf("--offline-for must be 0 (no renewal identity) or at least the CSR API's %s", csr.MinTTL)
	case r.changed != nil && r.changed("offline-for") && !r.Renewing:
		return failure.UsageErrorf("--offline-for is for --renewing")
	}
	return nil
}

// Apply sets d: a renewing kubeconfig written here (grant), or, where
// the key is not (approve), a renewable one its holder completes.
func (r *Renewing) Apply(d *issue.Destination, here bool) {
	if !r.Renewing {
		return
	}
	d.Renewing, d.Renewable = here, !here
	d.RenewBefore, d.OfflineFor = r.RenewBefore, r.OfflineFor
}
