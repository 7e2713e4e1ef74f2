package cmdutil

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// roundTripFunc answers a request.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestLimitInFlight(t *testing.T) {
	const limit, requests = 3, 20
	var open, most atomic.Int32
	release := make(chan struct{})
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Query().Get("watch") == "true" {
			<-release // a watch stays open and must not hold a slot
			return &http.Response{StatusCode: http.StatusOK}, nil
		}
		n := open.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(2 * time.Millisecond)
		open.Add(-1)
		return &http.Response{StatusCode: http.StatusOK}, nil
	})
	rt := limitInFlight(limit)(next)
	var wg sync.WaitGroup
	for range limit + 1 {
		req, _ := http.NewRequest(http.MethodGet, "https://api/apis/certificates.k8s.io/v1/certificatesigningrequests?watch=true", nil)
		wg.Go(func() { _, _ = rt.RoundTrip(req) })
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var inner sync.WaitGroup
		for range requests {
			req, _ := http.NewRequest(http.MethodPost, "https://api/apis/authorization.k8s.io/v1/subjectaccessreviews", nil)
			inner.Go(func() { _, _ = rt.RoundTrip(req) })
		}
		inner.Wait()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("requests did not finish while watches were open: watches hold slots")
	}
	close(release)
	wg.Wait()
	if got := most.Load(); got > limit || got < 1 {
		t.Errorf("at most %d requests were open at once, want between 1 and %d", got, limit)
	}
}
