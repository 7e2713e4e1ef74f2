package cmdutil

import (
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
)

// Client-side rate limits: kubeaccess makes a few dozen requests in a burst
// (discovery, access reviews), and apply and the portal many more
// concurrently; client-go's default of 5 QPS would throttle them.
const (
	clientQPS   = 200
	clientBurst = 400
	// bulkQPS turns client-go's limiter off: a bulk client is paced by
	// how many requests it has open (bulkInFlight) instead, and by the API
	// server's priority and fairness, whose 429s client-go retries.
	bulkQPS = -1
)

// NewClient returns a client for the cluster the flags name, allowed the
// bursts of review requests kubeaccess makes. It speaks protobuf: built-in
// types only, and much quicker to encode and decode than JSON, which
// matters for lists such as all ClusterRoleBindings.
func NewClient(flags *genericclioptions.ConfigFlags) (kubernetes.Interface, error) {
	return newClient(flags, clientQPS, clientBurst)
}

func newClient(flags *genericclioptions.ConfigFlags, qps float32, burst int) (kubernetes.Interface, error) {
	cfg, err := flags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = qps, burst
	if qps < 0 {
		cfg.Wrap(limitInFlight(bulkInFlight))
	}
	cfg.Wrap(RequestCounter.wrap)
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	return kubernetes.NewForConfig(cfg)
}

// ClusterOf is the cluster new kubeconfigs name: its name from the current
// context (or --cluster), the server and CA from the connection the admin
// uses, so that global --server and --certificate-authority apply.
func ClusterOf(flags *genericclioptions.ConfigFlags) (kubeconfig.Cluster, error) {
	raw, err := flags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return kubeconfig.Cluster{}, err
	}
	cfg, err := flags.ToRESTConfig()
	if err != nil {
		return kubeconfig.Cluster{}, err
	}
	contextName := raw.CurrentContext
	if flags.Context != nil && *flags.Context != "" {
		contextName = *flags.Context
	}
	c := kubeconfig.Cluster{Name: "kubernetes", Server: cfg.Host, Insecure: cfg.Insecure, CA: cfg.CAData}
	if ctx, ok := raw.Contexts[contextName]; ok && ctx.Cluster != "" {
		c.Name = ctx.Cluster
	}
	if flags.ClusterName != nil && *flags.ClusterName != "" {
		c.Name = *flags.ClusterName
	}
	if len(c.CA) == 0 && cfg.CAFile != "" {
		if c.CA, err = os.ReadFile(cfg.CAFile); err != nil {
			return kubeconfig.Cluster{}, fmt.Errorf("reading the cluster CA for the new kubeconfig: %w", err)
		}
	}
	return c, nil
}
