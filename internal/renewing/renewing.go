// Package renewing keeps a client certificate that renews itself: a
// kubeconfig whose user is an exec credential plugin (kubeaccess
// credential), backed by a credential file that holds the private key (made
// here, 0600, never sent) and the current certificate. Before the
// certificate expires, the plugin asks for a new one for the very same
// subject and key, authenticated by the current certificate, which
// kubeaccess controller approves only as that certificate's own renewal;
// kubectl and every client-go program then work unchanged. A credential
// that is revoked is not renewed, so all of its access, wherever it was
// granted, ends with its short certificate.
package renewing

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	clientauthv1 "k8s.io/client-go/pkg/apis/clientauthentication/v1"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/kubeaccess/kubeaccess/internal/credential"
	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/version"
)

// The credential file's kind.
const (
	APIVersion = "kubeaccess.io/v1alpha1"
	Kind       = "RenewingCredential"
)

// DefaultOfflineFor is how long a renewing credential's holder may be away
// unless said otherwise: the lifetime of its renewal identity, and the
// longest kubeaccess controller approves for one.
const DefaultOfflineFor = 7 * 24 * time.Hour

// File is a renewing credential as kept on the holder's machine.
type File struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Server     string `json:"server"`
	CA         []byte `json:"certificateAuthorityData,omitempty"`
	Insecure   bool   `json:"insecureSkipTLSVerify,omitempty"`
	// User and Groups are the subject every renewal asks for again.
	User   string   `json:"user"`
	Groups []string `json:"groups,omitempty"`
	// Lifetime is what each renewal asks for; RenewBefore, when set, is
	// how long before expiry it renews (a third of the certificate's
	// lifetime otherwise).
	Lifetime    string `json:"lifetime"`
	RenewBefore string `json:"renewBefore,omitempty"`
	Key         []byte `json:"key"`
	Certificate []byte `json:"certificate"`
	// Pending names the renewal asked for and not answered yet: the next
	// run takes up its answer instead of asking again.
	Pending string `json:"pending,omitempty"`
	// Refused is why the last renewal was refused (the credential was
	// revoked, say): it is not asked again.
	Refused string `json:"refused,omitempty"`
	// Received is when the current certificate came: its lifetime counts
	// from then, since the signer backdates notBefore by minutes.
	Received time.Time `json:"received,omitzero"`
	// OfflineFor, when set, is the lifetime of the renewal identity the
	// credential keeps: how long its holder may be away and still renew
	// after the short certificate has expired.
	OfflineFor string `json:"offlineFor,omitempty"`
	// Identity is that renewal identity, once asked for.
	Identity *Identity `json:"renewalIdentity,omitempty"`

	// A renewing service-account token (kubeaccess token --renewing)
	// holds the current token instead of a key and certificate, and the
	// account (namespace/name) it asks, with that token, for the next one
	// through the TokenRequest API, for the same audiences, bound to the
	// same Secret when it was.
	Token          string   `json:"token,omitempty"`
	ServiceAccount string   `json:"serviceAccount,omitempty"`
	Audiences      []string `json:"audiences,omitempty"`
	BoundSecret    string   `json:"boundSecret,omitempty"`
	BoundSecretUID string   `json:"boundSecretUID,omitempty"`
}

// Identity is a renewal identity (pki.RenewalIdentityPrefix): a second,
// longer-lived certificate with a key of its own, made here too, whose
// user is not the credential's and whose one permission is to ask for
// certificates and read them. The credential asks for it, and for its
// replacement, with its current certificate; it is used only to ask for
// the credential's renewal once that certificate has expired.
type Identity struct {
	User        string    `json:"user"`
	Key         []byte    `json:"key"`
	Certificate []byte    `json:"certificate,omitempty"`
	Received    time.Time `json:"received,omitzero"`
	Pending     string    `json:"pending,omitempty"`
	Refused     string    `json:"refused,omitempty"`
}

