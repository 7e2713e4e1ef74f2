package renewing

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/pki"
)

// certificate is a self-signed client certificate valid from notBefore for
// lifetime, and its key, PEM.
func certificate(t *testing.T, notBefore time.Time, lifetime time.Duration) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dave", Organization: []string{"dev"}},
		NotBefore: notBefore, NotAfter: notBefore.Add(lifetime), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	if keyPEM, err = pki.MarshalKey(key); err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM
}

func TestDueAndExecCredential(t *testing.T) {
	now := time.Now()
	for name, tc := range map[string]struct {
		issued      time.Duration // before now
		lifetime    time.Duration
		renewBefore time.Duration
		due, gone   bool
	}{
		"fresh":                       {issued: time.Minute, lifetime: time.Hour},
		"in its last third":           {issued: 45 * time.Minute, lifetime: time.Hour, due: true},
		"renew-before says when":      {issued: 5 * time.Minute, lifetime: time.Hour, renewBefore: 56 * time.Minute, due: true},
		"renew-before not yet":        {issued: 5 * time.Minute, lifetime: time.Hour, renewBefore: 50 * time.Minute},
		"renew-before past lifetime":  {issued: 5 * time.Minute, lifetime: time.Hour, renewBefore: 2 * time.Hour},
		"expired":                     {issued: 2 * time.Hour, lifetime: time.Hour, due: true, gone: true},
		"renew-before as long as all": {issued: 45 * time.Minute, lifetime: time.Hour, renewBefore: time.Hour, due: true},
	} {
		t.Run(name, func(t *testing.T) {
			cert, key := certificate(t, now.Add(-tc.issued), tc.lifetime)
			f := New(kubeconfig.Entry{Server: "https://127.0.0.1:6443", Certificate: cert, Key: key}, "dave", []string{"dev"}, time.Hour, tc.renewBefore, 0)
			f.Received = now.Add(-tc.issued)
			due, gone, err := f.Due(now)
			if err != nil || due != tc.due || gone != tc.gone {
				t.Fatalf("Due = %v, %v, %v; want %v, %v", due, gone, err, tc.due, tc.gone)
			}
			cred, err := f.ExecCredential()
			if err != nil {
				t.Fatal(err)
			}
			if cred.Status.ClientCertificateData != string(cert) || cred.Status.ClientKeyData != string(key) || cred.APIVersion != "client.authentication.k8s.io/v1" {
				t.Errorf("the ExecCredential does not carry the certificate and key: %+v", cred)
			}
			// The client calls the plugin again when renewal is due.
			if at := cred.Status.ExpirationTimestamp.Time; !at.After(now) != tc.due {
				t.Errorf("the ExecCredential expires at %s (now %s), due %v", at, now, tc.due)
			}
		})
	}
}

// The signer backdates a certificate's notBefore by minutes: a short
// certificate's lifetime counts from when it was received, or it would be
// renewed at once, every time.
func TestDueCountsFromReceipt(t *testing.T) {
	now := time.Now()
	cert, key := certificate(t, now.Add(-5*time.Minute-30*time.Second), 6*time.Minute) // received 30s ago, a minute's life
	f := New(kubeconfig.Entry{Certificate: cert, Key: key}, "dave", nil, 10*time.Minute, 0, 0)
	f.Received = now.Add(-30 * time.Second)
	if due, _, _ := f.Due(now); due {
		t.Error("a certificate with half its received lifetime left is due")
	}
	if due, _, _ := f.Due(now.Add(15 * time.Second)); !due {
		t.Error("a certificate with a quarter of its received lifetime left is not due")
	}
	// Without a time of receipt (or a nonsensical one), notBefore counts.
	f.Received = time.Time{}
	if due, _, _ := f.Due(now); !due {
		t.Error("without a time of receipt, a backdated certificate in the last third of its validity is not due")
	}
}

