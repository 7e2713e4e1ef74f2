// Package testcluster runs a real Kubernetes control plane (etcd,
// kube-apiserver, kube-controller-manager) on loopback, for tests and demos.
// The binaries are built from the tools module by hack/control-plane-bins.sh.
package testcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// DefaultControllers are the kube-controller-manager controllers a cluster
// runs: CSR signing and cleanup, service-account tokens and the default
// service account, namespace deletion, garbage collection, and the
// aggregation that fills the admin, edit and view ClusterRoles.
var DefaultControllers = []string{"csrsigning", "csrcleaner", "serviceaccount-token", "serviceaccount", "namespace", "garbagecollector", "clusterrole-aggregation"}

// Options configure a cluster.
type Options struct {
	// Dir holds certificates, data and logs; a new temporary directory when empty.
	Dir string
	// BinDir holds the control-plane binaries; found by FindBinaries when empty.
	BinDir string
	// NoSigner runs kube-controller-manager without the csrsigning controller,
	// like a managed cluster that never signs kube-apiserver-client CSRs.
	NoSigner bool
	// SigningDuration is kube-controller-manager's --cluster-signing-duration,
	// the longest certificate it signs; zero keeps its default (one year).
	SigningDuration time.Duration
	// AuditLog has the API server write every request, with its body, to
	// Cluster.AuditLog: what went over the wire, for tests to read.
	AuditLog bool
	// AuthorizationWebhook, when set, is an authorizer the API server asks
	// after RBAC, as a managed cluster's own may be (EKS's IAM, GKE's):
	// only a SubjectAccessReview sees what it allows.
	AuthorizationWebhook *Webhook
	// Detach lets the processes outlive the caller (for "make cluster").
	Detach bool
	// Progress receives one line per start-up step; nil discards them.
	Progress io.Writer
}

// Cluster is a running control plane.
type Cluster struct {
	// Dir holds certificates, data and logs (*.log).
	Dir string
	// BinDir holds etcd, kube-apiserver, kube-controller-manager and kubectl.
	BinDir string
	// Server is the API server URL.
	Server string
	// AdminKubeconfig is a kubeconfig whose client certificate is in system:masters.
	AdminKubeconfig string
	// AuditLog is the API server's audit log (Options.AuditLog), one JSON
	// event per line; "" when it keeps none.
	AuditLog string
	// CACert and CAKey are the cluster CA: the API server trusts client
	// certificates it signed, and kube-controller-manager signs CSRs with it.
	CACert, CAKey string

	procs []*process
}

// startTimeout bounds the whole start-up.
const startTimeout = 2 * time.Minute

// Start runs etcd, kube-apiserver and kube-controller-manager and returns
// once the API server is ready and the controllers are working. On failure
// everything already started is stopped and the error names the log to read.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	c, err := newCluster(opts)
	if err != nil {
		return nil, err
	}
	if err := c.start(ctx, opts); err != nil {
		if stopErr := c.Stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return nil, fmt.Errorf("starting local control plane (logs in %s): %w", c.Dir, err)
	}
	return c, nil
}

func newCluster(opts Options) (*Cluster, error) {
	var err error
	if opts.BinDir == "" {
		if opts.BinDir, err = FindBinaries(opts.Progress); err != nil {
			return nil, err
		}
	}
	if opts.Dir == "" {
		if opts.Dir, err = os.MkdirTemp("", "kubeaccess-cluster-"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	return &Cluster{Dir: dir, BinDir: opts.BinDir}, nil
}

func (c *Cluster) start(ctx context.Context, opts Options) error {
	progress := func(format string, args ...any) {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "[testcluster] "+format+"\n", args...)
		}
	}
	pki, err := writeClusterPKI(c.Dir)
	if err != nil {
		return err
	}
	c.CACert, c.CAKey = pki.caCert, pki.caKey
	if opts.AuditLog {
		c.AuditLog = filepath.Join(c.Dir, "audit.log")
	}
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	c.Server = "https://127.0.0.1:" + strconv.Itoa(ports[2])

	progress("starting etcd on %s", etcdURL)
	if err := c.startEtcd(ctx, etcdURL, ports[1], opts.Detach); err != nil {
		return err
	}
	progress("starting kube-apiserver on %s", c.Server)
	if err := c.startAPIServer(ctx, pki, etcdURL, ports[2], opts); err != nil {
		return err
	}
	progress("starting kube-controller-manager (signer: %v)", !opts.NoSigner)
	if err := c.startControllerManager(ctx, pki, opts); err != nil {
		return err
	}
	progress("ready: KUBECONFIG=%s", c.AdminKubeconfig)
	return nil
}

