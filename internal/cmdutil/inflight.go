package cmdutil

import (
	"net/http"
)

// bulkInFlight bounds the requests a bulk client has open at once. The
// API server exempts system:masters from priority and fairness, so
// nothing on its side would pace an admin's thousands of concurrent
// access reviews; past a few hundred open streams it drops some.
const bulkInFlight = 64

// inFlight is a RoundTripper that lets at most cap(slots) requests be
// open at once; watches, which stay open, are not counted.
type inFlight struct {
	next  http.RoundTripper
	slots chan struct{}
}

func limitInFlight(n int) func(http.RoundTripper) http.RoundTripper {
	slots := make(chan struct{}, n)
	return func(next http.RoundTripper) http.RoundTripper { return &inFlight{next: next, slots: slots} }
}

func (l *inFlight) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Query().Get("watch") == "true" {
		return l.next.RoundTrip(r)
	}
	select {
	case l.slots <- struct{}{}:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	defer func() { <-l.slots }()
	return l.next.RoundTrip(r)
}
