// Package e2e drives the built kubeaccess binary and the real kubectl
// against a real control plane started on loopback.
package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubeaccess/kubeaccess/internal/testcluster"
)

var (
	// cluster is the control plane shared by this package's tests.
	cluster *testcluster.Cluster
	// kubeaccessBin is the kubeaccess binary built for this test run.
	kubeaccessBin string
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kubeaccess-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// kubectl and kubeaccess cache discovery per server address; each test
	// cluster has a new one, so keep those caches out of ~/.kube.
	os.Setenv("KUBECACHEDIR", filepath.Join(dir, "cache"))
	kubeaccessBin = filepath.Join(dir, "kubeaccess")
	build := exec.Command("go", "build", "-o", kubeaccessBin, "github.com/kubeaccess/kubeaccess/cmd/kubeaccess")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building kubeaccess:", err)
		return 1
	}
	return testcluster.Main(m, testcluster.Options{}, func(c *testcluster.Cluster) { cluster = c })
}

// result is what a finished command printed and how it exited.
type result struct {
	stdout, stderr string
	code           int
}

// run executes bin with args and KUBECONFIG set to kubeconfig.
func run(t *testing.T, kubeconfig, bin string, args ...string) result {
	t.Helper()
	return runIn(t, "", kubeconfig, bin, args...)
}

// runIn is run in working directory dir.
func runIn(t *testing.T, dir, kubeconfig, bin string, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	return execute(t, cmd)
}

// runWithStdin runs bin with stdin, and no kubeconfig set.
func runWithStdin(t *testing.T, stdin []byte, bin string, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(t.TempDir(), "none"))
	cmd.Stdin = bytes.NewReader(stdin)
	return execute(t, cmd)
}

func execute(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("running %v: %v", cmd.Args, err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// kubeaccess runs the built kubeaccess binary.
func kubeaccess(t *testing.T, kubeconfig string, args ...string) result {
	t.Helper()
	return run(t, kubeconfig, kubeaccessBin, args...)
}

// afterTest runs kubeaccess with args as the admin when the test ends,
// whatever became of it: other tests share this cluster, so a test leaves
// no access (or lock) of its own behind. The test's context has ended by
// then; this one has not.
func afterTest(t *testing.T, args ...string) {
	t.Helper()
	t.Cleanup(func() {
		cmd := exec.Command(kubeaccessBin, args...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+cluster.AdminKubeconfig)
		_ = cmd.Run()
	})
}

// currentUser is the user entry of the current context of the kubeconfig
// at path.
func currentUser(t *testing.T, path string) *clientcmdapi.AuthInfo {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	c, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok || cfg.AuthInfos[c.AuthInfo] == nil {
		t.Fatalf("%s has no user for its current context %q", path, cfg.CurrentContext)
	}
	return cfg.AuthInfos[c.AuthInfo]
}

// kubectl runs the real kubectl built with the control plane.
func kubectl(t *testing.T, kubeconfig string, args ...string) result {
	t.Helper()
	return run(t, kubeconfig, cluster.Kubectl(), args...)
}

// mustFailWith fails the test unless r exited with code and its stderr
// contains want.
func mustFailWith(t *testing.T, what string, r result, code int, want string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.stderr, want) {
		t.Fatalf("%s: exit code %d (want %d), stderr does not contain %q:\n%s", what, r.code, code, want, r.stderr)
	}
}

// mustSucceed fails the test unless r exited 0.
func mustSucceed(t *testing.T, what string, r result) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: exit code %d\nstdout:\n%s\nstderr:\n%s", what, r.code, r.stdout, r.stderr)
	}
}

// countingListener accepts and closes connections on loopback, counting
// them: an address that must never be dialled.
func countingListener(t *testing.T) (net.Listener, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var connections atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			connections.Add(1)
			c.Close()
		}
	}()
	return ln, &connections
}

// decodeItems decodes a kubeaccess list printed with -o json (a KindList
// of items) into T; an item's own kind, printed as <kind>Kind, is put
// back in place of the printed kind.
func decodeItems[T any](t *testing.T, what, stdout string) []T {
	t.Helper()
	var list struct {
		Kind  string            `json:"kind"`
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal([]byte(stdout), &list); err != nil || !strings.HasSuffix(list.Kind, "List") {
		t.Fatalf("%s -o json is not a list (%v):\n%s", what, err, stdout)
	}
	out := make([]T, len(list.Items))
	for i, raw := range list.Items {
		out[i] = decodeSummary[T](t, what, raw)
	}
	return out
}

// decodeSummary decodes one object kubeaccess printed with -o json into
// T, with the object's own kind (<kind>Kind) back in place as kind.
func decodeSummary[T any](t *testing.T, what string, raw []byte) T {
	t.Helper()
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatalf("%s -o json: %v\n%s", what, err, raw)
	}
	kind, _ := fields["kind"].(string)
	if kind != "" {
		if own, ok := fields[strings.ToLower(kind[:1])+kind[1:]+"Kind"]; ok {
			fields["kind"] = own
		}
	}
	data, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s -o json: %v\n%s", what, err, raw)
	}
	return v
}