// PathFor is the credential file of a kubeconfig written at path.
func PathFor(kubeconfigPath string) string { return kubeconfigPath + ".credential" }

// New is the credential file of a certificate just issued to user in
// groups, as the kubeconfig entry e holds it; with offlineFor, it keeps a
// renewal identity of that lifetime.
func New(e kubeconfig.Entry, user string, groups []string, lifetime, renewBefore, offlineFor time.Duration) *File {
	f := &File{APIVersion: APIVersion, Kind: Kind, Server: e.Server, CA: e.CA, Insecure: e.Insecure, User: user,
		Groups: groups, Lifetime: lifetime.String(), Key: e.Key, Certificate: e.Certificate, Token: e.Token, Received: time.Now().UTC()}
	if renewBefore > 0 {
		f.RenewBefore = renewBefore.String()
	}
	if offlineFor > 0 {
		f.OfflineFor = offlineFor.String()
	}
	return f
}

// Exec is the kubeconfig user that runs the plugin on the credential file
// at path: this very program, as it was run (kubeaccess, or kubectl-access
// as a kubectl plugin).
func Exec(path string) (*clientcmdapi.ExecConfig, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	return &clientcmdapi.ExecConfig{
		APIVersion: clientauthv1.SchemeGroupVersion.String(), Command: self, Args: []string{"credential", "--file", abs},
		InteractiveMode: clientcmdapi.NeverExecInteractiveMode,
		InstallHint:     "kubeaccess (https://github.com/kubeaccess/kubeaccess) renews this credential's certificate; install it, or ask for a plain kubeconfig",
	}, nil
}

// Write stores f at path (0600, atomically; an existing file only with
// replace).
func Write(path string, f *File, replace bool) error {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return kubeconfig.WriteFileAtomic(path, append(data, '\n'), replace)
}

// Read reads the credential file at path.
func Read(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f File
	if err := json.Unmarshal(data, &f); err != nil || f.Kind != Kind || f.APIVersion != APIVersion {
		return nil, fmt.Errorf("%s is not a kubeaccess renewing credential", path)
	}
	return &f, nil
}

// certificate is the current certificate, parsed.
func (f *File) certificate() (*x509.Certificate, error) {
	return pki.ParseCertificate(f.Certificate)
}

// validity is when the current certificate, or token, is valid.
func (f *File) validity() (notBefore, notAfter time.Time, err error) {
	if f.Token != "" {
		claims, err := credential.ParseToken(f.Token)
		if err != nil {
			return time.Time{}, time.Time{}, err
		}
		return f.Received, claims.ExpiresAt, nil
	}
	cert, err := f.certificate()
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	return cert.NotBefore, cert.NotAfter, nil
}

// renewAt is when the current certificate, or token, is renewed.
func (f *File) renewAt() (time.Time, error) {
	notBefore, notAfter, err := f.validity()
	if err != nil {
		return time.Time{}, err
	}
	before, _ := time.ParseDuration(f.RenewBefore)
	return renewAt(notBefore, notAfter, f.Received, before), nil
}

// renewAt is when a credential valid from notBefore to notAfter, received
// then, is renewed: before its expiry, or when a third of the lifetime it
// was received with is left.
func renewAt(notBefore, notAfter, received time.Time, before time.Duration) time.Time {
	from := notBefore
	if received.After(from) && received.Before(notAfter) {
		from = received
	}
	lifetime := notAfter.Sub(from)
	if before <= 0 || before >= lifetime {
		before = lifetime / 3
	}
	return notAfter.Add(-before)
}

// ExecCredential is what the plugin prints: the current certificate and
// key, and, as its expiry, when it is to be renewed, so that a long-lived
// client calls the plugin again then.
func (f *File) ExecCredential() (*clientauthv1.ExecCredential, error) {
	at, err := f.renewAt()
	if err != nil {
		return nil, err
	}
	status := &clientauthv1.ExecCredentialStatus{ExpirationTimestamp: &metav1.Time{Time: at}, Token: f.Token}
	if f.Token == "" {
		status.ClientCertificateData, status.ClientKeyData = string(f.Certificate), string(f.Key)
	}
	return &clientauthv1.ExecCredential{
		TypeMeta: metav1.TypeMeta{APIVersion: clientauthv1.SchemeGroupVersion.String(), Kind: "ExecCredential"},
		Status:   status,
	}, nil
}

