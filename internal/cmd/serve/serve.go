// Package serve implements "kubeaccess serve": the HTTPS server behind
// invitation links (see internal/portal).
package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/time/rate"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	invitestore "github.com/kubeaccess/kubeaccess/internal/invite"
	"github.com/kubeaccess/kubeaccess/internal/portal"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// Options holds the flags of "kubeaccess serve".
type Options struct {
	Listen           string
	TLSCert, TLSKey  string
	PublicURL        string
	ServerURL        string
	RecordsNamespace string
	MaxTTL           string
	ApprovalTimeout  time.Duration
	Rate             float64
	Burst            int
	Approval         string
	TrustedProxies   []string

	trustedProxies []netip.Prefix

	maxTTL    time.Duration
	publicURL *url.URL
	factory   cmdutil.Factory
	genericiooptions.IOStreams
}

var _ cmdutil.Options = (*Options)(nil)

// shutdownGrace bounds the wait for requests and redemptions in flight
// after SIGTERM.
const shutdownGrace = 30 * time.Second

// NewCmdServe returns the "serve" command.
func NewCmdServe(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{Listen: ":8443", PublicURL: invitestore.DefaultPublicURL, RecordsNamespace: records.DefaultNamespace, MaxTTL: issuing.DefaultMaxTTL,
		ApprovalTimeout: time.Hour, Rate: 20, Burst: 100, Approval: invitestore.ApprovalAuto, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Serve invitation links: the newcomer's browser makes the key, the server gets it certified",
		Long: `Serve the pages behind "kubeaccess invite" links over HTTPS. The page makes an
ECDSA P-256 key in the browser with WebCrypto and sends only a certificate
request for exactly the invited subject; the server checks it, issues it
through the CertificateSigningRequest API with the checks grant makes, binds
the invited access, records the credential, and returns the certificate. It
never sees a private key. With no --tls-cert it makes a self-signed
certificate and prints its fingerprint. It runs with the kubeconfig's
credentials, or in-cluster ones (deploy/), and checks at start that they
allow all it does. SIGTERM stops it gracefully.`,
		Example: `  kubeaccess serve --public-url https://access.example.com --tls-cert tls.crt --tls-key tls.key
  kubeaccess serve --listen 127.0.0.1:8443`,
		Args: cmdutil.Args(cobra.NoArgs),
		RunE: cmdutil.RunE(f, o),
	}
	fs := cmd.Flags()
	fs.StringVar(&o.Listen, "listen", o.Listen, "Address to listen on")
	fs.StringVar(&o.TLSCert, "tls-cert", "", "Serving certificate (PEM); without it a self-signed one is made")
	fs.StringVar(&o.TLSKey, "tls-key", "", "The private key of --tls-cert")
	fs.StringVar(&o.PublicURL, "public-url", o.PublicURL, "The URL the server is reached at (links, and the self-signed certificate's name)")
	fs.StringVar(&o.ServerURL, "server-url", "", "API server URL for the kubeconfigs the page assembles (default: the current context's)")
	fs.StringVar(&o.RecordsNamespace, "records-namespace", o.RecordsNamespace, "Namespace of the records and invitations")
	fs.StringVar(&o.MaxTTL, "max-ttl", o.MaxTTL, "Refuse invitations for lifetimes longer than this")
	fs.DurationVar(&o.ApprovalTimeout, "approval-timeout", o.ApprovalTimeout, "How long a manual-approval invitation waits for an admin")
	fs.Float64Var(&o.Rate, "rate", o.Rate, "Requests a second allowed to each client address")
	fs.IntVar(&o.Burst, "burst", o.Burst, "Requests a client address may make at once")
	fs.StringVar(&o.Approval, "approval", o.Approval, `Invitations this server redeems: "auto" (all; it approves those made with --approval auto) or "manual" (only those an admin approves, so it needs no right to approve)`)
	fs.StringSliceVar(&o.TrustedProxies, "trusted-proxy", nil, "Address or CIDR of a proxy (an ingress) whose X-Forwarded-For names the client, for the rate limit; repeatable")
	return cmd
}

// Complete keeps the factory the run builds its clients from.
func (o *Options) Complete(f cmdutil.Factory, args []string) error {
	o.factory = f
	return nil
}