func (c *Cluster) startEtcd(ctx context.Context, clientURL string, peerPort int, detach bool) error {
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	p, err := c.run("etcd", detach,
		"--name=default",
		"--data-dir="+filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls="+clientURL,
		"--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--unsafe-no-fsync",
		"--log-level=warn",
	)
	if err != nil {
		return err
	}
	return waitForEtcd(ctx, p, clientURL)
}

func (c *Cluster) startAPIServer(ctx context.Context, pki *clusterPKI, etcdURL string, port int, opts Options) error {
	c.AdminKubeconfig = filepath.Join(c.Dir, "admin.kubeconfig")
	if err := writeKubeconfig(c.AdminKubeconfig, c.Server, pki.caCert, "admin", pki.adminCert, pki.adminKey); err != nil {
		return err
	}
	var audit []string
	if c.AuditLog != "" {
		policy := filepath.Join(c.Dir, "audit-policy.yaml")
		// Every request with its body, once, when it was answered.
		const everyRequest = "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Request\n"
		if err := os.WriteFile(policy, []byte(everyRequest), 0o600); err != nil {
			return err
		}
		audit = []string{"--audit-policy-file=" + policy, "--audit-log-path=" + c.AuditLog, "--audit-log-format=json"}
	}
	authorization := []string{"--authorization-mode=RBAC"}
	if opts.AuthorizationWebhook != nil {
		config, err := c.writeAuthorizationConfig(opts.AuthorizationWebhook)
		if err != nil {
			return err
		}
		authorization = []string{"--authorization-config=" + config}
	}
	p, err := c.run("kube-apiserver", opts.Detach, append(append([]string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(c.Dir, "apiserver-certs"),
		"--tls-cert-file=" + pki.servingCert,
		"--tls-private-key-file=" + pki.servingKey,
		"--client-ca-file=" + pki.caCert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pki.serviceAccountPub,
		"--service-account-signing-key-file=" + pki.serviceAccountKey,
		"--service-cluster-ip-range=10.96.0.0/16",
		// The "kubernetes" service cannot have a loopback endpoint.
		"--endpoint-reconciler-type=none",
	}, authorization...), audit...)...)
	if err != nil {
		return err
	}
	return waitForAPIServer(ctx, p, c.AdminKubeconfig)
}

func (c *Cluster) startControllerManager(ctx context.Context, pki *clusterPKI, opts Options) error {
	kubeconfig := filepath.Join(c.Dir, "controller-manager.kubeconfig")
	if err := writeKubeconfig(kubeconfig, c.Server, pki.caCert, "system:kube-controller-manager", pki.controllerCert, pki.controllerKey); err != nil {
		return err
	}
	controllers := DefaultControllers
	if opts.NoSigner {
		controllers = without(controllers, "csrsigning")
	}
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--controllers=" + strings.Join(controllers, ","),
		"--cluster-signing-cert-file=" + pki.caCert,
		"--cluster-signing-key-file=" + pki.caKey,
		"--service-account-private-key-file=" + pki.serviceAccountKey,
		"--root-ca-file=" + pki.caCert,
		// Each controller acts as its own system:controller:* service
		// account, as kubeadm sets it up; the controller-manager's own
		// identity may not update CSR status.
		"--use-service-account-credentials=true",
		"--leader-elect=false",
		"--secure-port=0",
	}
	if opts.SigningDuration > 0 {
		args = append(args, "--cluster-signing-duration="+opts.SigningDuration.String())
	}
	p, err := c.run("kube-controller-manager", opts.Detach, args...)
	if err != nil {
		return err
	}
	return waitForControllers(ctx, p, c.AdminKubeconfig)
}