// ErrExpired is a credential whose certificate expired before it could be
// renewed: it cannot authenticate a renewal any more.
var ErrExpired = errors.New("its certificate has expired, so it can no longer ask for its own renewal")

// Due says whether the current certificate is to be renewed at now, and
// whether it has expired.
func (f *File) Due(now time.Time) (due, expired bool, err error) {
	_, notAfter, err := f.validity()
	if err != nil {
		return false, false, err
	}
	at, err := f.renewAt()
	if err != nil {
		return false, false, err
	}
	return !now.Before(at), !now.Before(notAfter), nil
}

// IdentityDue says whether the credential is to ask, at now, for its
// renewal identity or that identity's replacement: it keeps one, has none
// valid or a third of its lifetime is left, and it was not refused.
func (f *File) IdentityDue(now time.Time) bool {
	if f.OfflineFor == "" {
		return false
	}
	id := f.Identity
	if id == nil || len(id.Certificate) == 0 {
		return id == nil || id.Refused == ""
	}
	if id.Refused != "" {
		return false
	}
	cert, err := pki.ParseCertificate(id.Certificate)
	return err != nil || !now.Before(renewAt(cert.NotBefore, cert.NotAfter, id.Received, 0))
}

// validIdentity is the renewal identity's certificate and key while the
// certificate is valid at now; nil otherwise.
func (f *File) validIdentity(now time.Time) (certPEM, keyPEM []byte) {
	if f.Identity == nil || len(f.Identity.Certificate) == 0 {
		return nil, nil
	}
	cert, err := pki.ParseCertificate(f.Identity.Certificate)
	if err != nil || now.Before(cert.NotBefore) || !now.Before(cert.NotAfter) {
		return nil, nil
	}
	return f.Identity.Certificate, f.Identity.Key
}

// CanRenewOffline says whether, the short certificate expired, the
// renewal identity can still ask for its renewal at now.
func (f *File) CanRenewOffline(now time.Time) bool {
	c, _ := f.validIdentity(now)
	return c != nil
}

// ErrRefused is a renewal that was refused: the credential keeps it
// (File.Refused) and asks no more.
var ErrRefused = errors.New("the renewal was refused")

// ErrNotYet is a renewal asked for and not answered in the time given:
// it stays pending (File.Pending), and the next run looks for its answer.
var ErrNotYet = errors.New("the renewal was not answered yet")

// Renew asks for a new certificate of the same subject and key,
// authenticated by the current one, or by the renewal identity once that
// has expired (or takes up the one asked for before, when pending); it
// waits up to wait for kubeaccess controller to approve it as the
// credential's renewal, then checks it and keeps it in f. Not answered in
// time, it is ErrNotYet and f.Pending names it: a client calls the plugin
// inside a TLS handshake, which does not wait long.
func (f *File) Renew(ctx context.Context, wait time.Duration) error {
	if f.Token != "" {
		return f.renewToken(ctx, wait)
	}
	cert, err := f.certificate()
	if err != nil {
		return err
	}
	now := time.Now()
	authCert, authKey := f.Certificate, f.Key
	if !now.Before(cert.NotAfter) {
		if authCert, authKey = f.validIdentity(now); authCert == nil {
			return ErrExpired
		}
	}
	if f.Refused != "" {
		return fmt.Errorf("%w: %s", ErrRefused, f.Refused)
	}
	lifetime, err := time.ParseDuration(f.Lifetime)
	if err != nil {
		return fmt.Errorf("the credential's lifetime %q: %w", f.Lifetime, err)
	}
	out, err := f.ask(ctx, wait, authCert, authKey, &f.Pending, f.Key, f.User, f.Groups, lifetime)
	var denied *csr.ConditionError
	switch {
	case errors.As(err, &denied):
		f.Refused = err.Error()
		return fmt.Errorf("%w: %w", ErrRefused, err)
	case err != nil:
		return err
	}
	f.Certificate, f.Received = out, time.Now().UTC()
	return nil
}

