// Package controller implements "kubeaccess controller": kubeaccess running
// in the cluster it guards, as a Deployment of two or more replicas of
// which one, holding a Lease, reconciles (see internal/controller).
package controller

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/controller"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/renewing"
)

// Options holds the flags of "kubeaccess controller".
type Options struct {
	RecordsNamespace string
	MaxTTL           string
	ApprovalTimeout  time.Duration
	MaxOffline       time.Duration
	KeepRenewed      time.Duration
	Workers          int
	LeaderElect      bool
	LeaseNamespace   string
	LeaseName        string
	LeaseDuration    time.Duration
	RenewDeadline    time.Duration
	RetryPeriod      time.Duration
	MetricsAddr      string
	HealthAddr       string
	Identity         string
	PortalURL        string
	WebhookAllow     []string

	maxTTL  time.Duration
	factory cmdutil.Factory
	genericiooptions.IOStreams
}

var _ cmdutil.Options = (*Options)(nil)

// controllerMemoryLimit is the controller's soft memory limit.
const controllerMemoryLimit = 128 << 20

// NewCmdController returns the "controller" command.
func NewCmdController(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{RecordsNamespace: records.DefaultNamespace, MaxTTL: issuing.DefaultMaxTTL, ApprovalTimeout: time.Minute, MaxOffline: renewing.DefaultOfflineFor, KeepRenewed: 7 * 24 * time.Hour, Workers: 4,
		LeaderElect: true, LeaseNamespace: records.DefaultNamespace, LeaseName: "kubeaccess-controller",
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		MetricsAddr: ":8080", HealthAddr: ":8081", IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run in the cluster: take time-bound access away when its time comes, and answer renewals of kubeaccess certificates",
		Long: `Run kubeaccess as a controller, in the cluster it guards (deploy/controller.yaml
runs two replicas under its own service account and least RBAC). One replica
at a time, holding a Lease, reconciles; the others stand by and take over
within --lease-duration when it stops, at once when it stops gracefully.

It takes away access that ends by itself (grant --for) when its time comes,
and records an Event and a metric for each. It approves a client-certificate
request as the renewal of a certificate kubeaccess issued only when the API
server authenticated its requester with that very certificate (the
credential-id it records), the record is neither revoked, superseded nor
tampered with, the subject is the same, and the lifetime is within
--max-ttl; the privilege checks every issuance makes run too. Any other
request it leaves alone.

It keeps each TeamAccess (the custom resource): the team's roles and bindings
made, updated and pruned on its author's authority, drift put back, members'
until: honoured. With --portal-url, the users of a team whose spec has
invitations: and who hold no credential yet are invited: the link (for
kubeaccess serve at that URL) is written to the Secret the team names, or
posted to its webhook when --invitation-webhook-allow allows that URL.

/healthz, /readyz (on --health-addr) and Prometheus /metrics (on
--metrics-addr) are served by every replica.`,
		Example: `  # As in the cluster, under the controller's own service account
  kubeaccess controller --kubeconfig controller.kubeconfig`,
		Args: cmdutil.Args(cobra.NoArgs),
		RunE: cmdutil.RunE(f, o),
	}
	fs := cmd.Flags()
	fs.StringVar(&o.RecordsNamespace, "records-namespace", o.RecordsNamespace, "Namespace of the records")
	fs.StringVar(&o.MaxTTL, "max-ttl", o.MaxTTL, "The longest lifetime a renewal may ask for")
	fs.DurationVar(&o.MaxOffline, "max-offline", o.MaxOffline, "The longest lifetime of the renewal identity a renewing credential asks for "+
		"(how long its holder may be away and still renew after its certificate expired); 0 issues none")
	fs.DurationVar(&o.KeepRenewed, "keep-renewed-records", o.KeepRenewed, "How long the record of a renewing credential's certificate that a renewal replaced "+
		"is kept after it expired (for audits that trace requests to it); 0 keeps them all")
	fs.DurationVar(&o.ApprovalTimeout, "approval-timeout", o.ApprovalTimeout, "How long to wait for the signer once a renewal is approved")
	fs.IntVar(&o.Workers, "workers", o.Workers, "Items each loop works on at once")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "Hold a Lease so that one replica of several reconciles")
	fs.StringVar(&o.LeaseNamespace, "lease-namespace", o.LeaseNamespace, "Namespace of the Lease")
	fs.StringVar(&o.LeaseName, "lease-name", o.LeaseName, "Name of the Lease")
	fs.DurationVar(&o.LeaseDuration, "lease-duration", o.LeaseDuration, "How long a standby waits before taking a lease its holder stopped renewing")
	fs.DurationVar(&o.RenewDeadline, "renew-deadline", o.RenewDeadline, "How long the leader tries to renew before it stops reconciling")
	fs.DurationVar(&o.RetryPeriod, "retry-period", o.RetryPeriod, "How often the lease is tried")
	fs.StringVar(&o.MetricsAddr, "metrics-addr", o.MetricsAddr, "Where /metrics is served")
	fs.StringVar(&o.HealthAddr, "health-addr", o.HealthAddr, "Where /healthz and /readyz are served")
	fs.StringVar(&o.PortalURL, "portal-url", "", "Where kubeaccess serve is reached (https://...), for the links of teams' invitations; without it no one is invited")
	fs.StringSliceVar(&o.WebhookAllow, "invitation-webhook-allow", nil, "URL prefixes (scheme, host and a path ending in /) a team's invitations may be posted to")
	fs.StringVar(&o.Identity, "identity", "", "This replica's name in the Lease (default: the host name, the pod's in a cluster)")
	return cmd
}