// run starts one binary from BinDir and remembers it for Stop.
func (c *Cluster) run(name string, detach bool, args ...string) (*process, error) {
	p, err := startProcess(c.Dir, name, filepath.Join(c.BinDir, name), args, detach)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	return p, nil
}

// Stop ends every process this cluster started, newest first, by pid.
// The directory is kept; RemoveDir deletes it.
func (c *Cluster) Stop() error {
	var errs []error
	for i := len(c.procs) - 1; i >= 0; i-- {
		errs = append(errs, c.procs[i].stop())
	}
	c.procs = nil
	return errors.Join(errs...)
}

// RemoveDir deletes the cluster's directory (certificates, data and logs).
func (c *Cluster) RemoveDir() error { return os.RemoveAll(c.Dir) }

// PIDs returns the pids of the running control-plane processes.
func (c *Cluster) PIDs() []int {
	pids := make([]int, 0, len(c.procs))
	for _, p := range c.procs {
		pids = append(pids, p.pid())
	}
	return pids
}

// PIDOf returns the pid of the running control-plane process name
// (etcd, kube-apiserver, kube-controller-manager), 0 when none runs.
func (c *Cluster) PIDOf(name string) int {
	if p := c.proc(name); p != nil {
		return p.pid()
	}
	return 0
}

// Kill ends the control-plane process name at once (SIGKILL), as a crash
// would; Restart starts it again.
func (c *Cluster) Kill(name string) error {
	p := c.proc(name)
	if p == nil {
		return fmt.Errorf("no %s runs", name)
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("killing %s (pid %d): %w", name, p.pid(), err)
	}
	<-p.exited
	return nil
}

// Restart starts the control-plane process name again, with the same
// flags, ports and data (stopping it first if it still runs), and returns
// once it is ready again: etcd healthy, the API server ready through etcd.
func (c *Cluster) Restart(ctx context.Context, name string) error {
	p := c.proc(name)
	if p == nil {
		return fmt.Errorf("no %s was started", name)
	}
	if err := p.stop(); err != nil {
		return err
	}
	fresh, err := startProcess(c.Dir, name, p.cmd.Path, p.cmd.Args[1:], false)
	if err != nil {
		return err
	}
	c.procs[slices.Index(c.procs, p)] = fresh
	switch name {
	case "etcd":
		for _, arg := range fresh.cmd.Args {
			if url, ok := strings.CutPrefix(arg, "--listen-client-urls="); ok {
				if err := waitForEtcd(ctx, fresh, url); err != nil {
					return err
				}
			}
		}
		return waitForAPIServer(ctx, c.proc("kube-apiserver"), c.AdminKubeconfig)
	case "kube-apiserver":
		return waitForAPIServer(ctx, fresh, c.AdminKubeconfig)
	}
	return nil
}

// proc is the process name, last started.
func (c *Cluster) proc(name string) *process {
	for _, p := range slices.Backward(c.procs) {
		if p.name == name {
			return p
		}
	}
	return nil
}

// Kubectl returns the path of the kubectl built with the control plane.
func (c *Cluster) Kubectl() string { return filepath.Join(c.BinDir, "kubectl") }

// RESTConfig returns a client configuration for the admin user.
func (c *Cluster) RESTConfig() (*rest.Config, error) {
	return clientcmd.BuildConfigFromFlags("", c.AdminKubeconfig)
}

// freePorts asks the kernel for n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func without(list []string, drop string) []string {
	var out []string
	for _, s := range list {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}