// renewToken asks, with the current token, for the next one of the same
// account, audiences and binding, and keeps it. A refusal (the token may
// no longer ask: revoked) is kept, and not asked again.
func (f *File) renewToken(ctx context.Context, wait time.Duration) error {
	if f.Refused != "" {
		return fmt.Errorf("%w: %s", ErrRefused, f.Refused)
	}
	_, notAfter, err := f.validity()
	if err != nil {
		return err
	}
	if !time.Now().Before(notAfter) {
		return ErrExpired
	}
	lifetime, err := time.ParseDuration(f.Lifetime)
	if err != nil {
		return fmt.Errorf("the credential's lifetime %q: %w", f.Lifetime, err)
	}
	namespace, name, ok := strings.Cut(f.ServiceAccount, "/")
	if !ok {
		return fmt.Errorf("the credential names no service account (%q)", f.ServiceAccount)
	}
	client, err := kubernetes.NewForConfig(&rest.Config{Host: f.Server, Timeout: wait, BearerToken: f.Token, UserAgent: version.HousekeepingAgent(),
		TLSClientConfig: rest.TLSClientConfig{CAData: f.CA, Insecure: f.Insecure}})
	if err != nil {
		return err
	}
	spec := authenticationv1.TokenRequestSpec{Audiences: f.Audiences, ExpirationSeconds: ptr.To(int64(lifetime.Seconds()))}
	if f.BoundSecret != "" {
		spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: f.BoundSecret, UID: types.UID(f.BoundSecretUID)}
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	token, err := credential.RequestToken(ctx, client, namespace, name, spec)
	switch {
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
		f.Refused = err.Error()
		return fmt.Errorf("%w: %w", ErrRefused, err)
	case err != nil:
		return err
	}
	claims, err := credential.ParseToken(token)
	if err != nil {
		return fmt.Errorf("the token issued: %w", err)
	}
	if claims.Kubernetes.Namespace != namespace || claims.Kubernetes.ServiceAccount.Name != name {
		return fmt.Errorf("the token issued is for %s/%s, not %s", claims.Kubernetes.Namespace, claims.Kubernetes.ServiceAccount.Name, f.ServiceAccount)
	}
	f.Token, f.Received = token, time.Now().UTC()
	return nil
}

// RenewIdentity asks, authenticated by the current certificate, for the
// credential's renewal identity (a new one, or the replacement of the one
// it has, for the same user and key), for OfflineFor; as Renew, it waits
// up to wait and is ErrNotYet, with Identity.Pending, when not answered.
func (f *File) RenewIdentity(ctx context.Context, wait time.Duration) error {
	cert, err := f.certificate()
	if err != nil {
		return err
	}
	if !time.Now().Before(cert.NotAfter) {
		return ErrExpired
	}
	lifetime, err := time.ParseDuration(f.OfflineFor)
	if err != nil {
		return fmt.Errorf("the credential's offline lifetime %q: %w", f.OfflineFor, err)
	}
	if f.Identity == nil {
		user, err := pki.NewRenewalIdentity(f.User, f.Groups)
		if err != nil {
			return err
		}
		key, err := pki.GenerateKey(pki.ECDSAP256)
		if err != nil {
			return err
		}
		keyPEM, err := pki.MarshalKey(key)
		if err != nil {
			return err
		}
		f.Identity = &Identity{User: user, Key: keyPEM}
	}
	id := f.Identity
	if id.Refused != "" {
		return fmt.Errorf("%w: %s", ErrRefused, id.Refused)
	}
	out, err := f.ask(ctx, wait, f.Certificate, f.Key, &id.Pending, id.Key, id.User, []string{pki.RenewalIdentityGroup}, lifetime)
	var denied *csr.ConditionError
	switch {
	case errors.As(err, &denied):
		id.Refused = err.Error()
		return fmt.Errorf("%w: %w", ErrRefused, err)
	case err != nil:
		return err
	}
	id.Certificate, id.Received = out, time.Now().UTC()
	return nil
}

