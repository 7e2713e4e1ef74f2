// Package trace joins an API server's audit log to the records kubeaccess
// keeps: every request made with a credential kubeaccess issued is
// attributed to who issued it, when, how and for whom, and requests made
// with a revoked credential, after its revocation, or with a kubeaccess
// credential nobody recorded, are flagged. It also says when each
// credential and binding was last used, and the least Role that allows
// exactly what a credential did.
package trace

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"

	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

// Event is the part of an audit.k8s.io/v1 Event that trace reads.
type Event struct {
	AuditID          string                     `json:"auditID"`
	Stage            string                     `json:"stage"`
	RequestURI       string                     `json:"requestURI"`
	Verb             string                     `json:"verb"`
	User             authenticationv1.UserInfo  `json:"user"`
	ImpersonatedUser *authenticationv1.UserInfo `json:"impersonatedUser,omitempty"`
	SourceIPs        []string                   `json:"sourceIPs,omitempty"`
	UserAgent        string                     `json:"userAgent,omitempty"`
	ObjectRef        *ObjectRef                 `json:"objectRef,omitempty"`
	ResponseStatus   *struct{ Code int32 }      `json:"responseStatus,omitempty"`
	Received         time.Time                  `json:"requestReceivedTimestamp"`
	Annotations      map[string]string          `json:"annotations,omitempty"`
}

// ObjectRef is what a resource request was about.
type ObjectRef struct {
	Resource    string `json:"resource,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
	Name        string `json:"name,omitempty"`
	APIGroup    string `json:"apiGroup,omitempty"`
	APIVersion  string `json:"apiVersion,omitempty"`
	Subresource string `json:"subresource,omitempty"`
}

// The annotations the API server's authorizer puts on an event.
const (
	decisionAnnotation = "authorization.k8s.io/decision"
	reasonAnnotation   = "authorization.k8s.io/reason"
)

// CredentialID is the API server's ID of the credential the request was
// authenticated with (X509SHA256=... or JTI=...), or "".
func (e *Event) CredentialID() string {
	if ids := e.User.Extra[records.CredentialIDExtra]; len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// Code is the response's HTTP status, 0 when the event has none.
func (e *Event) Code() int32 {
	if e.ResponseStatus == nil {
		return 0
	}
	return e.ResponseStatus.Code
}

// Allowed reports whether the authorizer allowed the request: by its
// decision annotation, or, in a log written without it, by a response
// that is neither 401 nor 403.
func (e *Event) Allowed() bool {
	if d, ok := e.Annotations[decisionAnnotation]; ok {
		return d == "allow"
	}
	c := e.Code()
	return c != 0 && c != 401 && c != 403
}

// Final reports whether the event is the last of its request (each
// request may be logged at several stages): requests are counted by it.
func (e *Event) Final() bool {
	return e.Stage == "ResponseComplete" || e.Stage == "Panic" || e.Stage == ""
}

// What names the request as an admin reads it: "get pods/log development/web".
func (e *Event) What() string {
	r := e.ObjectRef
	if r == nil || r.Resource == "" {
		return e.Verb + " " + e.RequestURI
	}
	res := r.Resource
	if r.Subresource != "" {
		res += "/" + r.Subresource
	}
	res = rbac.GroupResource{Group: r.APIGroup, Resource: res}.String()
	where := r.Name
	if r.Namespace != "" {
		where = r.Namespace + "/" + r.Name
	}
	if where == "" {
		return e.Verb + " " + res
	}
	return e.Verb + " " + res + " " + where
}

// maxLine bounds one event: request and response bodies are logged at
// level Request and above, and objects are at most about 1.5 MB in etcd.
const maxLine = 16 << 20

// Source is one audit log: a file, gzip-compressed or not, or "-" for
// standard input.
type Source struct {
	Name string
	r    io.Reader
	c    []io.Closer
}

// Open opens an audit log, uncompressing it when it starts as gzip does.
func Open(name string, stdin io.Reader) (*Source, error) {
	s := &Source{Name: name}
	if name == "-" {
		s.r = stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("reading audit log: %w", err)
		}
		s.r, s.c = f, []io.Closer{f}
	}
	br := bufio.NewReaderSize(s.r, 1<<20)
	s.r = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		z, err := gzip.NewReader(br)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("reading audit log %s: %w", name, err)
		}
		s.r, s.c = bufio.NewReaderSize(z, 1<<20), append(s.c, z)
	}
	return s, nil
}

// Close closes the file.
func (s *Source) Close() error {
	var first error
	for i := len(s.c) - 1; i >= 0; i-- {
		if err := s.c[i].Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Lines calls fn with each line of the log, numbered from 1; the line is
// fn's only until it returns.
func (s *Source) Lines(fn func(n int, line []byte) error) error {
	sc := bufio.NewScanner(s.r)
	sc.Buffer(make([]byte, 0, 1<<20), maxLine)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := fn(n, line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading audit log %s after line %d: %w", s.Name, n, err)
	}
	return nil
}

// Decode reads one event.
func Decode(line []byte) (*Event, error) {
	var e Event
	if err := json.Unmarshal(line, &e); err != nil {
		return nil, err
	}
	return &e, nil
}
