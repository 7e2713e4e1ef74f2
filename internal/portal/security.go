package portal

import (
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// contentSecurityPolicy allows the page its own script, style and calls,
// and nothing else: no inline script, no frames, no form posts elsewhere.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// secure sets the security headers on every answer: no framing, no
// referrer (the link's token is in the path), no caching, no sniffing,
// HTTPS only.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Strict-Transport-Security", "max-age=31536000")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		next.ServeHTTP(w, r)
	})
}

// Limiter is a token bucket per client address. A client that presents
// an unknown token is penalized: guessing tokens is slowed further.
type Limiter struct {
	Rate  rate.Limit
	Burst int

	mu      sync.Mutex
	clients map[string]*client
}

type client struct {
	limiter *rate.Limiter
	seen    time.Time
}

// NewLimiter allows each client r requests a second, in bursts of burst.
func NewLimiter(r rate.Limit, burst int) *Limiter {
	return &Limiter{Rate: r, Burst: burst, clients: map[string]*client{}}
}

func clientOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (l *Limiter) get(r *http.Request) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	key := clientOf(r)
	c, ok := l.clients[key]
	if !ok {
		if len(l.clients) > 10000 {
			for k, old := range l.clients {
				if now.Sub(old.seen) > 10*time.Minute {
					delete(l.clients, k)
				}
			}
		}
		c = &client{limiter: rate.NewLimiter(l.Rate, l.Burst)}
		l.clients[key] = c
	}
	c.seen = now
	return c.limiter
}

// penalize takes ten requests' worth from a client that presented an
// unknown token.
func (l *Limiter) penalize(r *http.Request) {
	if l == nil {
		return
	}
	l.get(r).ReserveN(time.Now(), 10)
}

func (l *Limiter) middleware(next http.Handler) http.Handler {
	if l == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !l.get(r).Allow() {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "too many requests; try again in a moment", http.StatusTooManyRequests)
			return
		}
		next.ServeHTTP(w, r)
	})
}
