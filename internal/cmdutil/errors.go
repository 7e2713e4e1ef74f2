// Package cmdutil holds what every command shares: the factory of clients,
// structured output, and cobra's complaints turned into usage errors. The
// typed errors behind the exit codes live in package failure.
package cmdutil

import (
	"github.com/spf13/cobra"

	"github.com/kubeaccess/kubeaccess/internal/failure"
)

// The exit codes, as package failure documents them.
const (
	ExitError = failure.ExitError
	ExitUsage = failure.ExitUsage
)

// UsageErrorf is failure.UsageErrorf.
func UsageErrorf(format string, args ...any) error { return failure.UsageErrorf(format, args...) }

// DeniedErrorf is failure.DeniedErrorf.
func DeniedErrorf(format string, args ...any) error { return failure.DeniedErrorf(format, args...) }

// ExitSilently is failure.ExitSilently.
func ExitSilently(code int) error { return failure.ExitSilently(code) }

// Silent is failure.Silent.
func Silent(err error) bool { return failure.Silent(err) }

// ExitCode is failure.ExitCode.
func ExitCode(err error) int { return failure.ExitCode(err) }

// CommandUsageError turns cobra's complaint about cmd's flags or arguments
// into a usage error (exit code 2) that points at the command's help.
func CommandUsageError(cmd *cobra.Command, err error) error {
	return UsageErrorf("%w\nSee '%s --help' for usage.", err, cmd.CommandPath())
}

// Args wraps a cobra argument validator so its complaint is a CommandUsageError.
func Args(validate cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := validate(cmd, args); err != nil {
			return CommandUsageError(cmd, err)
		}
		return nil
	}
}
