package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubeaccess/kubeaccess/internal/lock"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

// kubeaccess lock denies one credential's writes and exec at once, and
// not its reads nor another credential of the same user; lock USER takes
// them all; --remove undoes it; the controller removes a lock once its
// credential has expired.
func TestLockDeniesACredentialsWritesAtOnce(t *testing.T) {
	if !credentialIDsForCertificates(t) {
		t.Fatalf("this API server (minor %d) names no certificate's credential ID; lock needs 1.32 or later", serverMinor(t))
	}
	dir := t.TempDir()
	first, second := filepath.Join(dir, "lena.kubeconfig"), filepath.Join(dir, "lena2.kubeconfig")
	granted := grantJSON(t, cluster.AdminKubeconfig, "lena", "-n", "lock-ns", "--verb", "create,get,list,delete", "--resource", "configmaps", "--out", first)
	grantJSON(t, cluster.AdminKubeconfig, "lena", "-n", "lock-ns", "--out", second)
	// Cleanups run last first: unlocked, then revoked.
	afterTest(t, "revoke", "lena")
	afterTest(t, "lock", "--remove", "lena")
	// exec, through a Role an admin made; on a pod no node runs (this
	// control plane has none), which admission sees all the same.
	mustSucceed(t, "a role for exec", kubectl(t, cluster.AdminKubeconfig, "create", "role", "lena-exec", "-n", "lock-ns", "--verb", "create,get", "--resource", "pods/exec,pods"))
	mustSucceed(t, "its binding", kubectl(t, cluster.AdminKubeconfig, "create", "rolebinding", "lena-exec", "-n", "lock-ns", "--role", "lena-exec", "--user", "lena"))
	mustSucceed(t, "a pod", kubectl(t, cluster.AdminKubeconfig, "run", "lock-target", "-n", "lock-ns", "--image", "registry.k8s.io/pause:3.10", "--restart", "Never"))
	mustSucceed(t, "a write before the lock", kubectl(t, first, "create", "configmap", "before", "-n", "lock-ns"))
	exec := func(kc string) result { return kubectl(t, kc, "exec", "lock-target", "-n", "lock-ns", "--", "true") }
	if r := exec(first); r.code == 0 || strings.Contains(r.stderr, "locked") || strings.Contains(r.stderr, "forbidden") {
		t.Fatalf("exec before the lock: it should reach the pod (and fail there, on no node): %d\n%s", r.code, r.stderr)
	}

	id := strings.TrimPrefix(granted.Record, records.DefaultNamespace+"/")
	r := kubeaccess(t, cluster.AdminKubeconfig, "lock", "--credential", id)
	mustSucceed(t, "kubeaccess lock --credential", r)
	if !strings.Contains(r.stdout, "locked credential "+id+" of lena (X509SHA256="+granted.Certificate.SHA256+")") ||
		!strings.Contains(r.stdout, "checked: the API server denies a write by a locked credential") || !strings.Contains(r.stderr, "admission never sees reads") {
		t.Errorf("lock says:\n%s%s", r.stdout, r.stderr)
	}
	// At once: the very next requests.
	for what, r := range map[string]result{
		"create":   kubectl(t, first, "create", "configmap", "after", "-n", "lock-ns"),
		"delete":   kubectl(t, first, "delete", "configmap", "before", "-n", "lock-ns"),
		"exec":     exec(first),
		"get/list": kubectl(t, first, "get", "configmaps", "-n", "lock-ns"),
	} {
		locked := strings.Contains(r.stderr, "is locked by kubeaccess lock")
		switch what {
		case "get/list":
			if r.code != 0 || locked {
				t.Errorf("%s by the locked credential (a read, which admission never sees): %d\n%s", what, r.code, r.stderr)
			}
		default:
			if r.code == 0 || !locked {
				t.Errorf("%s by the locked credential: %d\n%s%s", what, r.code, r.stdout, r.stderr)
			}
		}
	}
	if r := kubectl(t, second, "create", "configmap", "other", "-n", "lock-ns"); r.code != 0 {
		t.Errorf("lena's other credential, not locked, could not write: %s", r.stderr)
	}
	r = kubeaccess(t, cluster.AdminKubeconfig, "lock", "--list")
	if !strings.Contains(r.stdout, id) || !strings.Contains(r.stdout, "X509SHA256="+granted.Certificate.SHA256) {
		t.Errorf("lock --list:\n%s%s", r.stdout, r.stderr)
	}

	// Every credential of lena.
	mustSucceed(t, "kubeaccess lock lena", kubeaccess(t, cluster.AdminKubeconfig, "lock", "lena"))
	if r := kubectl(t, second, "create", "configmap", "other2", "-n", "lock-ns"); r.code == 0 || !strings.Contains(r.stderr, "is locked by kubeaccess lock") {
		t.Errorf("after lock lena, her other credential wrote: %d %s", r.code, r.stderr)
	}
	mustSucceed(t, "kubeaccess lock --remove lena", kubeaccess(t, cluster.AdminKubeconfig, "lock", "--remove", "lena"))
	waitUntil(t, "lena writes again", 15*time.Second, func() bool {
		return kubectl(t, first, "create", "configmap", "unlocked", "-n", "lock-ns").code == 0
	})

	// The controller removes an expired credential's lock.
	locks := lock.Store{Client: adminClient(t), Namespace: records.DefaultNamespace}
	expired := lock.Lock{CredentialID: "X509SHA256=" + strings.Repeat("0", 64), Entry: lock.Entry{Record: "c-0000000000000000", User: "gone", Until: time.Now().Add(-time.Second)}}
	if err := locks.Add(t.Context(), []lock.Lock{expired}); err != nil {
		t.Fatal(err)
	}
	startController(t, controllerKubeconfig(t), "locks-a", "locks-lease")
	waitUntil(t, "the controller removes the expired credential's lock", 30*time.Second, func() bool {
		all, err := locks.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range all {
			if l.CredentialID == expired.CredentialID {
				return false
			}
		}
		return true
	})
}
