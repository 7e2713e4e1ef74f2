package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/renewing"
)

// wire records every request the browser sent, bodies included, on its
// way to kubeaccess serve: what the server could ever have seen.
type wire struct {
	mu     sync.Mutex
	bodies []string
	// busyPolls is how many status polls still to answer 503, as a busy
	// server would; answeredBusy counts those answered so.
	busyPolls, answeredBusy atomic.Int32
}

func (w *wire) add(method, path string, body []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.bodies = append(w.bodies, method+" "+path+"\n"+string(body))
}

func (w *wire) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.bodies...)
}

// recordingProxy is an HTTPS front that keeps every request and passes it
// on to the backend set once it runs.
func recordingProxy(t *testing.T) (*httptest.Server, *wire, func(backend string)) {
	t.Helper()
	rec := &wire{}
	var (
		mu    sync.Mutex
		proxy *httputil.ReverseProxy
	)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.add(r.Method, r.URL.Path, body)
		if strings.HasSuffix(r.URL.Path, "/status") && rec.busyPolls.Add(-1) >= 0 {
			rec.answeredBusy.Add(1)
			w.Header().Set("Retry-After", "1")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		mu.Lock()
		p := proxy
		mu.Unlock()
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, rec, func(backend string) {
		target, err := url.Parse(backend)
		if err != nil {
			t.Fatal(err)
		}
		p := httputil.NewSingleHostReverseProxy(target)
		p.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // the test's own self-signed server
		mu.Lock()
		proxy = p
		mu.Unlock()
	}
}

// startServe runs kubeaccess serve on a free loopback port with
// kubeconfig, and stops it with SIGTERM at the end, checking it stops
// gracefully.
func startServe(t *testing.T, kubeconfig, publicURL string) string {
	t.Helper()
	return startServeWith(t, kubeconfig, "--public-url", publicURL)
}

// startServeWith is startServe with serve's other flags.
func startServeWith(t *testing.T, kubeconfig string, flags ...string) string {
	t.Helper()
	url, cmd, stderr := launchServe(t, kubeconfig, flags...)
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil || !strings.Contains(stderr.String(), "stopped") {
				t.Errorf("serve did not stop gracefully on SIGTERM: %v\n%s", err, stderr.String())
			}
		case <-time.After(40 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("serve did not stop within 40s of SIGTERM")
		}
	})
	return url
}

// launchServe starts kubeaccess serve and waits until it serves; the
// caller stops it.
func launchServe(t *testing.T, kubeconfig string, flags ...string) (string, *exec.Cmd, *syncBuffer) {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(kubeaccessBin, append([]string{"serve", "--listen", addr, "--approval-timeout", "2m"}, flags...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	var out syncBuffer
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			out.Write([]byte(s.Text() + "\n"))
			if strings.HasPrefix(s.Text(), "Serving invitations") {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("kubeaccess serve did not start:\n%s\n%s", out.String(), stderr.String())
	}
	if !strings.Contains(out.String(), "SHA-256 fingerprint") {
		t.Errorf("serve without --tls-cert does not print its certificate's fingerprint:\n%s", out.String())
	}
	return "https://" + addr, cmd, stderr
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// newBrowser starts headless Chromium, downloads going to dir.
func newBrowser(t *testing.T, dir string) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("the browser tests need Debian's chromium package (make test installs it)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("ignore-certificate-errors", true), chromedp.WindowSize(1000, 900))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelTimeout)
	err = chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir})
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

func invite(t *testing.T, publicURL string, args ...string) string {
	t.Helper()
	r := kubeaccess(t, cluster.AdminKubeconfig, append(append([]string{"invite"}, args...), "--public-url", publicURL, "-o", "jsonpath={.link}")...)
	mustSucceed(t, "invite", r)
	return strings.TrimSpace(r.stdout)
}

// redeem opens link, clicks, and waits for the download link; it returns
// the page's text as it went.
func redeem(t *testing.T, ctx context.Context, link string, before, after string, whileWaiting func(status string)) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("create"))); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, before)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("create"))); err != nil {
		t.Fatal(err)
	}
	if whileWaiting != nil {
		var status string
		deadline := time.Now().Add(60 * time.Second)
		for !strings.Contains(status, "Waiting for approval") {
			if time.Now().After(deadline) {
				t.Fatalf("the page never said it waits for approval: %q", status)
			}
			time.Sleep(100 * time.Millisecond)
			var err error
			if status, err = chromedp.Run(ctx, chromedp.Text(chromedp.ID("status"))); err != nil {
				t.Fatal(err)
			}
		}
		whileWaiting(status)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("download"))); err != nil {
		status, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
		t.Fatalf("no download link (%v); the page says %q", err, status)
	}
	screenshot(t, ctx, after)
	attrs, err := chromedp.Run(ctx, chromedp.Attributes(chromedp.CSS("a#download")))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := attrs["download"]; !ok {
		t.Errorf("a#download has no download attribute: %v", attrs)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("download"))); err != nil {
		t.Fatal(err)
	}
}

