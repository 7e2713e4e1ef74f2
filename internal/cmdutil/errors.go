// Package cmdutil holds what every command shares: the factory of clients,
// structured output, and cobra's complaints turned into usage errors. The
// typed errors behind the exit codes are package failure's alone: commands
// use them from there.
package cmdutil

import (
	"github.com/spf13/cobra"

	"github.com/kubeaccess/kubeaccess/internal/failure"
)

// CommandUsageError turns cobra's complaint about cmd's flags or arguments
// into a usage error (exit code 2) that points at the command's help.
func CommandUsageError(cmd *cobra.Command, err error) error {
	return failure.UsageErrorf("%w\nSee '%s --help' for usage.", err, cmd.CommandPath())
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
