package root

import (
	"github.com/spf13/cobra"
)

// groups sort the commands in the root's help, as kubectl's do.
var groups = []struct {
	id, title string
	commands  []string
}{
	{"issue", "Issue access:", []string{"grant", "request", "approve", "deny", "complete", "sign", "token"}},
	{"team", "A team's access as code:", []string{"apply", "diff"}},
	{"portal", "Self-service in the browser:", []string{"invite", "serve"}},
	{"inspect", "See access:", []string{"can", "who-can", "whoami", "inspect", "snapshot"}},
	{"lifecycle", "Keep track of access:", []string{"list", "renew", "credential", "revoke", "lock", "audit", "trace"}},
	{"cluster", "Run in the cluster:", []string{"controller"}},
	{"other", "Other commands:", []string{"version", "options", "completion", "help"}},
}

// usageTemplate is cobra's, without the global flags, which "options"
// lists once instead of every command's help repeating them.
const usageTemplate = `Usage:{{if .Runnable}}
  {{.UseLine}}{{end}}{{if .HasAvailableSubCommands}}
  {{.CommandPath}} [command]{{end}}{{if gt (len .Aliases) 0}}

Aliases:
  {{.NameAndAliases}}{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}{{$cmds := .Commands}}{{if eq (len .Groups) 0}}

Available Commands:{{range $cmds}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{else}}{{range $group := .Groups}}

{{.Title}}{{range $cmds}}{{if (and (eq .GroupID $group.ID) (or .IsAvailableCommand (eq .Name "help")))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{end}}{{end}}{{if and .HasParent .HasAvailableLocalFlags}}

Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableSubCommands}}

Use "{{.CommandPath}} [command] --help" for more information about a command.{{end}}
Use "{{.Root.CommandPath}} options" for a list of global command-line options (applies to all commands).
`

// groupCommands puts every command of root in its group and sets the
// usage template that leaves the global flags to "options".
func groupCommands(root *cobra.Command) {
	for _, g := range groups {
		root.AddGroup(&cobra.Group{ID: g.id, Title: g.title})
	}
	root.SetHelpCommandGroupID("other")
	root.SetCompletionCommandGroupID("other")
	for _, c := range root.Commands() {
		for _, g := range groups {
			for _, name := range g.commands {
				if c.Name() == name {
					c.GroupID = g.id
				}
			}
		}
	}
	root.SetUsageTemplate(usageTemplate)
}

// newCmdOptions prints the global flags, as "kubectl options" does.
func newCmdOptions(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "options",
		Short: "Print the flags every command takes (kubeconfig, context, namespace, -v, ...)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.Println("The following options can be passed to any command:")
			cmd.Println()
			cmd.Print(root.PersistentFlags().FlagUsages())
			return nil
		},
	}
}
