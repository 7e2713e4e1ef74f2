package kubeconfig

import (
	"encoding/json"
	"errors"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// RenewingExtension names the extension of a kubeconfig user whose
// certificate the cluster lets renew itself (the issuer bound it the
// kubeaccess-renewer role) but which was written where its key is not
// (approve, apply, the portal): kubeaccess complete, on the holder's
// side, turns it into a renewing kubeconfig with the settings it holds.
const RenewingExtension = "kubeaccess.io/renewing"

// Renewing is what that extension holds: the lifetime each renewal asks
// for, when to renew ("" for a third of the lifetime), and the lifetime of
// the renewal identity ("" for none).
type Renewing struct {
	Lifetime    string `json:"lifetime"`
	RenewBefore string `json:"renewBefore,omitempty"`
	OfflineFor  string `json:"offlineFor,omitempty"`
}

// Durations are r's settings read: the lifetime, when to renew (0 for a
// third of the lifetime) and the renewal identity's lifetime (0 for none).
func (r *Renewing) Durations() (lifetime, renewBefore, offlineFor time.Duration, err error) {
	var errs []error
	parse := func(s string) time.Duration {
		if s == "" {
			return 0
		}
		d, err := time.ParseDuration(s)
		errs = append(errs, err)
		return d
	}
	lifetime, renewBefore, offlineFor = parse(r.Lifetime), parse(r.RenewBefore), parse(r.OfflineFor)
	return lifetime, renewBefore, offlineFor, errors.Join(errs...)
}

// setRenewing records r in auth.
func setRenewing(auth *clientcmdapi.AuthInfo, r *Renewing) {
	raw, err := json.Marshal(r)
	if err != nil {
		return
	}
	if auth.Extensions == nil {
		auth.Extensions = map[string]runtime.Object{}
	}
	auth.Extensions[RenewingExtension] = &runtime.Unknown{Raw: raw, ContentType: runtime.ContentTypeJSON}
}

// RenewingOf is the extension of auth, if it has one that can be read.
func RenewingOf(auth *clientcmdapi.AuthInfo) (*Renewing, bool) {
	if auth == nil {
		return nil, false
	}
	u, ok := auth.Extensions[RenewingExtension].(*runtime.Unknown)
	if !ok {
		return nil, false
	}
	var r Renewing
	if err := json.Unmarshal(u.Raw, &r); err != nil || r.Lifetime == "" {
		return nil, false
	}
	return &r, true
}
