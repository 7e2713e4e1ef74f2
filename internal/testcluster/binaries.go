package testcluster

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BinDirEnv names the directory of prebuilt control-plane binaries; the
// Makefile sets it so tests do not each ask the build script.
const BinDirEnv = "KUBEACCESS_CONTROL_PLANE_BIN"

// Binaries are the programs a cluster needs in its BinDir.
var Binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kubectl"}

const buildScript = "hack/control-plane-bins.sh"

// FindBinaries returns the directory of the control-plane binaries: the one
// named by $KUBEACCESS_CONTROL_PLANE_BIN, or else the cache filled by
// hack/control-plane-bins.sh, which builds them on first use (about 20
// minutes; its progress goes to progress, or to stderr when nil).
func FindBinaries(progress io.Writer) (string, error) {
	dir := os.Getenv(BinDirEnv)
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			return "", fmt.Errorf("$%s is not set and %w", BinDirEnv, err)
		}
		if progress == nil {
			progress = os.Stderr
		}
		var out bytes.Buffer
		cmd := exec.Command("bash", filepath.Join(root, buildScript))
		cmd.Stdout, cmd.Stderr = &out, progress
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("building the control plane with %s: %w", buildScript, err)
		}
		dir = strings.TrimSpace(out.String())
	}
	for _, b := range Binaries {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("control-plane binary %s missing from %s (run %s): %w", b, dir, buildScript, err)
		}
	}
	return dir, nil
}

// repoRoot finds the checkout containing the build script, from the working
// directory upwards (go test runs in the package's directory).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, buildScript)); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no %s found above the working directory", buildScript)
		}
		dir = parent
	}
}
