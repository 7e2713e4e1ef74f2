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
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clientauthv1 "k8s.io/client-go/pkg/apis/clientauthentication/v1"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/pki"
)

// The credential file's kind.
const (
	APIVersion = "kubeaccess.io/v1alpha1"
	Kind       = "RenewingCredential"
)

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
}

// PathFor is the credential file of a kubeconfig written at path.
func PathFor(kubeconfigPath string) string { return kubeconfigPath + ".credential" }

// New is the credential file of a certificate just issued to user in
// groups, as the kubeconfig entry e holds it.
func New(e kubeconfig.Entry, user string, groups []string, lifetime, renewBefore time.Duration) *File {
	f := &File{APIVersion: APIVersion, Kind: Kind, Server: e.Server, CA: e.CA, Insecure: e.Insecure, User: user,
		Groups: groups, Lifetime: lifetime.String(), Key: e.Key, Certificate: e.Certificate}
	if renewBefore > 0 {
		f.RenewBefore = renewBefore.String()
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

// renewAt is when the current certificate is renewed.
func (f *File) renewAt(cert *x509.Certificate) time.Time {
	before, _ := time.ParseDuration(f.RenewBefore)
	lifetime := cert.NotAfter.Sub(cert.NotBefore)
	if before <= 0 || before >= lifetime {
		before = lifetime / 3
	}
	return cert.NotAfter.Add(-before)
}

// ExecCredential is what the plugin prints: the current certificate and
// key, and, as its expiry, when it is to be renewed, so that a long-lived
// client calls the plugin again then.
func (f *File) ExecCredential() (*clientauthv1.ExecCredential, error) {
	cert, err := f.certificate()
	if err != nil {
		return nil, err
	}
	return &clientauthv1.ExecCredential{
		TypeMeta: metav1.TypeMeta{APIVersion: clientauthv1.SchemeGroupVersion.String(), Kind: "ExecCredential"},
		Status: &clientauthv1.ExecCredentialStatus{
			ExpirationTimestamp:   &metav1.Time{Time: f.renewAt(cert)},
			ClientCertificateData: string(f.Certificate), ClientKeyData: string(f.Key),
		},
	}, nil
}

// ErrExpired is a credential whose certificate expired before it could be
// renewed: it cannot authenticate a renewal any more.
var ErrExpired = errors.New("its certificate has expired, so it can no longer ask for its own renewal")

// Due says whether the current certificate is to be renewed at now, and
// whether it has expired.
func (f *File) Due(now time.Time) (due, expired bool, err error) {
	cert, err := f.certificate()
	if err != nil {
		return false, false, err
	}
	return !now.Before(f.renewAt(cert)), !now.Before(cert.NotAfter), nil
}

// ErrRefused is a renewal that was refused: the credential keeps it
// (File.Refused) and asks no more.
var ErrRefused = errors.New("the renewal was refused")

// ErrNotYet is a renewal asked for and not answered in the time given:
// it stays pending (File.Pending), and the next run looks for its answer.
var ErrNotYet = errors.New("the renewal was not answered yet")

// Renew asks for a new certificate of the same subject and key,
// authenticated by the current one (or takes up the one asked for before,
// when pending), and waits up to wait for kubeaccess controller to approve
// it as the current certificate's renewal; then checks it and keeps it in
// f. Not answered in time, it is ErrNotYet and f.Pending names it: a
// client calls the plugin inside a TLS handshake, which does not wait
// long.
func (f *File) Renew(ctx context.Context, wait time.Duration) error {
	cert, err := f.certificate()
	if err != nil {
		return err
	}
	if !time.Now().Before(cert.NotAfter) {
		return ErrExpired
	}
	if f.Refused != "" {
		return fmt.Errorf("%w: %s", ErrRefused, f.Refused)
	}
	key, err := pki.ParseKey(f.Key)
	if err != nil {
		return err
	}
	lifetime, err := time.ParseDuration(f.Lifetime)
	if err != nil {
		return fmt.Errorf("the credential's lifetime %q: %w", f.Lifetime, err)
	}
	client, err := kubernetes.NewForConfig(&rest.Config{Host: f.Server, Timeout: wait,
		TLSClientConfig: rest.TLSClientConfig{CAData: f.CA, Insecure: f.Insecure, CertData: f.Certificate, KeyData: f.Key}})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var req *certificatesv1.CertificateSigningRequest
	if f.Pending != "" {
		// Asked for before: its answer, unless it is gone.
		if req, err = csr.Get(ctx, client, f.Pending); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("reading the pending renewal %s: %w", f.Pending, err)
		}
		f.Pending = ""
	}
	if req == nil {
		request, err := pki.CreateRequest(key, pki.Subject(f.User, f.Groups))
		if err != nil {
			return err
		}
		if req, err = csr.Create(ctx, client, csr.Build(f.User, request, lifetime)); err != nil {
			return fmt.Errorf("asking for the renewal: %w", err)
		}
	}
	out, err := csr.WaitForCertificate(ctx, client, req)
	var denied *csr.ConditionError
	switch {
	case errors.As(err, &denied):
		f.Refused = err.Error()
		return fmt.Errorf("%w: %w", ErrRefused, err)
	case err != nil:
		f.Pending = req.Name
		return fmt.Errorf("%w (CertificateSigningRequest %s; kubeaccess controller approves renewals): %v", ErrNotYet, req.Name, err)
	}
	fresh, err := pki.ParseCertificate(out.Certificate)
	if err != nil {
		return err
	}
	if err := pki.CheckIssued(fresh, key.Public(), f.User, f.Groups); err != nil {
		return fmt.Errorf("the renewed certificate is not this credential's: %w", err)
	}
	f.Certificate = out.Certificate
	return nil
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
