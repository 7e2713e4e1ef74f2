package root

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubeaccess/kubeaccess/internal/failure"
)

// execute runs argv through the root command with in-memory streams.
func execute(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	cmd := NewCmdRoot(streams, "kubeaccess")
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), failure.ExitCode(err)
}

func TestVersionJSONIsOneDocument(t *testing.T) {
	stdout, _, code := execute(t, "version", "-o", "json")
	if code != 0 {
		t.Fatalf("exit code %d", code)
	}
	var info map[string]string
	dec := json.NewDecoder(strings.NewReader(stdout))
	if err := dec.Decode(&info); err != nil {
		t.Fatalf("version -o json: %v\n%s", err, stdout)
	}
	if dec.More() {
		t.Errorf("version -o json printed more than one document:\n%s", stdout)
	}
	for _, k := range []string{"version", "goVersion", "platform"} {
		if info[k] == "" {
			t.Errorf("version -o json: %q is empty in %v", k, info)
		}
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	tests := map[string][]string{
		"unknown flag":        {"version", "--no-such-flag"},
		"bad output format":   {"version", "-o", "xml"},
		"unexpected argument": {"version", "extra"},
		"unknown command":     {"frobnicate"},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, code := execute(t, args...); code != failure.ExitUsage {
				t.Errorf("%v: exit code %d, want %d", args, code, failure.ExitUsage)
			}
		})
	}
}

func TestClusterFlagsComeFromConfigFlags(t *testing.T) {
	cmd := NewCmdRoot(genericiooptions.NewTestIOStreamsDiscard(), "kubeaccess")
	for _, name := range []string{"kubeconfig", "context", "namespace", "request-timeout", "server", "token"} {
		if cmd.PersistentFlags().Lookup(name) == nil {
			t.Errorf("global flag --%s missing", name)
		}
	}
}

func TestDisplayNameAsKubectlPlugin(t *testing.T) {
	tests := map[string]string{
		"/usr/local/bin/kubectl-access": "kubectl access",
		"kubectl-access.exe":            "kubectl access",
		"/usr/bin/kubeaccess":           "kubeaccess",
	}
	for program, want := range tests {
		if got := displayName(program); got != want {
			t.Errorf("displayName(%q) = %q, want %q", program, got, want)
		}
	}
	var help bytes.Buffer
	cmd := NewCmdRoot(genericiooptions.IOStreams{Out: &help, ErrOut: &help}, "kubectl access")
	cmd.SetArgs([]string{"--help"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(help.String(), "kubectl access [command]") {
		t.Errorf("plugin help does not use the plugin name:\n%s", help.String())
	}
}

func TestHelpIsGroupedAndGlobalFlagsAreInOptions(t *testing.T) {
	root := NewCmdRoot(genericiooptions.NewTestIOStreamsDiscard(), "kubeaccess")
	for _, c := range root.Commands() {
		if c.GroupID == "" {
			t.Errorf("command %q is in no group of the root's help", c.Name())
		}
	}
	help, _, code := execute(t, "--help")
	if code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	for _, want := range []string{"Issue access:", "See access:", "Keep track of access:", "Other commands:", `Use "kubeaccess options"`} {
		if !strings.Contains(help, want) {
			t.Errorf("root help lacks %q:\n%s", want, help)
		}
	}
	grantHelp, _, _ := execute(t, "grant", "--help")
	if strings.Contains(grantHelp, "--kubeconfig") || !strings.Contains(grantHelp, "--verb") {
		t.Errorf("grant's help should list its own flags and leave the global ones to options:\n%s", grantHelp)
	}
	options, _, _ := execute(t, "options")
	for _, want := range []string{"--kubeconfig", "--context", "--namespace", "-v, --v"} {
		if !strings.Contains(options, want) {
			t.Errorf("options lacks %q:\n%s", want, options)
		}
	}
}
