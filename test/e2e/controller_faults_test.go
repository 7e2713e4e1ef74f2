package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// faultTeam writes a TeamAccess, authored by the admin, whose service
// accounts ctl-fault/sa-FROM .. sa-(TO-1) may list pods in ctl-fault.
func faultTeam(t *testing.T, dir string, from, to int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("apiVersion: kubeaccess.io/v1alpha1\nkind: TeamAccess\nmetadata:\n  name: ctl-fault\nspec:\n  roles:\n    reader:\n      rules:\n      - verbs: [list]\n        resources: [pods]\n  serviceAccounts:\n")
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "  - name: ctl-fault/sa-%d\n    access:\n    - role: reader\n      namespaces: [ctl-fault]\n", i)
	}
	file := filepath.Join(dir, fmt.Sprintf("team-%d-%d.yaml", from, to))
	writeFile(t, file, b.String())
	return authored(t, cluster.AdminKubeconfig, file)
}

// boundAccounts are the service accounts the team's bindings name, sorted.
func boundAccounts(t *testing.T) []string {
	t.Helper()
	r := kubectl(t, cluster.AdminKubeconfig, "get", "rolebindings", "-n", "ctl-fault", "-l", "kubeaccess.io/team=ctl-fault", "-o", "jsonpath={.items[*].subjects[*].name}")
	names := strings.Fields(r.stdout)
	slices.Sort(names)
	return names
}

func accounts(from, to int) []string {
	var names []string
	for i := from; i < to; i++ {
		names = append(names, fmt.Sprintf("sa-%d", i))
	}
	slices.Sort(names)
	return names
}

// The controller comes to the TeamAccess as it is, whatever happens on
// the way: its leader killed in the middle of a reconcile, the
// TeamAccess changed twice while a reconcile runs, the API server paused
// for longer than the lease (the leader loses it and exits, as a pod
// would be restarted; a standby takes over), etcd killed and restarted.
func TestControllerConvergesAfterFaults(t *testing.T) {
	kc := controllerKubeconfig(t)
	a := startController(t, kc, "fault-a", "fault-lease")
	waitUntil(t, "a replica leads", 30*time.Second, a.leading)
	b := startController(t, kc, "fault-b", "fault-lease")
	dir := t.TempDir()
	converged := func(want []string) func() bool {
		return func() bool { return slices.Equal(boundAccounts(t), want) }
	}

	// The leader killed mid-reconcile: the standby finishes the work.
	mustSucceed(t, "kubectl apply 60 accounts", kubectl(t, cluster.AdminKubeconfig, "apply", "-f", faultTeam(t, dir, 0, 60)))
	waitUntil(t, "the reconcile has begun", 20*time.Second, func() bool {
		return len(boundAccounts(t)) > 0 || strings.Contains(kubectl(t, cluster.AdminKubeconfig, "get", "sa", "-n", "ctl-fault", "-o", "name").stdout, "sa-")
	})
	a.stop(syscall.SIGKILL)
	t.Logf("fault-a killed with %d of 60 accounts bound", len(boundAccounts(t)))
	waitUntil(t, "fault-b takes over", 30*time.Second, b.leading)
	waitUntil(t, "every account bound after the failover", 60*time.Second, converged(accounts(0, 60)))

	// Changed twice while a reconcile runs: the last spec wins, exactly.
	mustSucceed(t, "kubectl apply 20..79", kubectl(t, cluster.AdminKubeconfig, "apply", "-f", faultTeam(t, dir, 20, 80)))
	mustSucceed(t, "kubectl apply 30..69 at once", kubectl(t, cluster.AdminKubeconfig, "apply", "-f", faultTeam(t, dir, 30, 70)))
	waitUntil(t, "the last spec's accounts bound, and only they", 60*time.Second, converged(accounts(30, 70)))

	// The API server paused past the lease: the leader loses it and
	// exits; a replica started in its place (as the Deployment does)
	// and the standby contend, and one reconciles the next change.
	api := cluster.PIDOf("kube-apiserver")
	if api == 0 {
		t.Fatal("no kube-apiserver pid")
	}
	if err := syscall.Kill(api, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(8 * time.Second)
	if err := syscall.Kill(api, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.done:
		t.Logf("fault-b lost the lease while the API server was paused, and exited")
	case <-time.After(20 * time.Second):
		t.Logf("fault-b kept the lease through the pause")
	}
	c := startController(t, kc, "fault-c", "fault-lease")
	mustSucceed(t, "kubectl apply 0..9", kubectl(t, cluster.AdminKubeconfig, "apply", "-f", faultTeam(t, dir, 0, 10)))
	waitUntil(t, "the change after the pause reconciled", 60*time.Second, converged(accounts(0, 10)))
	if !c.leading() && !b.leading() {
		t.Errorf("no replica leads after the pause")
	}

	// etcd killed and started again on its data, some seconds later: the
	// API server fails every request meanwhile, the watches break, the
	// leader may lose its lease. What was made is still there, and the
	// next change is reconciled by whichever replica leads.
	etcd := cluster.PIDOf("etcd")
	if err := cluster.Kill("etcd"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(6 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cluster.Restart(ctx, "etcd"); err != nil {
		t.Fatal(err)
	}
	if again := cluster.PIDOf("etcd"); again == 0 || again == etcd {
		t.Fatalf("etcd was not started again: pid %d, was %d", again, etcd)
	}
	select {
	case <-c.done:
		t.Logf("fault-c lost the lease while etcd was down, and exited")
	default:
		t.Logf("fault-c still runs after etcd restarted")
	}
	if got := boundAccounts(t); !slices.Equal(got, accounts(0, 10)) {
		t.Errorf("after etcd restarted the team's bindings name %v, want %v", got, accounts(0, 10))
	}
	d := startController(t, kc, "fault-d", "fault-lease")
	mustSucceed(t, "kubectl apply 5..15", kubectl(t, cluster.AdminKubeconfig, "apply", "-f", faultTeam(t, dir, 5, 15)))
	waitUntil(t, "the change after etcd restarted reconciled", 60*time.Second, converged(accounts(5, 15)))
	if !b.leading() && !c.leading() && !d.leading() {
		t.Errorf("no replica leads after etcd restarted")
	}
}