// Complete keeps the factory and names this replica.
func (o *Options) Complete(f cmdutil.Factory, _ []string) error {
	o.factory = f
	if o.Identity == "" {
		host, err := os.Hostname()
		if err != nil {
			return err
		}
		o.Identity = host
	}
	return nil
}

// Validate checks the flags without I/O.
func (o *Options) Validate() error {
	var err error
	if o.maxTTL, err = cmdutil.ParseWindow(o.MaxTTL); err != nil {
		return failure.UsageErrorf("--max-ttl: %w", err)
	}
	if o.PortalURL != "" {
		if u, err := url.Parse(o.PortalURL); err != nil || u.Scheme != "https" || u.Host == "" {
			return failure.UsageErrorf("--portal-url %q must be an https:// URL: the browser makes its key only in a secure context", o.PortalURL)
		}
	}
	for _, prefix := range o.WebhookAllow {
		u, err := url.Parse(prefix)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || !strings.HasSuffix(u.Path, "/") {
			return failure.UsageErrorf("--invitation-webhook-allow %q must be an http(s) URL whose path ends in / (https://hooks.example.com/services/)", prefix)
		}
	}
	switch {
	case o.Workers < 1:
		return failure.UsageErrorf("--workers must be at least 1")
	case o.KeepRenewed < 0:
		return failure.UsageErrorf("--keep-renewed-records must be 0 (keep them all) or positive")
	case o.MaxOffline < 0:
		return failure.UsageErrorf("--max-offline must be 0 (no renewal identities) or positive")
	case o.LeaderElect && !(o.LeaseDuration > o.RenewDeadline && o.RenewDeadline > o.RetryPeriod && o.RetryPeriod > 0):
		return failure.UsageErrorf("the lease's timing must be --lease-duration > --renew-deadline > --retry-period > 0")
	}
	return nil
}

