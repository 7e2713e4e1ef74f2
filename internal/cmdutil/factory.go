package cmdutil

import (
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
)

// Factory is the one way a command gets its clients, discovery and
// namespace: from the kubectl flags when run, from fakes in tests.
type Factory interface {
	// Client is a client allowed the bursts of review requests kubeaccess
	// makes.
	Client() (kubernetes.Interface, error)
	// BulkClient is a client for many credentials issued at once (apply,
	// the portal): no client-side limit, the API server's priority and
	// fairness paces it.
	BulkClient() (kubernetes.Interface, error)
	// Discovery is the server's API discovery, cached on disk as kubectl
	// caches it.
	Discovery() (discovery.CachedDiscoveryInterface, error)
	// Namespace is -n, or the current context's namespace.
	Namespace() (string, error)
	// Cluster is the cluster new kubeconfigs name, as the admin reaches it.
	// It reads configuration but makes no request.
	Cluster() (kubeconfig.Cluster, error)
	// Dynamic is a client for custom resources (TeamAccess).
	Dynamic() (dynamic.Interface, error)
	// FullReview reports whether privilege reviews must ask one
	// SubjectAccessReview per question (--full-privilege-review), where
	// they would otherwise use rules reviews made impersonating the
	// identity: also when the connection itself impersonates (--as), so
	// that kubeaccess never impersonates with authority other than the one
	// it was given.
	FullReview() bool
}

// ReviewFlags choose how privilege reviews are asked.
type ReviewFlags struct {
	Full bool
}

// AddFlags registers --full-privilege-review.
func (r *ReviewFlags) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&r.Full, "full-privilege-review", false,
		"ask one SubjectAccessReview per question of the privilege review, instead of one rules review per identity where that is the whole answer (the same answers, slower; for comparison)")
}

// NewFactory returns the Factory of the kubectl flags.
func NewFactory(flags *genericclioptions.ConfigFlags, review *ReviewFlags) Factory {
	return flagsFactory{flags, review}
}

type flagsFactory struct {
	flags  *genericclioptions.ConfigFlags
	review *ReviewFlags
}

func (f flagsFactory) FullReview() bool {
	if f.review != nil && f.review.Full {
		return true
	}
	cfg, err := f.flags.ToRESTConfig()
	return err != nil || cfg.Impersonate.UserName != "" || cfg.Impersonate.UID != "" || len(cfg.Impersonate.Groups) > 0
}

func (f flagsFactory) Client() (kubernetes.Interface, error) { return NewClient(f.flags) }

func (f flagsFactory) BulkClient() (kubernetes.Interface, error) {
	return newClient(f.flags, bulkQPS, 0)
}

func (f flagsFactory) Discovery() (discovery.CachedDiscoveryInterface, error) {
	return f.flags.ToDiscoveryClient()
}

func (f flagsFactory) Cluster() (kubeconfig.Cluster, error) { return ClusterOf(f.flags) }

func (f flagsFactory) Dynamic() (dynamic.Interface, error) {
	cfg, err := f.flags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	return dynamic.NewForConfig(cfg)
}

func (f flagsFactory) Namespace() (string, error) {
	ns, _, err := f.flags.ToRawKubeConfigLoader().Namespace()
	return ns, err
}

// TestFactory is a Factory of given clients, for tests with client-go's
// fakes.
type TestFactory struct {
	Clientset   kubernetes.Interface
	DiscoveryOf discovery.CachedDiscoveryInterface
	// NamespaceName is the context's namespace; Flags, when set, are the
	// command line's, whose -n wins as it does on a cluster.
	NamespaceName string
	Flags         *genericclioptions.ConfigFlags
	// ClusterEntry is the cluster new kubeconfigs name.
	ClusterEntry kubeconfig.Cluster
	// DynamicClient serves custom resources.
	DynamicClient dynamic.Interface
	// Full is FullReview's answer.
	Full bool
}

// FullReview is f.Full.
func (f TestFactory) FullReview() bool { return f.Full }

// Dynamic returns the test's dynamic client.
func (f TestFactory) Dynamic() (dynamic.Interface, error) { return f.DynamicClient, nil }

// Cluster returns the test's cluster entry.
func (f TestFactory) Cluster() (kubeconfig.Cluster, error) { return f.ClusterEntry, nil }

// Client returns the test's clientset.
func (f TestFactory) Client() (kubernetes.Interface, error) { return f.Clientset, nil }

// BulkClient returns the test's clientset.
func (f TestFactory) BulkClient() (kubernetes.Interface, error) { return f.Clientset, nil }

// Discovery returns the test's discovery.
func (f TestFactory) Discovery() (discovery.CachedDiscoveryInterface, error) {
	return f.DiscoveryOf, nil
}

// Namespace returns -n, else the test's namespace, else default.
func (f TestFactory) Namespace() (string, error) {
	switch {
	case f.Flags != nil && f.Flags.Namespace != nil && *f.Flags.Namespace != "":
		return *f.Flags.Namespace, nil
	case f.NamespaceName != "":
		return f.NamespaceName, nil
	}
	return "default", nil
}
