package team

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

func TestRenewWindow(t *testing.T) {
	for _, tc := range []struct{ renewBefore, lifetime, want time.Duration }{
		{168 * time.Hour, 720 * time.Hour, 168 * time.Hour},
		{168 * time.Hour, 24 * time.Hour, 8 * time.Hour}, // a 24h certificate is not renewed at every apply
		{0, 30 * time.Hour, 10 * time.Hour},
		{2 * time.Hour, 2 * time.Hour, 40 * time.Minute},
	} {
		if got := RenewWindow(tc.renewBefore, tc.lifetime); got != tc.want {
			t.Errorf("RenewWindow(%s, %s) = %s, want %s", tc.renewBefore, tc.lifetime, got, tc.want)
		}
	}
}

// writeCertificateKubeconfig writes a kubeconfig holding a certificate for
// user, valid from notBefore to notAfter, and returns its record.
func writeCertificateKubeconfig(t *testing.T, path, user string, notBefore, notAfter time.Time) records.Record {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: user, Organization: []string{"dev"}},
		NotBefore: notBefore, NotAfter: notAfter, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	e := kubeconfig.Cluster{Name: "c", Server: "https://127.0.0.1:6443"}.EntryFor(user, "default")
	e.Certificate, e.Key = certPEM, []byte("key")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := clientcmd.WriteToFile(*e.Config(), path); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	info := pki.Describe(cert)
	return records.Record{ID: records.CertificateID(info.SHA256), User: user, Kind: "certificate", SHA256: info.SHA256,
		NotBefore: notBefore, NotAfter: notAfter, Team: "platform"}
}

// What each member needs follows from the file in the output directory,
// trusted only as far as a record of the team matches it.
func TestCredentialsNeeded(t *testing.T) {
	r, err := resolveExample(t, nil, view)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	dir := t.TempDir()
	dave := writeCertificateKubeconfig(t, UserPath(dir, "dave"), "dave", now.Add(-time.Hour), now.Add(719*time.Hour))
	// erin's 24h certificate is within renewBefore (168h) from the start:
	// it is renewed only in its last third.
	erin := writeCertificateKubeconfig(t, UserPath(dir, "erin"), "erin", now.Add(-time.Hour), now.Add(23*time.Hour))
	got := map[string]Credential{}
	for _, c := range r.Credentials(dir, []records.Record{dave, erin}, now, false) {
		got[c.Name] = c
	}
	if c := got["dave"]; c.Action != "" || c.Current == nil || c.Current.ID != dave.ID {
		t.Errorf("dave's valid certificate: %+v", c)
	}
	if c := got["erin"]; c.Action != "" {
		t.Errorf("erin's fresh 24h certificate: %+v", c)
	}
	if c := got["ci/deployer"]; c.Action != Issue || c.Path != ServiceAccountPath(dir, "ci", "deployer") {
		t.Errorf("the service account without a kubeconfig: %+v", c)
	}

	later := now.Add(17 * time.Hour) // 6h left of erin's 24h: renew
	if c := r.Credentials(dir, []records.Record{dave, erin}, later, false)[1]; c.Action != Renew || c.Current.ID != erin.ID || !c.Replace {
		t.Errorf("erin with 6h left: %+v", c)
	}

	// Without a record of the team, the file is someone else's: refused,
	// unless --force.
	if c := r.Credentials(dir, []records.Record{erin}, now, false)[0]; c.Action != "" || c.Refused == "" {
		t.Errorf("dave's file without a record: %+v", c)
	}
	if c := r.Credentials(dir, []records.Record{erin}, now, true)[0]; c.Action != Issue || !c.Replace {
		t.Errorf("dave's file without a record, --force: %+v", c)
	}
	revoked := dave
	revoked.Revoked = &now
	if c := r.Credentials(dir, []records.Record{revoked, erin}, now, false)[0]; c.Action != Issue || !c.Replace {
		t.Errorf("dave's revoked certificate: %+v", c)
	}
	// A record naming another user does not make the file dave's.
	forged := dave
	forged.User = "mallory"
	if c := r.Credentials(dir, []records.Record{forged, erin}, now, false)[0]; c.Refused == "" {
		t.Errorf("dave's file with a record of another user: %+v", c)
	}

	gone := records.Record{ID: "c-1", User: "frank", NotAfter: now.Add(time.Hour), Team: "platform"}
	expired := records.Record{ID: "c-2", User: "gus", NotAfter: now.Add(-time.Hour), Team: "platform"}
	removed := r.Removed([]records.Record{dave, erin, gone, expired}, now)
	if len(removed) != 1 || removed[0].ID != "c-1" {
		t.Errorf("removed %+v, want only frank's valid record", removed)
	}
}
