// Package portal is the server behind invite links (kubeaccess serve): it
// shows the invitation, takes the certificate request the browser made
// with its own key, has the engine issue it as grant would, and returns the
// certificate. It never sees a private key, and holds no session: the
// link's token is the only authority, checked on every request.
package portal

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/invite"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
)

//go:embed web
var web embed.FS

var pages = template.Must(template.ParseFS(web, "web/*.html"))

// Limits on what a client may send.
const (
	// maxBody bounds a request body: a P-256 certificate request is well
	// under 1 KiB.
	maxBody = 16 << 10
	// tokenPathLen bounds the token in a path.
	tokenPathLen = 64
)

// Server serves the invitation pages and redeems them.
type Server struct {
	Engine *issue.Engine
	Client kubernetes.Interface
	// Store and Key read and seal invitations.
	Store invite.Store
	Key   []byte
	// RecordsNamespace keeps the records of what is issued.
	RecordsNamespace string
	MaxTTL           time.Duration
	// Cluster is what the kubeconfig the page assembles connects to.
	Cluster kubeconfig.Cluster
	// ApprovalTimeout bounds the wait for an admin's approval.
	ApprovalTimeout time.Duration
	// Limiter is the per-client rate limit.
	Limiter *Limiter
	// Approval is "manual" when this server may not approve: it then
	// refuses invitations made for automatic approval.
	Approval string
	// Log receives one line per redemption; it never holds a key.
	Log func(format string, args ...any)

	mu          sync.Mutex
	redemptions map[string]*redemption
}

// Handler routes the portal's requests, each with the security headers
// and the client's rate limit.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	assets, _ := fs.Sub(web, "web")
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServer(http.FS(assets))))
	mux.HandleFunc("GET /i/{token}", s.page)
	mux.HandleFunc("POST /i/{token}/request", s.request)
	mux.HandleFunc("GET /i/{token}/status", s.status)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		s.errorPage(w, http.StatusNotFound, "Nothing here", "Open the invitation link you were sent.")
	})
	return secure(s.Limiter.middleware(mux))
}

// pageData is what the invitation page shows.
type pageData struct {
	Invite  *invite.Invite
	Groups  string
	Access  string
	TTL     string
	Expires string
}

// page shows the invitation, or why its link cannot be used.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	st, ok := s.lookup(w, r)
	if !ok {
		return
	}
	// A page reloaded while its request is issued has lost its key with
	// it: the link is spent either way.
	if why := st.Usable(time.Now()); why != "" {
		s.errorPage(w, http.StatusGone, "This link cannot be used", why+". Ask whoever invited you for a new one.")
		return
	}
	groups := strings.Join(st.Groups, ", ")
	if groups == "" {
		groups = "none"
	}
	s.render(w, http.StatusOK, "invite.html", pageData{Invite: st.Invite, Groups: groups, Access: st.Describe(), TTL: humanize(st.Lifetime()),
		Expires: st.ExpiresAt.Format(time.RFC1123)})
}

// humanize writes 24h0m0s as 24h and 90m0s as 1h30m.
func humanize(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// lookup finds the invitation of the path's token, answering the client
// itself when there is none.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) (*invite.Stored, bool) {
	st, no := s.find(r)
	if no != nil {
		s.errorPage(w, no.code, no.title, no.message)
		return nil, false
	}
	return st, true
}

// refusal is why a link's invitation cannot be had, as the client is told.
type refusal struct {
	code           int
	title, message string
}

// find reads the invitation of the path's token. A token that names none
// costs its client more of its rate; what went wrong in the cluster is
// logged, not told.
func (s *Server) find(r *http.Request) (*invite.Stored, *refusal) {
	st, err := s.Store.ByToken(r.Context(), s.Key, r.PathValue("token"))
	switch {
	case errors.Is(err, invite.ErrUnknown):
		s.Limiter.penalize(r)
		return nil, &refusal{http.StatusNotFound, "This link is not valid", err.Error()}
	case errors.Is(err, invite.ErrTampered):
		return nil, &refusal{http.StatusForbidden, "This invitation cannot be trusted", err.Error() + ". Ask whoever invited you for a new one."}
	case err != nil:
		s.logf("reading an invitation: %v", err)
		return nil, &refusal{http.StatusServiceUnavailable, "Try again shortly", "The cluster could not be reached."}
	}
	return st, nil
}

func (s *Server) render(w http.ResponseWriter, code int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		s.logf("rendering %s: %v", name, err)
	}
}

func (s *Server) errorPage(w http.ResponseWriter, code int, title, message string) {
	s.render(w, code, "error.html", map[string]string{"Title": title, "Message": message})
}

// writeJSON answers an API call.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) logf(format string, args ...any) {
	if s.Log != nil {
		s.Log(format, args...)
	}
}

// Shutdown waits for the redemptions in flight, until ctx ends.
func (s *Server) Shutdown(ctx context.Context) {
	for {
		s.mu.Lock()
		busy := 0
		for _, r := range s.redemptions {
			if !r.finished() {
				busy++
			}
		}
		s.mu.Unlock()
		if busy == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}
