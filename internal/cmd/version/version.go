// Package version implements "kubeaccess version": the build of kubeaccess
// and, when a cluster is reachable, its API server's version, with a
// warning outside the range kubeaccess is tested against.
package version

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/discovery"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	buildversion "github.com/kubeaccess/kubeaccess/internal/version"
)

// The Kubernetes minor versions the e2e suite runs against (make test and
// make test-compat).
const (
	OldestTestedMinor = 31
	NewestTestedMinor = 37
)

// Options holds the flags of "kubeaccess version".
type Options struct {
	Output string
	Client bool

	flags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams
}

var _ cmdutil.Options = (*Options)(nil)

// Info is what version prints with -o json|yaml.
type Info struct {
	buildversion.Info
	ServerVersion string `json:"serverVersion,omitempty"`
}

// NewCmdVersion returns the "version" command.
func NewCmdVersion(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{IOStreams: streams, flags: flags}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the kubeaccess version, and the API server's",
		Args:  cmdutil.Args(cobra.NoArgs),
		RunE:  cmdutil.RunE(nil, o),
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml")
	cmd.Flags().BoolVar(&o.Client, "client", false, "Print only kubeaccess's version, asking no server")
	return cmd
}

// Validate checks the flags.
func (o *Options) Validate() error {
	return cmdutil.ValidateOutputFormat(o.Output, "json", "yaml")
}

// Run prints the version, and the server's when it answers.
// Complete: version takes no arguments, and builds its client only when
// it asks the server.
func (o *Options) Complete(cmdutil.Factory, []string) error { return nil }

// Run prints the versions.
func (o *Options) Run(ctx context.Context) error {
	flags := o.flags
	info := Info{Info: buildversion.Get()}
	if !o.Client {
		info.ServerVersion = serverVersion(ctx, flags)
	}
	if warning := rangeWarning(info.ServerVersion); warning != "" {
		fmt.Fprintf(o.ErrOut, "warning: %s\n", warning)
	}
	if o.Output != "" {
		return cmdutil.PrintStructured(o.Out, o.Output, info)
	}
	build := info.GoVersion + ", " + info.Platform
	if info.Commit != "" {
		build = "commit " + info.Commit + ", built " + info.BuildDate + ", " + build
	}
	if _, err := fmt.Fprintf(o.Out, "kubeaccess %s (%s)\n", info.Version, build); err != nil {
		return err
	}
	if info.ServerVersion != "" {
		_, err := fmt.Fprintf(o.Out, "server: Kubernetes %s\n", info.ServerVersion)
		return err
	}
	return nil
}

// serverVersion asks the API server briefly; "" when none answers.
func serverVersion(ctx context.Context, flags *genericclioptions.ConfigFlags) string {
	cfg, err := flags.ToRESTConfig()
	if err != nil {
		return ""
	}
	cfg.Timeout = 3 * time.Second
	client, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return ""
	}
	v, err := client.ServerVersion()
	if err != nil || ctx.Err() != nil {
		return ""
	}
	return v.GitVersion
}

// rangeWarning says when the server is outside the tested range.
func rangeWarning(version string) string {
	if version == "" {
		return ""
	}
	parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3)
	if len(parts) < 2 {
		return ""
	}
	minor, err := strconv.Atoi(strings.TrimRight(parts[1], "+"))
	if err != nil || parts[0] != "1" {
		return fmt.Sprintf("the API server's version %q is not one kubeaccess knows", version)
	}
	if minor < OldestTestedMinor || minor > NewestTestedMinor {
		return fmt.Sprintf("the API server runs Kubernetes %s; kubeaccess is tested against v1.%d to v1.%d", version, OldestTestedMinor, NewestTestedMinor)
	}
	return ""
}