func TestRenewalIdentityDue(t *testing.T) {
	now := time.Now()
	cert, key := certificate(t, now.Add(-time.Minute), time.Hour)
	f := New(kubeconfig.Entry{Certificate: cert, Key: key}, "dave", nil, time.Hour, 0, 0)
	if f.IdentityDue(now) || f.CanRenewOffline(now) {
		t.Fatal("a credential without --offline-for wants a renewal identity")
	}
	f.OfflineFor = "168h0m0s"
	if !f.IdentityDue(now) {
		t.Error("a credential with none asks for no renewal identity")
	}
	idCert, idKey := certificate(t, now.Add(-time.Hour), 7*24*time.Hour)
	f.Identity = &Identity{User: "kubeaccess:renewal:0011", Key: idKey, Certificate: idCert, Received: now.Add(-time.Hour)}
	if f.IdentityDue(now) || !f.CanRenewOffline(now) {
		t.Error("a fresh renewal identity is due, or cannot renew")
	}
	if !f.IdentityDue(now.Add(5*24*time.Hour)) || !f.CanRenewOffline(now.Add(5*24*time.Hour)) {
		t.Error("a renewal identity in the last third of its life is not due, or cannot renew")
	}
	if f.CanRenewOffline(now.Add(7 * 24 * time.Hour)) {
		t.Error("an expired renewal identity can renew")
	}
	f.Identity = &Identity{User: "kubeaccess:renewal:0011", Key: idKey, Refused: "denied"}
	if f.IdentityDue(now) {
		t.Error("a refused renewal identity is asked for again")
	}
}

func TestFileIsPrivateAndNeverClobbered(t *testing.T) {
	cert, key := certificate(t, time.Now(), time.Hour)
	path := filepath.Join(t.TempDir(), "dave.kubeconfig.credential")
	f := New(kubeconfig.Entry{Server: "https://127.0.0.1:6443", Certificate: cert, Key: key}, "dave", []string{"dev"}, time.Hour, 0, 0)
	if err := Write(path, f, false); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the credential file: %v %v", st, err)
	}
	if err := Write(path, f, false); err == nil {
		t.Error("an existing credential file was replaced without replace")
	}
	got, err := Read(path)
	if err != nil || got.User != "dave" || string(got.Key) != string(key) || got.Lifetime != "1h0m0s" {
		t.Fatalf("read back: %+v %v", got, err)
	}
	if err := os.WriteFile(path, []byte(`{"kind":"Secret"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(path); err == nil {
		t.Error("a file that is not a renewing credential was read as one")
	}
}

func TestRenewRefusedOnceIsNotAskedAgain(t *testing.T) {
	cert, key := certificate(t, time.Now().Add(-50*time.Minute), time.Hour)
	f := New(kubeconfig.Entry{Server: "https://127.0.0.1:1", Certificate: cert, Key: key}, "dave", []string{"dev"}, time.Hour, 0, 0)
	f.Refused = "CertificateSigningRequest x was denied: revoked"
	// No server answers on port 1: a request would fail otherwise.
	err := f.Renew(context.Background(), time.Second)
	if err == nil || !errors.Is(err, ErrRefused) {
		t.Fatalf("a refused credential asked again: %v", err)
	}
	expired, key2 := certificate(t, time.Now().Add(-2*time.Hour), time.Hour)
	g := New(kubeconfig.Entry{Server: "https://127.0.0.1:1", Certificate: expired, Key: key2}, "dave", nil, time.Hour, 0, 0)
	if err := g.Renew(context.Background(), time.Second); !errors.Is(err, ErrExpired) {
		t.Errorf("an expired certificate asked for its renewal: %v", err)
	}
}

func TestLockIsTakenOverWhenStale(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c")
	unlock, err := Lock(context.Background(), path, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := Lock(ctx, path, time.Minute); err == nil {
		t.Fatal("a held lock was taken")
	}
	old := time.Now().Add(-2 * time.Minute)
	if err := os.Chtimes(path+".lock", old, old); err != nil {
		t.Fatal(err)
	}
	again, err := Lock(context.Background(), path, time.Minute)
	if err != nil {
		t.Fatalf("a stale lock was not taken over: %v", err)
	}
	again()
	unlock()
}