// screenshot saves the page when KUBEACCESS_SCREENSHOTS names a directory
// (docs/ keeps the README's).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("KUBEACCESS_SCREENSHOTS")
	if dir == "" || name == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitForFile waits for the browser's download.
func waitForFile(t *testing.T, path string) []byte {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, err := os.ReadFile(path)
		if err == nil && len(data) > 0 {
			return data
		}
		if time.Now().After(deadline) {
			t.Fatalf("the browser did not download %s", path)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// keyForms are the ways the kubeconfig's private key could appear on the
// wire: PEM, its base64 body, the DER in hex and base64url, and the
// private scalar in hex and base64.
func keyForms(t *testing.T, kubeconfigData []byte) []string {
	t.Helper()
	cfg, err := clientcmd.Load(kubeconfigData)
	if err != nil {
		t.Fatal(err)
	}
	var keyPEM []byte
	for _, a := range cfg.AuthInfos {
		keyPEM = a.ClientKeyData
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("the downloaded kubeconfig holds no PKCS#8 private key: %q", keyPEM)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		t.Fatalf("the key is %T, want ECDSA", key)
	}
	d, err := ec.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(block.Bytes)
	return []string{"PRIVATE KEY", b64[:40], hex.EncodeToString(block.Bytes)[:40], base64.RawURLEncoding.EncodeToString(block.Bytes)[:40],
		hex.EncodeToString(d), base64.StdEncoding.EncodeToString(d)[:30], base64.RawURLEncoding.EncodeToString(d)[:30]}
}

// The portal end to end, in a real headless Chromium against the real
// control plane: the newcomer clicks once and gets a kubeconfig whose key
// the server never saw, which the real kubectl uses with exactly the
// invited access; the link then works no more.
func TestPortalInvitationInTheBrowser(t *testing.T) {
	front, wireLog, setBackend := recordingProxy(t)
	// The server runs as deploy/'s service account: the least it needs.
	setBackend(startServe(t, portalKubeconfig(t), front.URL))

	downloads := t.TempDir()
	ctx := newBrowser(t, downloads)
	link := invite(t, front.URL, "pia", "-g", "dev", "-n", "portal-dev", "--verb", "get,list", "--resource", "pods")
	if !strings.HasPrefix(link, front.URL+"/i/") || len(strings.TrimPrefix(link, front.URL+"/i/")) < 43 {
		t.Fatalf("invite printed %q, want a link with a token of 256 bits", link)
	}
	// The server is busy for the page's first two polls: the page waits
	// and asks again, and does not give up the key it holds.
	wireLog.busyPolls.Store(2)
	redeem(t, ctx, link, "portal-before.png", "portal-after.png", nil)
	data := waitForFile(t, filepath.Join(downloads, "pia.kubeconfig"))
	if wireLog.answeredBusy.Load() == 0 {
		t.Error("the page never polled while the server was busy: the retry was not exercised")
	}
	path := filepath.Join(t.TempDir(), "pia.kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := whoami(t, path); got.stdout != "pia" {
		t.Fatalf("the downloaded kubeconfig is %q to the API server (%s)", got.stdout, got.stderr)
	}
	mustSucceed(t, "pia lists pods in portal-dev", kubectl(t, path, "get", "pods", "-n", "portal-dev"))
	expectForbidden(t, path, "get", "secrets", "-n", "portal-dev")
	expectForbidden(t, path, "get", "pods", "-n", "default")
	if canI(t, path, "delete", "pods", "-n", "portal-dev") {
		t.Error("pia may delete pods, which the invitation did not grant")
	}

	// The server never received the key, in any form.
	forms := keyForms(t, data)
	sawRequest := false
	for _, body := range wireLog.all() {
		if strings.Contains(body, "CERTIFICATE REQUEST") {
			sawRequest = true
		}
		for _, f := range forms {
			if strings.Contains(body, f) {
				t.Errorf("a request the server received holds the private key (%q):\n%s", f, body)
			}
		}
	}
	if !sawRequest {
		t.Error("no request body held the certificate request: the wire was not recorded")
	}

	// The link works once.
	text := pageText(t, ctx, link)
	if !strings.Contains(text, "already used") {
		t.Errorf("the link's second use shows %q", text)
	}
	resp, err := insecureClient().Post(link+"/request", "application/json", strings.NewReader(`{"request":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone {
		t.Errorf("a request on a used link: %s, want 410 Gone", resp.Status)
	}
	// The record says who invited, and how.
	l := kubeaccess(t, cluster.AdminKubeconfig, "list", "--user", "pia", "-o", "jsonpath={.items[0].issuedVia} {.items[0].issuedBy}")
	if l.stdout != "portal admin (through kubeaccess serve)" {
		t.Errorf("pia's record says issued %q", l.stdout)
	}
}

// pageText opens link and reads the page's main text.
func pageText(t *testing.T, ctx context.Context, link string) string {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(link)); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func insecureClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the test's own server
}

// With --approval manual the page waits until an admin runs kubeaccess
// approve, then completes; expired and revoked links get a clear page.
func TestPortalManualApprovalAndDeadLinks(t *testing.T) {
	backend := startServe(t, cluster.AdminKubeconfig, "https://127.0.0.1:1")
	downloads := t.TempDir()
	ctx := newBrowser(t, downloads)
	link := invite(t, backend, "quinn", "-g", "qa", "-n", "portal-qa", "--clusterrole", "view", "--approval", "manual")
	redeem(t, ctx, link, "", "", func(status string) {
		// The request the page waits on, named on the page.
		name := regexp.MustCompile(`kubeaccess-[a-z0-9.-]*[a-z0-9]`).FindString(status)
		mustSucceed(t, "kubeaccess approve "+name, kubeaccess(t, cluster.AdminKubeconfig, "approve", name))
	})
	data := waitForFile(t, filepath.Join(downloads, "quinn.kubeconfig"))
	path := filepath.Join(t.TempDir(), "quinn.kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := whoami(t, path); got.stdout != "quinn" {
		t.Fatalf("the downloaded kubeconfig is %q", got.stdout)
	}
	mustSucceed(t, "quinn views configmaps in portal-qa", kubectl(t, path, "get", "configmaps", "-n", "portal-qa"))
	expectForbidden(t, path, "get", "configmaps", "-n", "default")

	expired := invite(t, backend, "rory", "-n", "portal-qa", "--clusterrole", "view", "--expires", "1s")
	revokedLink := invite(t, backend, "sage", "-n", "portal-qa", "--clusterrole", "view")
	r := kubeaccess(t, cluster.AdminKubeconfig, "invite", "list", "-o", "jsonpath={range .items[?(@.user==\"sage\")]}{.id}{end}")
	mustSucceed(t, "invite list", r)
	mustSucceed(t, "invite revoke", kubeaccess(t, cluster.AdminKubeconfig, "invite", "revoke", strings.TrimSpace(r.stdout)))
	time.Sleep(1100 * time.Millisecond)
	for link, want := range map[string]string{expired: "expired", revokedLink: "revoked", backend + "/i/" + strings.Repeat("A", 43): "not valid"} {
		if text := pageText(t, ctx, link); !strings.Contains(text, want) {
			t.Errorf("%s shows %q, want it to say %q", link, text, want)
		}
	}
}

// invite --renewing: the kubeconfig the page assembles around the
// browser's key says the certificate may renew itself; kubeaccess complete
// makes it renew itself, and the real kubectl uses it. The key went
// nowhere but the download.
func TestPortalRenewingInvitation(t *testing.T) {
	front, wireLog, setBackend := recordingProxy(t)
	setBackend(startServe(t, portalKubeconfig(t), front.URL))
	downloads := t.TempDir()
	ctx := newBrowser(t, downloads)
	link := invite(t, front.URL, "pira", "-g", "dev", "-n", "portal-dev", "--verb", "get,list", "--resource", "pods", "--ttl", "10m", "--renewing")
	afterTest(t, "revoke", "pira")
	redeem(t, ctx, link, "", "", nil)
	data := waitForFile(t, filepath.Join(downloads, "pira.kubeconfig"))
	if text := pageText(t, ctx, link); !strings.Contains(text, "already used") {
		t.Fatalf("the page after redemption: %q", text)
	}
	path := filepath.Join(t.TempDir(), "pira.kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if hint, ok := kubeconfig.RenewingOf(currentUser(t, path)); !ok || hint.Lifetime != "10m0s" || hint.OfflineFor != "168h0m0s" {
		t.Fatalf("the downloaded kubeconfig does not say it renews itself: %+v %v\n%s", hint, ok, data)
	}
	r := kubeaccess(t, path, "complete", path)
	mustSucceed(t, "kubeaccess complete on the downloaded kubeconfig", r)
	if !strings.Contains(r.stderr, "now renews itself") {
		t.Errorf("complete says:\n%s%s", r.stdout, r.stderr)
	}
	mustSucceed(t, "kubectl with the completed kubeconfig", kubectl(t, path, "get", "pods", "-n", "portal-dev"))
	f, err := renewing.Read(renewing.PathFor(path))
	if err != nil || f.User != "pira" {
		t.Fatalf("the credential file: %+v %v", f, err)
	}
	// Revoking it takes the renewer binding with its access.
	r = kubeaccess(t, cluster.AdminKubeconfig, "revoke", "pira")
	if !strings.Contains(r.stdout+r.stderr, "kubeaccess-renewer") || !strings.Contains(r.stderr, "renews itself, and is not renewed again") {
		t.Errorf("revoke of a renewing portal credential says:\n%s%s", r.stdout, r.stderr)
	}
	for _, f := range keyForms(t, data) {
		for _, body := range wireLog.all() {
			if strings.Contains(body, f) {
				t.Errorf("a request the server received holds the private key (%q)", f)
			}
		}
	}
}
