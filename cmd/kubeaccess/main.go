// Command kubeaccess gives people and bots access to a Kubernetes cluster and
// keeps track of that access. Installed as kubectl-access it is also the
// kubectl plugin "kubectl access".
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kubeaccess/kubeaccess/internal/cmd/root"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := root.Execute(ctx, os.Args)
	stop()
	os.Exit(code)
}
