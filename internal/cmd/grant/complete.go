package grant

import (
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
)

// Client-side rate limits: a grant makes a few dozen requests in a burst
// (discovery, access reviews) and must not wait on client-go's default of 5 QPS.
const (
	clientQPS   = 100
	clientBurst = 200
)

// Complete resolves the user, namespace, clients and the cluster entry the
// new kubeconfig will copy. It loads configuration but makes no API request.
func (o *Options) Complete(flags *genericclioptions.ConfigFlags, args []string) error {
	o.User = args[0]
	loader := flags.ToRawKubeConfigLoader()
	var err error
	if o.namespace, _, err = loader.Namespace(); err != nil {
		return err
	}
	if o.restConfig, err = flags.ToRESTConfig(); err != nil {
		return err
	}
	o.restConfig = rest.CopyConfig(o.restConfig)
	o.restConfig.QPS, o.restConfig.Burst = clientQPS, clientBurst
	// Built-in types only: protobuf is smaller and much quicker to encode
	// and decode than JSON, which matters for lists such as all
	// ClusterRoleBindings.
	o.restConfig.ContentType = runtime.ContentTypeProtobuf
	o.restConfig.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	if o.client, err = kubernetes.NewForConfig(o.restConfig); err != nil {
		return err
	}
	if o.discovery, err = flags.ToDiscoveryClient(); err != nil {
		return err
	}
	return o.completeCluster(flags)
}

// completeCluster takes the cluster name from the current context and the
// server and CA from the connection the admin uses (so global --server and
// --certificate-authority apply), with --server-url overriding the server.
func (o *Options) completeCluster(flags *genericclioptions.ConfigFlags) error {
	raw, err := flags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return err
	}
	contextName := raw.CurrentContext
	if flags.Context != nil && *flags.Context != "" {
		contextName = *flags.Context
	}
	o.cluster.name = "kubernetes"
	if ctx, ok := raw.Contexts[contextName]; ok && ctx.Cluster != "" {
		o.cluster.name = ctx.Cluster
	}
	if flags.ClusterName != nil && *flags.ClusterName != "" {
		o.cluster.name = *flags.ClusterName
	}
	o.cluster.server = o.restConfig.Host
	if o.Server != "" {
		o.cluster.server = o.Server
	}
	o.cluster.insecure = o.restConfig.Insecure
	o.cluster.ca = o.restConfig.CAData
	if len(o.cluster.ca) == 0 && o.restConfig.CAFile != "" {
		if o.cluster.ca, err = os.ReadFile(o.restConfig.CAFile); err != nil {
			return fmt.Errorf("reading the cluster CA for the new kubeconfig: %w", err)
		}
	}
	if o.Offline && (o.cluster.server == "" || len(o.cluster.ca) == 0 && !o.cluster.insecure) {
		return cmdutil.UsageErrorf("--offline needs the API server's URL and CA for the new kubeconfig: " +
			"from the current context, or --server-url and --certificate-authority")
	}
	return nil
}
