// Command engine measures the issuance engine: N certificates issued
// concurrently in one process (internal/issue, one client and rate
// limiter), each with a Role and RoleBinding, a kubeconfig, a record and a
// verification, against the real local control plane; next to N
// sequential "kubeaccess grant" runs doing the same. It prints the
// throughput, the median and p95 per credential, where an engine
// credential's time goes, and the ratio.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/testcluster"
)

func main() {
	kubeaccess := flag.String("kubeaccess", "bin/kubeaccess", "the kubeaccess binary")
	n := flag.Int("n", 200, "credentials to issue each way")
	flag.Parse()
	if err := run(*kubeaccess, *n); err != nil {
		fmt.Fprintln(os.Stderr, "bench/engine:", err)
		os.Exit(1)
	}
}

// phases are the steps of one Execute, told apart by its events.
var phases = []string{"checks", "issue and bind", "verify and record"}

func run(kubeaccess string, n int) error {
	ctx := context.Background()
	c, err := testcluster.Start(ctx, testcluster.Options{})
	if err != nil {
		return err
	}
	defer c.RemoveDir()
	defer c.Stop()
	dir, err := os.MkdirTemp("", "kubeaccess-bench-engine")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig = &c.AdminKubeconfig
	f := cmdutil.NewFactory(flags, &cmdutil.ReviewFlags{})
	engine, err := issuing.BulkEngine(f)
	if err != nil {
		return err
	}

	ca, err := pki.LoadAuthority(c.CACert, c.CAKey)
	if err != nil {
		return err
	}
	viaAPI := func() issue.Source {
		return &issue.CSR{KeyType: pki.ECDSAP256, TTL: 24 * time.Hour, Approve: true, Timeout: 2 * time.Minute}
	}
	offline := func() issue.Source { return &issue.Authority{CA: ca, KeyType: pki.ECDSAP256, TTL: 24 * time.Hour} }
	kubeconfig := "KUBECONFIG=" + c.AdminKubeconfig

	fmt.Printf("Issuing %d certificates each way (ecdsa-p256, a Role and RoleBinding each, a kubeconfig, a record, a verification)\n", n)
	fmt.Println("Through the CSR API (kube-controller-manager signs):")
	apiEngine, err := concurrently(ctx, engine, n, "engine-api", dir, viaAPI)
	if err != nil {
		return err
	}
	apiGrant, err := sequentially(kubeaccess, kubeconfig, n, "grant-api", dir)
	if err != nil {
		return err
	}
	fmt.Println("Signed offline with the cluster CA key (--ca-cert/--ca-key):")
	offEngine, err := concurrently(ctx, engine, n, "engine-ca", dir, offline)
	if err != nil {
		return err
	}
	offGrant, err := sequentially(kubeaccess, kubeconfig, n, "grant-ca", dir, "--ca-cert", c.CACert, "--ca-key", c.CAKey)
	if err != nil {
		return err
	}
	fmt.Printf("ratio, CSR API: the engine issues %.1fx as many credentials per second as sequential grant runs\n", apiGrant.Seconds()/apiEngine.Seconds())
	fmt.Printf("ratio, offline: the engine issues %.1fx as many credentials per second as sequential grant runs\n", offGrant.Seconds()/offEngine.Seconds())
	return nil
}

// concurrently issues n credentials at once through one engine into
// namespace ns and reports them, with where a credential's time goes.
func concurrently(ctx context.Context, engine *issue.Engine, n int, ns, dir string, source func() issue.Source) (time.Duration, error) {
	per := make([]time.Duration, n)
	split := make([][]time.Duration, len(phases))
	for i := range split {
		split[i] = make([]time.Duration, n)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed []error
	)
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			t0 := time.Now()
			marks := []time.Time{t0}
			user := fmt.Sprintf("%s-%03d", ns, i)
			plan := &issue.Plan{
				Action: "grant", Subject: issue.Subject{User: user, Groups: []string{"dev"}},
				Source:    source(),
				Access:    issue.AccessSpec{Verbs: []string{"create", "get", "update", "list", "delete"}, Resources: []string{"pods", "services", "deployments"}},
				Namespace: ns, CreateNamespace: true, RecordsNamespace: records.DefaultNamespace,
				Destination: issue.Destination{Path: filepath.Join(dir, user+".kubeconfig")},
				Events: func(e issue.Event) {
					if strings.HasPrefix(e.Message, "requesting a certificate") || strings.HasPrefix(e.Message, "signing a certificate") ||
						strings.HasPrefix(e.Message, "wrote ") {
						marks = append(marks, time.Now())
					}
				},
			}
			_, err := engine.Execute(ctx, plan)
			end := time.Now()
			per[i] = end.Sub(t0)
			marks = append(marks, end)
			for p := range phases {
				if p+1 < len(marks) {
					split[p][i] = marks[p+1].Sub(marks[p])
				}
			}
			if err != nil {
				mu.Lock()
				failed = append(failed, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	if len(failed) > 0 {
		return 0, fmt.Errorf("%d of %d failed; the first: %w", len(failed), n, failed[0])
	}
	report("engine, concurrent", n, wall, per)
	for p, name := range phases {
		fmt.Printf("    %-18s median %6.0f ms   p95 %6.0f ms\n", name, ms(percentile(split[p], 50)), ms(percentile(split[p], 95)))
	}
	return wall, nil
}

// sequentially runs n kubeaccess grant commands one after another, each
// granting the same as the engine does, into namespace ns.
func sequentially(kubeaccess, kubeconfig string, n int, ns, dir string, extra ...string) (time.Duration, error) {
	seq := make([]time.Duration, n)
	start := time.Now()
	for i := range n {
		user := fmt.Sprintf("%s-%03d", ns, i)
		args := append([]string{"grant", user, "-g", "dev", "-n", ns, "--verb", "create,get,update,list,delete",
			"--resource", "pods,services,deployments", "--out", filepath.Join(dir, user+".kubeconfig"), "-o", "json"}, extra...)
		cmd := exec.Command(kubeaccess, args...)
		cmd.Env = append(os.Environ(), kubeconfig)
		t0 := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("grant %s: %w\n%s", user, err, out)
		}
		seq[i] = time.Since(t0)
	}
	wall := time.Since(start)
	report("grant, sequential", n, wall, seq)
	return wall, nil
}

func report(what string, n int, wall time.Duration, per []time.Duration) {
	fmt.Printf("  %-20s %d credentials in %.2f s: %.1f per second; per credential median %.0f ms, p95 %.0f ms\n",
		what, n, wall.Seconds(), float64(n)/wall.Seconds(), ms(percentile(per, 50)), ms(percentile(per, 95)))
}

func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
