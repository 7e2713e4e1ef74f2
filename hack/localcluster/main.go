// Command localcluster starts and stops the real local control plane for a
// person to try kubeaccess against ("make cluster", "make cluster-down").
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"

	"github.com/kubeaccess/kubeaccess/internal/testcluster"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	flags := flag.NewFlagSet("localcluster", flag.ContinueOnError)
	dir := flags.String("dir", ".cluster", "directory for the cluster's certificates, data, logs and pids")
	noSigner := flags.Bool("no-signer", false, "run without the csrsigning controller")
	if len(args) == 0 {
		return errors.New("usage: localcluster up|down [--dir DIR] [--no-signer]")
	}
	if err := flags.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "up":
		return up(*dir, *noSigner)
	case "down":
		return down(*dir)
	}
	return fmt.Errorf("unknown action %q: use up or down", args[0])
}

func up(dir string, noSigner bool) error {
	if server, kubeconfig, running, err := testcluster.LoadSaved(dir); err == nil && running {
		fmt.Fprintf(os.Stderr, "a cluster is already running at %s (stop it with: make cluster-down)\n", server)
		fmt.Printf("export KUBECONFIG=%s\n", kubeconfig)
		return nil
	} else if err == nil {
		return fmt.Errorf("%s holds a cluster that is no longer fully running; run make cluster-down first", dir)
	}
	c, err := testcluster.Start(context.Background(), testcluster.Options{Dir: dir, NoSigner: noSigner, Detach: true, Progress: os.Stderr})
	if err != nil {
		return err
	}
	if err := c.Save(); err != nil {
		return errors.Join(err, c.Stop())
	}
	fmt.Fprintf(os.Stderr, "control plane running at %s; stop it with: make cluster-down\n", c.Server)
	fmt.Printf("export KUBECONFIG=%s\n", c.AdminKubeconfig)
	return nil
}

func down(dir string) error {
	if err := testcluster.StopSaved(dir); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "no cluster recorded in %s\n", dir)
		return nil
	} else if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "stopped the cluster in %s\n", dir)
	return os.RemoveAll(dir)
}
