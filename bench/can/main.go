// Command can measures "kubeaccess can" and "kubeaccess who-can" against
// the way access-matrix works, on a real local control plane:
//
//   - the full matrix for one user in one namespace, by kubeaccess can
//     (one read of roles and bindings, evaluated locally) and by one
//     SubjectAccessReview per cell with 8 in flight, both after discovery
//     and both through a TCP proxy that adds 25 ms to every round trip (a
//     cloud cluster seen from a laptop), with 100 CRDs installed;
//   - kubeaccess who-can on a cluster seeded with 2,000 bindings.
//
// It prints the medians of several runs and the ratio. Run it with
// bench/can.sh, which builds what it needs.
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

	"golang.org/x/sync/errgroup"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubeaccess/kubeaccess/internal/testcluster"
)

var matrixVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}

func main() {
	kubeaccess := flag.String("kubeaccess", "bin/kubeaccess", "the kubeaccess binary")
	runs := flag.Int("runs", 5, "runs of each way")
	latency := flag.Duration("latency", 25*time.Millisecond, "added to every round trip by the proxy")
	crds := flag.Int("crds", 100, "CRDs to install")
	bindings := flag.Int("bindings", 2000, "bindings to seed for who-can")
	flag.Parse()
	if err := run(*kubeaccess, *runs, *latency, *crds, *bindings); err != nil {
		fmt.Fprintln(os.Stderr, "bench/can:", err)
		os.Exit(1)
	}
}

func run(kubeaccess string, runs int, latency time.Duration, crds, bindings int) error {
	ctx := context.Background()
	c, err := testcluster.Start(ctx, testcluster.Options{NoSigner: true})
	if err != nil {
		return err
	}
	defer c.RemoveDir()
	defer c.Stop()
	cfg, err := c.RESTConfig()
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 1000, 1000
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	fmt.Printf("Kubernetes control plane on loopback; installing %d CRDs and seeding access for user dave in namespace bench\n", crds)
	if err := installCRDs(ctx, cfg, client, crds); err != nil {
		return err
	}
	if err := seedUser(ctx, client); err != nil {
		return err
	}
	proxy, err := startDelayProxy(strings.TrimPrefix(cfg.Host, "https://"), latency)
	if err != nil {
		return err
	}
	defer proxy.Close()
	slow := rest.CopyConfig(cfg)
	slow.Host = "https://" + proxy.Addr().String()
	slowKubeconfig, err := writeKubeconfig(c, slow.Host)
	if err != nil {
		return err
	}

	var ours, theirs []time.Duration
	cells := 0
	for range runs {
		// Fresh discovery caches each run, for both ways alike.
		d, err := timeCommand(kubeaccess, slowKubeconfig, "can", "dave", "-g", "dev", "-n", "bench")
		if err != nil {
			return err
		}
		ours = append(ours, d)
		start := time.Now()
		n, err := matrixBySAR(ctx, slow, "dave", []string{"dev", "system:authenticated"}, "bench", 8)
		if err != nil {
			return err
		}
		theirs, cells = append(theirs, time.Since(start)), n
	}
	fmt.Printf("\nfull matrix for one user in one namespace, through a proxy adding %s per round trip, %d CRDs (median of %d)\n", latency, crds, runs)
	fmt.Printf("%-58s %8s\n", "way", "ms")
	fmt.Printf("%-58s %8d\n", "kubeaccess can (one read, evaluated locally)", median(ours).Milliseconds())
	fmt.Printf("%-58s %8d\n", fmt.Sprintf("SubjectAccessReview per cell, 8 in flight (%d cells)", cells), median(theirs).Milliseconds())
	fmt.Printf("ratio: %.1fx (goal >= 10x)\n", float64(median(theirs))/float64(median(ours)))

	fmt.Printf("\nseeding %d bindings\n", bindings)
	if err := seedBindings(ctx, client, bindings); err != nil {
		return err
	}
	direct, err := writeKubeconfig(c, cfg.Host)
	if err != nil {
		return err
	}
	if _, err := timeCommand(kubeaccess, direct, "who-can", "get", "pods", "-n", "bench"); err != nil { // warms the discovery cache
		return err
	}
	var whoCan []time.Duration
	for range runs {
		d, err := timeCommand(kubeaccess, direct, "who-can", "get", "pods", "-n", "bench")
		if err != nil {
			return err
		}
		whoCan = append(whoCan, d)
	}
	fmt.Printf("kubeaccess who-can get pods -n bench, %d bindings, no added latency: %d ms median of %d (goal < 200 ms)\n", bindings, median(whoCan).Milliseconds(), runs)
	return nil
}

