package portal

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"
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
	// TrustedProxies are the addresses of proxies (an ingress) whose
	// X-Forwarded-For is believed: behind them, the client is the
	// right-most address they did not add. Without them every client
	// behind an ingress would share its one bucket.
	TrustedProxies []netip.Prefix

	mu      sync.Mutex
	clients map[string]*client
}

type client struct {
	limiter *rate.Limiter
	seen    time.Time
}

// maxClients bounds the buckets kept: past it, idle ones go first, then
// the least recently seen.
const maxClients = 10000

// NewLimiter allows each client r requests a second, in bursts of burst.
func NewLimiter(r rate.Limit, burst int) *Limiter {
	return &Limiter{Rate: r, Burst: burst, clients: map[string]*client{}}
}

// clientOf is the bucket a request counts against: the peer, or behind
// trusted proxies the client they forwarded for; an IPv6 address by its
// /64, which one host commonly holds whole.
func (l *Limiter) clientOf(r *http.Request) string {
	addr, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	ip := addr.Addr().Unmap()
	if l.trusted(ip) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break
			}
			ip = hop.Unmap()
			if !l.trusted(ip) {
				break
			}
		}
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

func (l *Limiter) trusted(ip netip.Addr) bool {
	return slices.ContainsFunc(l.TrustedProxies, func(p netip.Prefix) bool { return p.Contains(ip) })
}

func (l *Limiter) get(r *http.Request) *rate.Limiter {
	key := l.clientOf(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	c, ok := l.clients[key]
	if !ok {
		if len(l.clients) >= maxClients {
			l.evict(now)
		}
		c = &client{limiter: rate.NewLimiter(l.Rate, l.Burst)}
		l.clients[key] = c
	}
	c.seen = now
	return c.limiter
}

// evict drops the buckets that have refilled (a new one is the same), and
// if none has, the least recently seen.
func (l *Limiter) evict(now time.Time) {
	refill := time.Duration(float64(l.Burst) / float64(l.Rate) * float64(time.Second))
	oldest, oldestKey := now, ""
	for k, c := range l.clients {
		if now.Sub(c.seen) > refill {
			delete(l.clients, k)
		} else if c.seen.Before(oldest) {
			oldest, oldestKey = c.seen, k
		}
	}
	if len(l.clients) >= maxClients {
		delete(l.clients, oldestKey)
	}
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