// Validate checks the flags without I/O.
func (o *Options) Validate() error {
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return failure.UsageErrorf("--tls-cert and --tls-key go together")
	}
	if o.Approval != invitestore.ApprovalAuto && o.Approval != invitestore.ApprovalManual {
		return failure.UsageErrorf(`--approval must be "auto" or "manual", not %q`, o.Approval)
	}
	o.trustedProxies = nil
	for _, p := range o.TrustedProxies {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return failure.UsageErrorf("--trusted-proxy %q is not an address or CIDR", p)
			}
			prefix = netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen())
		}
		o.trustedProxies = append(o.trustedProxies, prefix.Masked())
	}
	u, err := url.Parse(o.PublicURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return failure.UsageErrorf("--public-url %q must be an https:// URL: the browser makes its key only in a secure context", o.PublicURL)
	}
	o.publicURL = u
	if o.maxTTL, err = cmdutil.ParseWindow(o.MaxTTL); err != nil {
		return failure.UsageErrorf("--max-ttl: %w", err)
	}
	if o.Rate <= 0 || o.Burst < 1 {
		return failure.UsageErrorf("--rate and --burst must be positive")
	}
	if _, _, err := net.SplitHostPort(o.Listen); err != nil {
		return failure.UsageErrorf("--listen %q: %v", o.Listen, err)
	}
	return nil
}

// Run checks the credentials, then serves until ctx ends (SIGINT,
// SIGTERM), and shuts down gracefully.
func (o *Options) Run(ctx context.Context) error {
	f := o.factory
	engine, err := issuing.BulkEngine(f)
	if err != nil {
		return err
	}
	client := engine.Client()
	if err := o.checkPermissions(ctx, client); err != nil {
		return err
	}
	store := invitestore.Store{Client: client, Namespace: o.RecordsNamespace}
	key, err := store.Key(ctx, true)
	if err != nil {
		return err
	}
	if err := store.Watch(ctx); err != nil {
		return err
	}
	cluster, err := f.Cluster()
	if err != nil {
		return err
	}
	if o.ServerURL != "" {
		cluster.Server = o.ServerURL
	}
	limiter := portal.NewLimiter(rate.Limit(o.Rate), o.Burst)
	limiter.TrustedProxies = o.trustedProxies
	srv := &portal.Server{
		Engine: engine, Client: client, Store: store, Key: key, RecordsNamespace: o.RecordsNamespace, MaxTTL: o.maxTTL,
		Cluster: cluster, ApprovalTimeout: o.ApprovalTimeout, Limiter: limiter, Approval: o.Approval,
		Log: func(format string, args ...any) { fmt.Fprintf(o.ErrOut, format+"\n", args...) },
	}
	cert, err := o.certificate()
	if err != nil {
		return err
	}
	listener, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return err
	}
	httpServer := &http.Server{
		Handler:           srv.Handler(),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}},
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 16 << 10,
		ErrorLog:       nil,
	}
	fmt.Fprintf(o.Out, "Serving invitations at %s (listening on %s)\n", o.PublicURL, listener.Addr())
	served := make(chan error, 1)
	go func() { served <- httpServer.ServeTLS(listener, "", "") }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintln(o.ErrOut, "stopping: finishing the requests and redemptions in flight")
	shutdown, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err = httpServer.Shutdown(shutdown)
	srv.Shutdown(shutdown)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("stopped after %s with requests still in flight", shutdownGrace)
	}
	fmt.Fprintln(o.ErrOut, "stopped")
	return nil
}

// checkPermissions refuses to start with credentials that cannot do all
// the portal does, naming what is missing.
func (o *Options) checkPermissions(ctx context.Context, client kubernetes.Interface) error {
	missing, err := verify.MissingBatched(ctx, client, portal.Permissions(o.RecordsNamespace, o.Approval == invitestore.ApprovalAuto))
	if err != nil {
		return fmt.Errorf("checking what these credentials may do: %w", err)
	}
	if len(missing) == 0 {
		return nil
	}
	lines := make([]string, len(missing))
	for i, p := range missing {
		lines[i] = "  " + p.String()
	}
	who := "these credentials"
	if id, err := verify.WhoAmI(ctx, client); err == nil {
		who = fmt.Sprintf("%q", id.Username)
	}
	where := "deploy/rbac.yaml has the least the portal needs with --approval=manual"
	if o.Approval == invitestore.ApprovalAuto {
		where = "deploy/rbac.yaml has the least the portal needs, and deploy/rbac-auto-approve.yaml what approving takes; or run serve with --approval=manual"
	}
	return failure.DeniedErrorf("kubeaccess serve cannot start: %s may not:\n%s\n"+
		"grant them (%s) or run it with other credentials", who, strings.Join(lines, "\n"), where)
}

// certificate is --tls-cert, or a self-signed one whose fingerprint is
// printed.
func (o *Options) certificate() (tls.Certificate, error) {
	if o.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			return tls.Certificate{}, failure.UsageErrorf("--tls-cert/--tls-key: %w", err)
		}
		return cert, nil
	}
	hosts := []string{o.publicURL.Hostname()}
	for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	cert, fp, err := portal.SelfSigned(hosts)
	if err != nil {
		return tls.Certificate{}, err
	}
	fmt.Fprintf(o.Out, "No --tls-cert: serving a self-signed certificate for %s, SHA-256 fingerprint\n  %s\n", strings.Join(hosts, ", "), fp)
	return cert, nil
}
