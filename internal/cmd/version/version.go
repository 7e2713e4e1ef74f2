// Package version implements "kubeaccess version".
package version

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	buildversion "github.com/kubeaccess/kubeaccess/internal/version"
)

// Options holds the flags of "kubeaccess version".
type Options struct {
	Output string

	genericiooptions.IOStreams
}

// NewCmdVersion returns the "version" command.
func NewCmdVersion(streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the kubeaccess version",
		Args:  cmdutil.Args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run()
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml")
	return cmd
}

// Validate checks the flags.
func (o *Options) Validate() error {
	return cmdutil.ValidateOutputFormat(o.Output, "json", "yaml")
}

// Run prints the version.
func (o *Options) Run() error {
	info := buildversion.Get()
	if o.Output != "" {
		return cmdutil.PrintStructured(o.Out, o.Output, info)
	}
	build := info.GoVersion + ", " + info.Platform
	if info.Commit != "" {
		build = "commit " + info.Commit + ", built " + info.BuildDate + ", " + build
	}
	_, err := fmt.Fprintf(o.Out, "kubeaccess %s (%s)\n", info.Version, build)
	return err
}
