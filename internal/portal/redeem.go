package portal

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"

	"github.com/kubeaccess/kubeaccess/internal/invite"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

// The states a redemption goes through, as the page polls them.
const (
	stateIssuing = "issuing"
	stateWaiting = "waiting" // for an admin's approval
	stateIssued  = "issued"
	stateFailed  = "failed"
)

// autoApprovalTimeout bounds the wait for the signer once approved.
const autoApprovalTimeout = time.Minute

// redemption is one link being used: what the page sees when it polls.
type redemption struct {
	tokenHash string

	mu          sync.Mutex
	state       string
	message     string
	csr         string
	certificate []byte
	user        string
	namespace   string
	renewing    *kubeconfig.Renewing
}

func (r *redemption) set(state, message string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state, r.message = state, message
}

func (r *redemption) finished() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state == stateIssued || r.state == stateFailed
}

// status is what the page is told of a redemption.
type status struct {
	State       string           `json:"state"`
	Message     string           `json:"message,omitempty"`
	CSR         string           `json:"certificateSigningRequest,omitempty"`
	Certificate string           `json:"certificate,omitempty"`
	Kubeconfig  *kubeconfigParts `json:"kubeconfig,omitempty"`
}

// kubeconfigParts are what the page needs to assemble the kubeconfig
// around its own key.
type kubeconfigParts struct {
	Cluster   string `json:"cluster"`
	Server    string `json:"server"`
	CA        string `json:"certificateAuthorityData,omitempty"`
	Insecure  bool   `json:"insecureSkipTLSVerify,omitempty"`
	User      string `json:"user"`
	Context   string `json:"context"`
	Namespace string `json:"namespace"`
	// Renewing, when the certificate may renew itself, is the user's
	// kubeaccess.io/renewing extension (kubeconfig.RenewingExtension).
	Renewing *kubeconfig.Renewing `json:"renewing,omitempty"`
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	if len(token) > tokenPathLen {
		writeJSON(w, http.StatusNotFound, status{State: stateFailed, Message: invite.ErrUnknown.Error()})
		return
	}
	hash := invite.HashToken(token)
	if red := s.redemptionOf(invite.IDOf(hash)); red != nil && subtle.ConstantTimeCompare([]byte(red.tokenHash), []byte(hash)) == 1 {
		writeJSON(w, http.StatusOK, s.statusOf(red))
		return
	}
	// Not redeemed by this process (or it restarted): the invitation says.
	st, ok := s.lookupJSON(w, r)
	if !ok {
		return
	}
	if st.State != invite.StateUsed {
		writeJSON(w, http.StatusOK, status{State: st.State, Message: st.Usable(time.Now())})
		return
	}
	rec, err := records.Store{Client: s.Client, Namespace: s.RecordsNamespace}.Get(r.Context(), st.Record)
	if err != nil {
		writeJSON(w, http.StatusOK, status{State: stateFailed, Message: "the certificate was issued, but its record cannot be read: ask whoever invited you"})
		return
	}
	red := &redemption{state: stateIssued, csr: st.CSR, certificate: []byte(rec.Certificate), user: st.User, namespace: st.Namespace, renewing: st.Renewing}
	writeJSON(w, http.StatusOK, s.statusOf(red))
}

func (s *Server) statusOf(red *redemption) status {
	red.mu.Lock()
	defer red.mu.Unlock()
	out := status{State: red.state, Message: red.message, CSR: red.csr}
	if red.state == stateIssued {
		out.Certificate = string(red.certificate)
		e := s.Cluster.EntryFor(red.user, red.namespace)
		out.Kubeconfig = &kubeconfigParts{Cluster: e.ClusterName, Server: e.Server, Insecure: e.Insecure, User: e.UserName,
			Context: e.ContextName, Namespace: e.Namespace, Renewing: red.renewing}
		if len(e.CA) > 0 {
			out.Kubeconfig.CA = base64.StdEncoding.EncodeToString(e.CA)
		}
	}
	return out
}

func (s *Server) redemptionOf(id string) *redemption {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.redemptions[id]
}

// lookupJSON is lookup for the API: errors as JSON.
func (s *Server) lookupJSON(w http.ResponseWriter, r *http.Request) (*invite.Stored, bool) {
	st, no := s.find(r)
	if no != nil {
		writeJSON(w, no.code, status{State: stateFailed, Message: no.message})
		return nil, false
	}
	return st, true
}

// requestBody is what the page sends: its certificate request, PEM.
type requestBody struct {
	Request string `json:"request"`
}