// timeCommand runs kubeaccess with a fresh discovery cache and times it.
func timeCommand(bin, kubeconfig string, args ...string) (time.Duration, error) {
	cache, err := os.MkdirTemp("", "bench-can-cache-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(cache)
	if args[0] == "who-can" {
		cache = filepath.Join(os.TempDir(), "bench-can-whocan-cache")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "KUBECACHEDIR="+cache)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, out)
	}
	return time.Since(start), nil
}

// matrixBySAR answers the matrix as access-matrix does: discovery, then
// one SubjectAccessReview per resource and verb, concurrently.
func matrixBySAR(ctx context.Context, cfg *rest.Config, user string, groups []string, namespace string, inFlight int) (int, error) {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return 0, err
	}
	disco := memory.NewMemCacheClient(client.Discovery())
	lists, err := disco.ServerPreferredNamespacedResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return 0, err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(inFlight)
	var (
		mu    sync.Mutex
		cells int
	)
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, res := range list.APIResources {
			if strings.Contains(res.Name, "/") {
				continue
			}
			for _, verb := range matrixVerbs {
				if !slices.Contains(res.Verbs, verb) {
					continue
				}
				g.Go(func() error {
					_, err := client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
						User: user, Groups: groups,
						ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Group: gv.Group, Resource: res.Name, Namespace: namespace},
					}}, metav1.CreateOptions{})
					mu.Lock()
					cells++
					mu.Unlock()
					return err
				})
			}
		}
	}
	return cells, g.Wait()
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func installCRDs(ctx context.Context, cfg *rest.Config, client kubernetes.Interface, n int) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	crdResource := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range n {
		g.Go(func() error {
			group := fmt.Sprintf("bench%d.example.com", i%20)
			plural := fmt.Sprintf("widgets%d", i)
			crd := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
				"metadata": map[string]any{"name": plural + "." + group},
				"spec": map[string]any{
					"group": group, "scope": "Namespaced",
					"names": map[string]any{"plural": plural, "singular": fmt.Sprintf("widget%d", i), "kind": fmt.Sprintf("Widget%d", i)},
					"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
						"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
				},
			}}
			_, err := dyn.Resource(crdResource).Create(gctx, crd, metav1.CreateOptions{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("installing CRDs: %w", err)
	}
	// Wait until discovery serves them all.
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		lists, err := client.Discovery().ServerPreferredNamespacedResources()
		if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
			return false, nil
		}
		served := 0
		for _, l := range lists {
			if strings.HasPrefix(l.GroupVersion, "bench") {
				served += len(l.APIResources)
			}
		}
		return served >= n, nil
	})
}

func seedUser(ctx context.Context, client kubernetes.Interface) error {
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	_, err := client.RbacV1().RoleBindings("bench").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "dev-edit"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "dev"}}}, metav1.CreateOptions{})
	return err
}

// seedBindings creates n bindings: most RoleBindings spread over 20
// namespaces, a tenth ClusterRoleBindings.
func seedBindings(ctx context.Context, client kubernetes.Interface, n int) error {
	for i := range 20 {
		if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("team-%d", i)}}, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range n {
		g.Go(func() error {
			subject := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: fmt.Sprintf("user-%d", i)}}
			role := []string{"view", "edit", "admin"}[i%3]
			ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}
			name := fmt.Sprintf("seed-%d", i)
			var err error
			if i%10 == 0 {
				_, err = client.RbacV1().ClusterRoleBindings().Create(gctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, RoleRef: ref, Subjects: subject}, metav1.CreateOptions{})
			} else {
				ns := "team-" + fmt.Sprint(i%20)
				if i%7 == 0 {
					ns = "bench"
				}
				_, err = client.RbacV1().RoleBindings(ns).Create(gctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, RoleRef: ref, Subjects: subject}, metav1.CreateOptions{})
			}
			return err
		})
	}
	return g.Wait()
}

func writeKubeconfig(c *testcluster.Cluster, server string) (string, error) {
	cfg, err := clientcmd.LoadFromFile(c.AdminKubeconfig)
	if err != nil {
		return "", err
	}
	for _, cl := range cfg.Clusters {
		cl.Server = server
	}
	f, err := os.CreateTemp("", "bench-can-*.kubeconfig")
	if err != nil {
		return "", err
	}
	f.Close()
	return f.Name(), clientcmd.WriteToFile(*cfg, f.Name())
}
