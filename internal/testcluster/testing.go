package testcluster

import (
	"context"
	"fmt"
	"os"
	"testing"
)

// Main starts one cluster for a package's tests, hands it to use, runs the
// tests and stops the cluster. It returns the exit code for os.Exit. The
// cluster's directory and logs are kept when a test failed.
func Main(m *testing.M, opts Options, use func(*Cluster)) int {
	if opts.Progress == nil {
		opts.Progress = os.Stderr
	}
	c, err := Start(context.Background(), opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	use(c)
	code := m.Run()
	if err := c.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	if msg := finish(c, code == 0); msg != "" {
		fmt.Fprintln(os.Stderr, msg)
	}
	return code
}

// StartForTest starts a cluster of its own for one test, stopped when the
// test ends; its directory is kept, and named in the log, if the test failed.
func StartForTest(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
		if msg := finish(c, !t.Failed()); msg != "" {
			t.Log(msg)
		}
	})
	return c
}

// finish removes the cluster's directory after success, or keeps it after a
// failure; it returns what the caller should tell the person.
func finish(c *Cluster, ok bool) string {
	if !ok {
		return "control-plane logs kept in " + c.Dir
	}
	if err := c.RemoveDir(); err != nil {
		return fmt.Sprintf("removing %s: %v", c.Dir, err)
	}
	return ""
}