// ask asks, authenticated as authCert, for a certificate of user in
// groups for key (or takes up *pending), waits up to wait for it, and
// checks it; not answered, it is ErrNotYet with *pending naming the
// request.
func (f *File) ask(ctx context.Context, wait time.Duration, authCert, authKey []byte, pending *string, keyPEM []byte, user string, groups []string,
	lifetime time.Duration) ([]byte, error) {
	key, err := pki.ParseKey(keyPEM)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(&rest.Config{Host: f.Server, Timeout: wait, UserAgent: version.HousekeepingAgent(),
		TLSClientConfig: rest.TLSClientConfig{CAData: f.CA, Insecure: f.Insecure, CertData: authCert, KeyData: authKey}})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var req *certificatesv1.CertificateSigningRequest
	if *pending != "" {
		// Asked for before: its answer, unless it is gone.
		if req, err = csr.Get(ctx, client, *pending); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("reading the pending request %s: %w", *pending, err)
		}
		*pending = ""
	}
	if req == nil {
		request, err := pki.CreateRequest(key, pki.Subject(user, groups))
		if err != nil {
			return nil, err
		}
		if req, err = csr.Create(ctx, client, csr.Build(user, request, lifetime)); err != nil {
			return nil, fmt.Errorf("asking for a certificate: %w", err)
		}
	}
	issued, err := await(ctx, client, req)
	var denied *csr.ConditionError
	switch {
	case errors.As(err, &denied):
		return nil, err
	case err != nil:
		*pending = req.Name
		return nil, fmt.Errorf("%w (CertificateSigningRequest %s; kubeaccess controller approves renewals): %v", ErrNotYet, req.Name, err)
	}
	fresh, err := pki.ParseCertificate(issued)
	if err != nil {
		return nil, err
	}
	if err := pki.CheckIssued(fresh, key.Public(), user, groups); err != nil {
		return nil, fmt.Errorf("the certificate issued is not the one asked for: %w", err)
	}
	return issued, nil
}

// await reads req until it has a certificate or a Denied or Failed
// condition, or ctx ends. It reads it by name (get), not by a watch: a
// renewing credential may read only requests whose names it knows, not
// list everyone's.
func await(ctx context.Context, client kubernetes.Interface, req *certificatesv1.CertificateSigningRequest) ([]byte, error) {
	// The controller answers within tens of milliseconds: read soon,
	// then less often.
	pause := 20 * time.Millisecond
	for {
		for _, c := range req.Status.Conditions {
			if c.Status == corev1.ConditionTrue && (c.Type == certificatesv1.CertificateDenied || c.Type == certificatesv1.CertificateFailed) {
				return nil, &csr.ConditionError{Name: req.Name, Type: c.Type, Reason: c.Reason, Message: c.Message}
			}
		}
		if len(req.Status.Certificate) > 0 {
			return req.Status.Certificate, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 320*time.Millisecond)
		var err error
		if req, err = csr.Get(ctx, client, req.Name); err != nil {
			return nil, err
		}
	}
}

// Lock holds path's lock file while a renewal runs, so that of several
// clients starting at once one renews and the others then read its
// certificate. A lock older than stale (its holder died) is taken over.
func Lock(ctx context.Context, path string, stale time.Duration) (unlock func(), err error) {
	lock := path + ".lock"
	for {
		f, err := os.OpenFile(lock, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			f.Close()
			return func() { os.Remove(lock) }, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		if st, err := os.Stat(lock); err == nil && time.Since(st.ModTime()) > stale {
			os.Remove(lock)
			continue
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %s: %w", lock, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
