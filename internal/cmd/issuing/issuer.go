package issuing

import (
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// Client-side rate limits: issuing makes a few dozen requests in a burst
// (discovery, access reviews) and must not wait on client-go's default of 5 QPS.
const (
	clientQPS   = 100
	clientBurst = 200
)

// Issuer is the admin's side of an issuing command: the flags, the
// connection to the cluster, and the cluster entry new kubeconfigs copy.
type Issuer struct {
	*Flags
	Namespace  string
	RESTConfig *rest.Config
	Client     kubernetes.Interface
	Discovery  discovery.CachedDiscoveryInterface
	Cluster    Cluster
	// Identity is who issues, as the API server sees them (Preflight
	// asks); nil when the server cannot say.
	Identity *verify.Identity
	ErrOut   io.Writer
}

// Cluster is what a new kubeconfig copies from the admin's.
type Cluster struct {
	Name     string
	Server   string
	CA       []byte
	Insecure bool
}

// NewIssuer resolves the namespace, clients and cluster entry. It loads
// configuration but makes no API request.
func NewIssuer(flags *Flags, config *genericclioptions.ConfigFlags, errOut io.Writer) (*Issuer, error) {
	is := &Issuer{Flags: flags, ErrOut: errOut}
	loader := config.ToRawKubeConfigLoader()
	var err error
	if is.Namespace, _, err = loader.Namespace(); err != nil {
		return nil, err
	}
	cfg, err := config.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	is.RESTConfig = rest.CopyConfig(cfg)
	is.RESTConfig.QPS, is.RESTConfig.Burst = clientQPS, clientBurst
	// Built-in types only: protobuf is smaller and much quicker to encode
	// and decode than JSON, which matters for lists such as all
	// ClusterRoleBindings.
	is.RESTConfig.ContentType = runtime.ContentTypeProtobuf
	is.RESTConfig.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	if is.Client, err = kubernetes.NewForConfig(is.RESTConfig); err != nil {
		return nil, err
	}
	if is.Discovery, err = config.ToDiscoveryClient(); err != nil {
		return nil, err
	}
	return is, is.completeCluster(config)
}

// Validate checks the flags and the namespace without I/O.
func (is *Issuer) Validate() error {
	if err := is.Flags.Validate(); err != nil {
		return cmdutil.UsageErrorf("%w", err)
	}
	if errs := validation.ValidateNamespaceName(is.Namespace, false); len(errs) > 0 {
		return cmdutil.UsageErrorf("namespace %q is not a valid name: %s", is.Namespace, errs[0])
	}
	return nil
}

// completeCluster takes the cluster name from the current context and the
// server and CA from the connection the admin uses (so global --server and
// --certificate-authority apply), with --server-url overriding the server.
func (is *Issuer) completeCluster(config *genericclioptions.ConfigFlags) error {
	raw, err := config.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return err
	}
	contextName := raw.CurrentContext
	if config.Context != nil && *config.Context != "" {
		contextName = *config.Context
	}
	is.Cluster.Name = "kubernetes"
	if ctx, ok := raw.Contexts[contextName]; ok && ctx.Cluster != "" {
		is.Cluster.Name = ctx.Cluster
	}
	if config.ClusterName != nil && *config.ClusterName != "" {
		is.Cluster.Name = *config.ClusterName
	}
	is.Cluster.Server = is.RESTConfig.Host
	if is.Server != "" {
		is.Cluster.Server = is.Server
	}
	is.Cluster.Insecure = is.RESTConfig.Insecure
	is.Cluster.CA = is.RESTConfig.CAData
	if len(is.Cluster.CA) == 0 && is.RESTConfig.CAFile != "" {
		if is.Cluster.CA, err = os.ReadFile(is.RESTConfig.CAFile); err != nil {
			return fmt.Errorf("reading the cluster CA for the new kubeconfig: %w", err)
		}
	}
	return nil
}
