// Command renewal measures renewals answered in the cluster: every
// kubeconfig under -dir (certificates kubeaccess issued and recorded)
// asks, authenticated by its own certificate, for a renewal of the same
// subject, the requests spread evenly over -spread, as the renewing
// credentials of that many users would. An admin-side watch notes when
// each request gets its certificate. It prints how many were issued, the
// latency from request to certificate (p50, p99, slowest) and the
// approvals per second, under -label.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/pki"
)

func main() {
	dir := flag.String("dir", "", "directory of kubeconfigs (apply --out-dir's users/)")
	admin := flag.String("admin", "", "an admin kubeconfig, to watch the requests")
	spread := flag.Duration("spread", time.Minute, "the requests are spread evenly over this long")
	timeout := flag.Duration("timeout", 5*time.Minute, "how long to wait for every certificate")
	label := flag.String("label", "kubeaccess controller", "what approves, for the output")
	names := flag.String("names", "", "when set, the requests' names are written here, one a line, and nothing is waited for")
	first := flag.Int("first", 0, "the index of the first kubeconfig used, in name order")
	count := flag.Int("n", 0, "how many kubeconfigs are used (0: all from -first)")
	flag.Parse()
	if err := run(*dir, *admin, *spread, *timeout, *label, *names, *first, *count); err != nil {
		fmt.Fprintln(os.Stderr, "bench/renewal:", err)
		os.Exit(1)
	}
}

func run(dir, adminPath string, spread, timeout time.Duration, label, namesPath string, first, count int) error {
	paths, err := filepath.Glob(filepath.Join(dir, "*.kubeconfig"))
	if err != nil || len(paths) <= first {
		return fmt.Errorf("no kubeconfigs from the %dth in %s (%v)", first, dir, err)
	}
	paths = paths[first:]
	if count > 0 && count < len(paths) {
		paths = paths[:count]
	}
	adminCfg, err := clientcmd.BuildConfigFromFlags("", adminPath)
	if err != nil {
		return err
	}
	adminCfg.QPS, adminCfg.Burst = -1, 0
	admin, err := kubernetes.NewForConfig(adminCfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), spread+timeout)
	defer cancel()

	var (
		mu      sync.Mutex
		created = map[string]time.Time{}
		issued  = map[string]time.Time{}
	)
	if namesPath == "" {
		// A watch the server ends is resumed where it stopped: a plain
		// one would stop counting certificates halfway.
		csrs := admin.CertificatesV1().CertificateSigningRequests()
		list, err := csrs.List(ctx, metav1.ListOptions{Limit: 1})
		if err != nil {
			return err
		}
		w, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, &cache.ListWatch{
			WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
				return csrs.Watch(ctx, opts)
			},
		})
		if err != nil {
			return err
		}
		defer w.Stop()
		go func() {
			for ev := range w.ResultChan() {
				if req, ok := ev.Object.(*certificatesv1.CertificateSigningRequest); ok && len(req.Status.Certificate) > 0 {
					mu.Lock()
					if _, seen := issued[req.Name]; !seen {
						issued[req.Name] = time.Now()
					}
					mu.Unlock()
				}
			}
		}()
	}

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(paths))
	for i, path := range paths {
		at := start.Add(time.Duration(i) * spread / time.Duration(len(paths)))
		wg.Go(func() {
			time.Sleep(time.Until(at))
			name, when, err := submit(ctx, path)
			if err != nil {
				errs <- fmt.Errorf("%s: %w", filepath.Base(path), err)
				return
			}
			mu.Lock()
			created[name] = when
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	if namesPath != "" {
		f, err := os.Create(namesPath)
		if err != nil {
			return err
		}
		defer f.Close()
		for name := range created {
			fmt.Fprintln(f, name)
		}
		return nil
	}
	for {
		mu.Lock()
		done := 0
		for name := range created {
			if _, ok := issued[name]; ok {
				done++
			}
		}
		mu.Unlock()
		if done == len(created) || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	report(label, created, issued, start)
	return nil
}

// submit asks for the renewal of the certificate in the kubeconfig at
// path, authenticated by it: the same subject, a key of its own.
func submit(ctx context.Context, path string) (string, time.Time, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return "", time.Time{}, err
	}
	cfg.QPS, cfg.Burst = -1, 0
	cert, err := pki.ParseCertificate(cfg.CertData)
	if err != nil {
		return "", time.Time{}, err
	}
	key, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		return "", time.Time{}, err
	}
	request, err := pki.CreateRequest(key, pki.Subject(cert.Subject.CommonName, cert.Subject.Organization))
	if err != nil {
		return "", time.Time{}, err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", time.Time{}, err
	}
	when := time.Now()
	got, err := csr.Create(ctx, client, csr.Build(cert.Subject.CommonName, request, 10*time.Minute))
	if err != nil {
		return "", time.Time{}, err
	}
	return got.Name, when, nil
}

// report prints the figures of one round.
func report(label string, created, issued map[string]time.Time, start time.Time) {
	var lat []time.Duration
	var last time.Time
	for name, c := range created {
		if at, ok := issued[name]; ok {
			lat = append(lat, at.Sub(c))
			if at.After(last) {
				last = at
			}
		}
	}
	slices.Sort(lat)
	if len(lat) == 0 {
		fmt.Printf("%s: none of %d renewals issued\n", label, len(created))
		return
	}
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
	elapsed := last.Sub(start)
	fmt.Printf("%s: %d of %d renewals issued; request to certificate p50 %d ms, p99 %d ms, slowest %d ms; %.1f approvals/s (all issued %.1f s after the first request)\n",
		label, len(lat), len(created), pct(0.5).Milliseconds(), pct(0.99).Milliseconds(), lat[len(lat)-1].Milliseconds(),
		float64(len(lat))/elapsed.Seconds(), elapsed.Seconds())
}
