// Command portal measures kubeaccess serve under load: N invitations
// redeemed at once against one server on the real local control plane,
// each as the page does it (a P-256 key made by the client, only the
// certificate request sent, the status polled until the certificate
// comes). It prints each redemption's time, median, p95 and the slowest,
// and whether all succeeded within the goal.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kubeaccess/kubeaccess/internal/testcluster"
)

func main() {
	kubeaccess := flag.String("kubeaccess", "bin/kubeaccess", "the kubeaccess binary")
	n := flag.Int("n", 50, "invitations redeemed at once")
	goal := flag.Duration("goal", 2*time.Second, "the longest a redemption may take")
	flag.Parse()
	if err := run(*kubeaccess, *n, *goal); err != nil {
		fmt.Fprintln(os.Stderr, "bench/portal:", err)
		os.Exit(1)
	}
}

func run(kubeaccess string, n int, goal time.Duration) error {
	ctx := context.Background()
	c, err := testcluster.Start(ctx, testcluster.Options{})
	if err != nil {
		return err
	}
	defer c.RemoveDir()
	defer c.Stop()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	base := "https://" + addr
	env := append(os.Environ(), "KUBECONFIG="+c.AdminKubeconfig)

	fmt.Printf("Making %d invitations (kubeaccess invite)\n", n)
	links := make([]string, n)
	for i := range n {
		cmd := exec.Command(kubeaccess, "invite", fmt.Sprintf("load-%02d", i), "-g", "dev", "-n", "portal-load", "--verb", "get,list",
			"--resource", "pods", "--public-url", base, "-o", "jsonpath={.link}")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("invite: %w\n%s", err, out)
		}
		links[i] = strings.TrimSpace(string(out))
	}
	// All the load comes from one address, standing for n people: the
	// per-client limit is raised to let it through.
	serve := exec.Command(kubeaccess, "serve", "--listen", addr, "--public-url", base, "--rate", "1000", "--burst", "1000")
	serve.Env = env
	stdout, _ := serve.StdoutPipe()
	serve.Stderr = os.Stderr
	if err := serve.Start(); err != nil {
		return err
	}
	defer func() { _ = serve.Process.Signal(syscall.SIGTERM); _ = serve.Wait() }()
	scan := bufio.NewScanner(stdout)
	for scan.Scan() && !strings.HasPrefix(scan.Text(), "Serving invitations") {
	}
	go func() {
		for scan.Scan() {
		}
	}()

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: n,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the bench's own self-signed server
	fmt.Printf("Redeeming %d invitations at once against one kubeaccess serve\n", n)
	took := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			t0 := time.Now()
			errs[i] = redeem(client, links[i], fmt.Sprintf("load-%02d", i))
			took[i] = time.Since(t0)
		})
	}
	wg.Wait()
	wall := time.Since(start)
	failed := 0
	for i, err := range errs {
		if err != nil {
			failed++
			fmt.Printf("  load-%02d failed: %v\n", i, err)
		}
	}
	s := slices.Clone(took)
	slices.Sort(s)
	fmt.Printf("  %d redeemed in %.2f s (%d failed): per redemption median %.0f ms, p95 %.0f ms, slowest %.0f ms\n",
		n-failed, wall.Seconds(), failed, ms(s[(n-1)/2]), ms(s[(n-1)*95/100]), ms(s[n-1]))
	verdict := "met"
	if failed > 0 || s[n-1] > goal {
		verdict = "NOT met"
	}
	fmt.Printf("goal: all %d succeed, each within %s: %s\n", n, goal, verdict)
	if verdict != "met" {
		return fmt.Errorf("goal not met")
	}
	return nil
}

// redeem does what the page does: a key made here, only the request sent.
func redeem(client *http.Client, link, user string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: user, Organization: []string{"dev"}}}, key)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]string{"request": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))})
	var status struct {
		State, Message, Certificate string
	}
	call := func(method, url string, body []byte) error {
		req, err := http.NewRequest(method, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&status); err != nil {
			return fmt.Errorf("%s: %w", resp.Status, err)
		}
		if resp.StatusCode >= 300 {
			return fmt.Errorf("%s: %s", resp.Status, status.Message)
		}
		return nil
	}
	if err := call(http.MethodPost, link+"/request", body); err != nil {
		return err
	}
	for status.State != "issued" {
		if status.State == "failed" {
			return fmt.Errorf("%s", status.Message)
		}
		time.Sleep(50 * time.Millisecond)
		if err := call(http.MethodGet, link+"/status", nil); err != nil {
			return err
		}
	}
	block, _ := pem.Decode([]byte(status.Certificate))
	if block == nil {
		return fmt.Errorf("no certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil || cert.Subject.CommonName != user || !cert.PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) {
		return fmt.Errorf("the certificate is not for %s's key: %v", user, err)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
