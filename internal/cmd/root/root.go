// Package root assembles the kubeaccess command tree and runs it.
package root

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/klog/v2"

	"github.com/kubeaccess/kubeaccess/internal/cmd/apply"
	"github.com/kubeaccess/kubeaccess/internal/cmd/approve"
	"github.com/kubeaccess/kubeaccess/internal/cmd/audit"
	"github.com/kubeaccess/kubeaccess/internal/cmd/can"
	"github.com/kubeaccess/kubeaccess/internal/cmd/complete"
	"github.com/kubeaccess/kubeaccess/internal/cmd/completion"
	"github.com/kubeaccess/kubeaccess/internal/cmd/controller"
	"github.com/kubeaccess/kubeaccess/internal/cmd/credential"
	"github.com/kubeaccess/kubeaccess/internal/cmd/deny"
	"github.com/kubeaccess/kubeaccess/internal/cmd/grant"
	"github.com/kubeaccess/kubeaccess/internal/cmd/inspect"
	"github.com/kubeaccess/kubeaccess/internal/cmd/invite"
	"github.com/kubeaccess/kubeaccess/internal/cmd/list"
	"github.com/kubeaccess/kubeaccess/internal/cmd/lock"
	"github.com/kubeaccess/kubeaccess/internal/cmd/renew"
	"github.com/kubeaccess/kubeaccess/internal/cmd/request"
	"github.com/kubeaccess/kubeaccess/internal/cmd/revoke"
	"github.com/kubeaccess/kubeaccess/internal/cmd/serve"
	"github.com/kubeaccess/kubeaccess/internal/cmd/sign"
	"github.com/kubeaccess/kubeaccess/internal/cmd/snapshot"
	"github.com/kubeaccess/kubeaccess/internal/cmd/token"
	"github.com/kubeaccess/kubeaccess/internal/cmd/trace"
	"github.com/kubeaccess/kubeaccess/internal/cmd/version"
	"github.com/kubeaccess/kubeaccess/internal/cmd/whoami"
	"github.com/kubeaccess/kubeaccess/internal/cmd/whocan"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/failure"
)

// pluginBinary is the name under which kubectl finds kubeaccess as a plugin.
const pluginBinary = "kubectl-access"

// NewCmdRoot builds the command tree. displayName is how the tool was invoked
// ("kubeaccess", or "kubectl access" when run as a kubectl plugin) and is used
// in help and completion text.
func NewCmdRoot(streams genericiooptions.IOStreams, displayName string) *cobra.Command {
	configFlags := genericclioptions.NewConfigFlags(true)
	review := &cmdutil.ReviewFlags{}
	cmd := newCmdRoot(streams, displayName, configFlags, cmdutil.NewFactory(configFlags, review))
	review.AddFlags(cmd.PersistentFlags())
	return cmd
}

// newCmdRoot builds the tree with f as the commands' factory (tests give
// one of fakes); configFlags are the kubectl flags it registers.
func newCmdRoot(streams genericiooptions.IOStreams, displayName string, configFlags *genericclioptions.ConfigFlags, f cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kubeaccess",
		Short: "Give people and bots access to a Kubernetes cluster, safely, and keep track of it",
		Long: `kubeaccess issues Kubernetes credentials (client certificates through the
CSR API or an offline CA, or service-account tokens), binds RBAC, writes a
ready kubeconfig, verifies that it grants exactly what was asked, and keeps
track of that access until it is revoked.`,
		// Without subcommand matches, an argument is an unknown command.
		Args:          cmdutil.Args(cobra.NoArgs),
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: displayName},
	}
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	cmd.SetFlagErrorFunc(cmdutil.CommandUsageError)
	configFlags.AddFlags(cmd.PersistentFlags())
	addLogFlags(cmd)

	cmd.AddCommand(
		grant.NewCmdGrant(f, streams),
		apply.NewCmdApply(f, streams),
		invite.NewCmdInvite(f, streams),
		serve.NewCmdServe(f, streams),
		controller.NewCmdController(f, streams),
		apply.NewCmdDiff(f, streams),
		request.NewCmdRequest(f, streams),
		approve.NewCmdApprove(f, streams),
		audit.NewCmdAudit(f, streams),
		can.NewCmdCan(f, streams),
		whocan.NewCmdWhoCan(f, streams),
		deny.NewCmdDeny(f, streams),
		complete.NewCmdComplete(streams),
		credential.NewCmdCredential(streams),
		sign.NewCmdSign(f, streams),
		snapshot.NewCmdSnapshot(f, streams),
		inspect.NewCmdInspect(streams),
		list.NewCmdList(f, streams),
		revoke.NewCmdRevoke(f, streams),
		lock.NewCmdLock(f, configFlags, streams),
		renew.NewCmdRenew(f, streams),
		token.NewCmdToken(f, streams),
		trace.NewCmdTrace(f, streams),
		version.NewCmdVersion(configFlags, streams),
		whoami.NewCmdWhoAmI(configFlags, streams),
	)
	cmd.AddCommand(newCmdOptions(cmd))
	groupCommands(cmd)
	completion.Register(cmd, configFlags)
	return cmd
}

// Execute runs the command line args (args[0] is the program) and returns the
// process exit code, having printed any error to stderr.
func Execute(ctx context.Context, args []string) int {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	cmd := NewCmdRoot(streams, displayName(args[0]))
	cmd.SetArgs(args[1:])
	err := cmd.ExecuteContext(ctx)
	if err != nil && !failure.Silent(err) {
		fmt.Fprintf(streams.ErrOut, "error: %v\n", err)
	}
	return failure.ExitCode(err)
}

// addLogFlags adds kubectl's -v: at 6 and above client-go logs each
// request with its latency.
func addLogFlags(cmd *cobra.Command) {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	v := pflag.PFlagFromGoFlag(fs.Lookup("v"))
	v.Shorthand = "v"
	cmd.PersistentFlags().AddFlag(v)
}

// displayName returns "kubectl access" when the binary runs as a kubectl plugin.
func displayName(program string) string {
	if strings.TrimSuffix(filepath.Base(program), ".exe") == pluginBinary {
		return "kubectl access"
	}
	return "kubeaccess"
}
