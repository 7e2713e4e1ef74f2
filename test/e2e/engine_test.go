package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/labels"
)

// syncBuffer is a buffer a test may read while a process writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Ctrl-C while a grant waits for its approver says it was interrupted,
// exits 130, and leaves nothing: no request, no namespace, no kubeconfig.
func TestInterruptUndoesAndSaysSo(t *testing.T) {
	out := filepath.Join(t.TempDir(), "ivan.kubeconfig")
	cmd := exec.Command(kubeaccessBin, "grant", "ivan", "--approve=false", "-n", "interrupted-ns", "--verb", "get", "--resource", "pods", "--out", out)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+cluster.AdminKubeconfig)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "waiting for an approver") {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("grant --approve=false never waited for an approver:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	started := time.Now()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if took := time.Since(started); took > 10*time.Second {
		t.Errorf("grant took %s to stop after Ctrl-C", took)
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit code %d after Ctrl-C, want 130", code)
	}
	for _, want := range []string{"error: interrupted: no kubeconfig was written", "CertificateSigningRequest ", " was deleted"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr after Ctrl-C does not say %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), "was not approved within") {
		t.Errorf("Ctrl-C reported as a timeout:\n%s", stderr.String())
	}
	admin := adminClient(t)
	reqs, err := admin.CertificatesV1().CertificateSigningRequests().List(t.Context(), metav1.ListOptions{LabelSelector: labels.User + "=" + csr.LabelValue("ivan")})
	if err != nil || len(reqs.Items) != 0 {
		t.Errorf("requests for ivan left after Ctrl-C: %v %v", err, reqs)
	}
	if _, err := admin.CoreV1().Namespaces().Get(t.Context(), "interrupted-ns", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace interrupted-ns exists after Ctrl-C (err %v)", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("kubeconfig %s written despite Ctrl-C", out)
	}
}

// --dry-run=server sends every object to the API server as a dry run and
// prints what it would store; nothing is persisted, and no kubeconfig or
// record is written.
func TestDryRunServerPersistsNothing(t *testing.T) {
	out := filepath.Join(t.TempDir(), "dora.kubeconfig")
	for _, mode := range []string{"client", "server"} {
		r := kubeaccess(t, cluster.AdminKubeconfig, "grant", "dora", "-g", "dev", "-n", "dry-"+mode, "--verb", "get,list", "--resource", "pods,deployments",
			"--dry-run="+mode, "--out", out, "-o", "name")
		mustSucceed(t, "grant --dry-run="+mode, r)
		for _, want := range []string{"certificatesigningrequest.certificates.k8s.io/", "namespace/dry-" + mode} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("grant --dry-run=%s -o name does not name %q:\n%s", mode, want, r.stdout)
			}
		}
	}
	// In an existing namespace the server judges the role and binding too.
	mustSucceed(t, "create namespace", kubectl(t, cluster.AdminKubeconfig, "create", "namespace", "dry-existing"))
	r := kubeaccess(t, cluster.AdminKubeconfig, "grant", "dora", "-n", "dry-existing", "--verb", "get", "--resource", "pods", "--dry-run=server", "--out", out, "-o", "yaml")
	mustSucceed(t, "grant --dry-run=server", r)
	for _, want := range []string{"kind: Role\n", "kind: RoleBinding\n", "creationTimestamp: \"20", "uid: "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("grant --dry-run=server does not show %q as the server returned it:\n%s", want, r.stdout)
		}
	}
	admin := adminClient(t)
	if rbs, err := admin.RbacV1().RoleBindings("dry-existing").List(t.Context(), metav1.ListOptions{}); err != nil || len(rbs.Items) != 0 {
		t.Errorf("dry run left role bindings: %v %v", err, rbs)
	}
	for _, ns := range []string{"dry-client", "dry-server"} {
		if _, err := admin.CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("dry run created namespace %s (err %v)", ns, err)
		}
	}
	reqs, err := admin.CertificatesV1().CertificateSigningRequests().List(t.Context(), metav1.ListOptions{LabelSelector: labels.User + "=" + csr.LabelValue("dora")})
	if err != nil || len(reqs.Items) != 0 {
		t.Errorf("dry run left requests: %v %v", err, reqs)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("dry run wrote %s", out)
	}
}