// Run serves the endpoints and, while it holds the Lease (or always
// without --leader-elect), reconciles, until ctx ends (SIGTERM): then it
// stops reconciling, releases the Lease so a standby takes over at once,
// and stops serving.
func (o *Options) Run(ctx context.Context) error {
	if os.Getenv("GOMEMLIMIT") == "" {
		// Its informers keep what it watches live, and a team's first
		// reconcile makes garbage fast; at the default pace the
		// collector lets the heap grow to twice that. A soft limit, well
		// under deploy/'s 256Mi, keeps it collecting ahead (GOMEMLIMIT
		// overrides).
		debug.SetMemoryLimit(controllerMemoryLimit)
	}
	engine, err := issuing.BulkEngine(o.factory)
	if err != nil {
		return err
	}
	client := engine.Client()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	events, stopEvents := controller.NewRecorder(ctx, client, o.Identity)
	defer stopEvents()
	c := &controller.Controller{
		Client: client, Engine: engine, RecordsNamespace: o.RecordsNamespace, MaxTTL: o.maxTTL, ApprovalTimeout: o.ApprovalTimeout, MaxOffline: o.MaxOffline, KeepRenewed: o.KeepRenewed,
		Metrics: controller.NewMetrics(reg), Workers: o.Workers, ResyncPeriod: 10 * time.Minute,
		Events: events, PortalURL: o.PortalURL, WebhookAllow: o.WebhookAllow,
		// A webhook is posted to where it says, not where it redirects.
		HTTP: &http.Client{Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		Logf: func(format string, args ...any) {
			fmt.Fprintf(o.ErrOut, time.Now().UTC().Format(time.RFC3339)+" "+format+"\n", args...)
		},
	}
	if c.Dynamic, err = o.teamAccessClient(client); err != nil {
		return err
	}
	if c.Dynamic == nil {
		c.Logf("the TeamAccess custom resource is not installed (deploy/crd-teamaccess.yaml): teams are not reconciled")
	}
	watchdog := leaderelection.NewLeaderHealthzAdaptor(o.RenewDeadline)
	servers, err := o.serve(ctx, reg, c, watchdog, client)
	if err != nil {
		return err
	}
	defer servers()
	if !o.LeaderElect {
		c.Metrics.Leader.Set(1)
		return c.Run(ctx)
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: o.LeaseNamespace, Name: o.LeaseName},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: o.Identity},
	}
	var (
		runErr = make(chan error, 1)
		lost   = errors.New("lost the lease while reconciling")
	)
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, ReleaseOnCancel: true, Name: o.LeaseName, WatchDog: watchdog,
		LeaseDuration: o.LeaseDuration, RenewDeadline: o.RenewDeadline, RetryPeriod: o.RetryPeriod,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				c.Logf("leading as %s (Lease %s/%s)", o.Identity, o.LeaseNamespace, o.LeaseName)
				c.Metrics.Leader.Set(1)
				runErr <- c.Run(ctx)
			},
			OnStoppedLeading: func() {
				c.Metrics.Leader.Set(0)
				c.Logf("%s stopped leading", o.Identity)
			},
			OnNewLeader: func(identity string) {
				if identity != o.Identity {
					c.Logf("standing by: %s leads", identity)
				}
			},
		},
	})
	if err != nil {
		return err
	}
	c.Logf("%s: trying the Lease %s/%s", o.Identity, o.LeaseNamespace, o.LeaseName)
	elector.Run(ctx)
	select {
	case err := <-runErr:
		if err != nil {
			return err
		}
	default:
	}
	if ctx.Err() == nil {
		// The lease was lost while the process lives: stop, and let the
		// Deployment start it again as a standby.
		return lost
	}
	c.Logf("stopped, and released the Lease")
	return nil
}

// serve starts /metrics and /healthz, /readyz; the returned func stops
// them. A replica is ready once the API server answers it and, while it
// leads, once its informers have read everything.
func (o *Options) serve(ctx context.Context, reg *prometheus.Registry, c *controller.Controller, watchdog *leaderelection.HealthzAdaptor, client kubernetes.Interface) (func(), error) {
	health := http.NewServeMux()
	health.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := watchdog.Check(r); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	health.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if _, err := client.Discovery().ServerVersion(); err != nil {
			http.Error(w, "the API server does not answer: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if c.Syncing() {
			http.Error(w, "leading, but the informers have not read everything yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	metrics := http.NewServeMux()
	metrics.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	var servers []*http.Server
	for _, s := range []struct {
		addr    string
		handler http.Handler
	}{{o.HealthAddr, health}, {o.MetricsAddr, metrics}} {
		if s.addr == "" {
			continue
		}
		l, err := net.Listen("tcp", s.addr)
		if err != nil {
			return nil, err
		}
		srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 5 * time.Second}
		servers = append(servers, srv)
		go func() { _ = srv.Serve(l) }()
		c.Logf("serving %s on %s", map[bool]string{true: "/healthz and /readyz", false: "/metrics"}[s.addr == o.HealthAddr], l.Addr())
	}
	return func() {
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		for _, srv := range servers {
			_ = srv.Shutdown(shutdown)
		}
	}, nil
}

// teamAccessClient is a client for TeamAccess objects, or nil when the
// cluster does not serve them (the CRD is not installed).
func (o *Options) teamAccessClient(client kubernetes.Interface) (dynamic.Interface, error) {
	gv := controller.TeamAccessGVR.GroupVersion().String()
	resources, err := client.Discovery().ServerResourcesForGroupVersion(gv)
	if apierrors.IsNotFound(err) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("asking whether the cluster serves %s: %w", gv, err)
	}
	for _, r := range resources.APIResources {
		if r.Name == controller.TeamAccessGVR.Resource {
			return o.factory.Dynamic()
		}
	}
	return nil, nil
}