// request takes the browser's certificate request, checks it against the
// invitation, claims the invitation (one request wins), and issues in the
// background; the page polls status.
func (s *Server) request(w http.ResponseWriter, r *http.Request) {
	st, ok := s.lookupJSON(w, r)
	if !ok {
		return
	}
	if why := st.Usable(time.Now()); why != "" {
		writeJSON(w, http.StatusGone, status{State: stateFailed, Message: why})
		return
	}
	if s.Approval == invite.ApprovalManual && st.Approval != invite.ApprovalManual {
		writeJSON(w, http.StatusForbidden, status{State: stateFailed, Message: "this server redeems only invitations an admin approves, and this one was made to be approved automatically: ask whoever invited you"})
		return
	}
	var body requestBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, status{State: stateFailed, Message: "the request must be JSON {\"request\": PEM} of at most 16 KiB"})
		return
	}
	if err := checkRequest([]byte(body.Request), st.Invite); err != nil {
		writeJSON(w, http.StatusBadRequest, status{State: stateFailed, Message: err.Error()})
		return
	}
	if err := s.Store.Claim(r.Context(), s.Key, st); err != nil {
		if errors.Is(err, invite.ErrClaimed) {
			writeJSON(w, http.StatusConflict, status{State: stateFailed, Message: err.Error()})
			return
		}
		s.logf("claiming invitation %s: %v", st.ID, err)
		writeJSON(w, http.StatusServiceUnavailable, status{State: stateFailed, Message: "the cluster could not be reached; try again shortly"})
		return
	}
	red := &redemption{tokenHash: st.TokenHash, state: stateIssuing, user: st.User, namespace: st.Namespace, renewing: st.Renewing}
	s.mu.Lock()
	if s.redemptions == nil {
		s.redemptions = map[string]*redemption{}
	}
	s.redemptions[st.ID] = red
	s.mu.Unlock()
	go s.issue(st, []byte(body.Request), red)
	writeJSON(w, http.StatusAccepted, s.statusOf(red))
}

// checkRequest refuses a request that is not for exactly the invited
// subject (the engine's own check), or whose key is not P-256: the page
// makes one, and anything else was not made by it.
func checkRequest(pemData []byte, inv *invite.Invite) error {
	req, err := pki.ParseRequest(pemData)
	if err != nil {
		return fmt.Errorf("the certificate request is not valid: %w", err)
	}
	if err := issue.CheckRequestFor(req, issue.Subject{User: inv.User, Groups: inv.Groups}); err != nil {
		return fmt.Errorf("the certificate request is not for the invited subject: %w", err)
	}
	if k, ok := req.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() || req.PublicKeyAlgorithm != x509.ECDSA {
		return fmt.Errorf("the certificate request's key must be ECDSA P-256")
	}
	return nil
}

// issue has the engine issue the invitation's credential from the
// browser's request, and marks the invitation used, or open again when it
// failed.
func (s *Server) issue(st *invite.Stored, request []byte, red *redemption) {
	inv := st.Invite
	timeout := autoApprovalTimeout
	if inv.Approval == invite.ApprovalManual {
		timeout = s.ApprovalTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute)
	defer cancel()
	source := &issue.CSR{
		Request: request, TTL: inv.Lifetime(), Approve: inv.Approval == invite.ApprovalAuto, Timeout: timeout,
		ApprovedBy:  fmt.Sprintf("approved by kubeaccess serve for invitation %s of %s", inv.ID, inv.CreatedBy),
		Annotations: map[string]string{invite.Label: inv.ID},
		Instead:     "ask the admin who invited you",
		Submitted: func(created *certificatesv1.CertificateSigningRequest) {
			name := created.Name
			red.mu.Lock()
			red.csr = name
			if inv.Approval == invite.ApprovalManual {
				red.state = stateWaiting
			}
			red.mu.Unlock()
			if err := s.Store.Submitted(ctx, s.Key, st, created); err != nil {
				s.logf("invitation %s: recording request %s: %v", inv.ID, name, err)
			}
		},
	}
	plan := invite.Plan(inv, source, s.RecordsNamespace, s.MaxTTL)
	plan.IssuedBy, plan.Via = inv.CreatedBy+" (through kubeaccess serve)", "portal"
	// A fresh view for every redemption: a binding or service account made
	// since serve started, or since the last redemption, must be judged.
	res, err := s.Engine.Fresh().Execute(ctx, plan)
	if err != nil {
		s.logf("invitation %s for %s: not issued: %v", inv.ID, inv.User, err)
		red.set(stateFailed, err.Error())
		s.settle(st, func(ctx context.Context) error { return s.Store.Reopen(ctx, s.Key, st) })
		return
	}
	red.mu.Lock()
	red.certificate, red.state = res.Credential.CertificatePEM, stateIssued
	red.mu.Unlock()
	s.settle(st, func(ctx context.Context) error { return s.Store.Redeemed(ctx, s.Key, st, res.RecordID) })
	s.logf("invitation %s for %s: issued certificate %s (request %s)", inv.ID, inv.User, res.RecordID, res.Credential.CSRName)
}

// settle writes the invitation's outcome, on its own deadline: the
// redemption's may have passed.
func (s *Server) settle(st *invite.Stored, write func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := write(ctx); err != nil {
		s.logf("invitation %s: %v", st.ID, err)
	}
}
