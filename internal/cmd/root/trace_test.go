package root

import (
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubeaccess/kubeaccess/internal/records"
)

// traceEvent is one audit-log line, as the API server writes it.
func traceEvent(id, user, credentialID, verb, namespace string, at time.Time, code int) string {
	return fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":%q,"stage":"ResponseComplete",`+
		`"requestURI":"/api/v1/namespaces/%s/pods","verb":%q,"user":{"username":%q,"groups":["system:serviceaccounts","system:authenticated"],`+
		`"extra":{"authentication.kubernetes.io/credential-id":[%q]}},"objectRef":{"resource":"pods","namespace":%q,"apiVersion":"v1"},`+
		`"responseStatus":{"metadata":{},"code":%d},"requestReceivedTimestamp":%q,"stageTimestamp":%q}`,
		id, namespace, verb, user, credentialID, namespace, code, at.Format(time.RFC3339Nano), at.Format(time.RFC3339Nano))
}

func TestTraceWithoutACluster(t *testing.T) {
	now := time.Now().UTC()
	revokedAt := now.Add(-time.Hour)
	bot := records.Record{ID: "t-0011223344556677", User: "system:serviceaccount:ci:bot", Kind: "token", ServiceAccount: "ci/bot", Action: "token",
		IssuedBy: "admin", NotBefore: now.Add(-2 * time.Hour), NotAfter: now.Add(time.Hour), JTI: "6f9d1c2e-0000-4a5b-9c8d-7e6f5a4b3c2d"}
	old := records.Record{ID: "t-8899aabbccddeeff", User: "system:serviceaccount:ci:old", Kind: "token", ServiceAccount: "ci/old", Action: "token",
		IssuedBy: "admin", NotBefore: now.Add(-2 * time.Hour), NotAfter: now.Add(time.Hour), JTI: "0b1c2d3e-0000-4a5b-9c8d-7e6f5a4b3c2d", Revoked: &revokedAt, RevokedBy: "admin"}
	f := fakeCluster(recordObject(t, bot), recordObject(t, old))
	log := strings.Join([]string{
		traceEvent("a1", bot.User, "JTI="+bot.JTI, "list", "dev", now.Add(-90*time.Minute), 200),
		traceEvent("a2", bot.User, "JTI="+bot.JTI, "delete", "dev", now.Add(-80*time.Minute), 403),
		traceEvent("a3", old.User, "JTI="+old.JTI, "list", "dev", now.Add(-30*time.Minute), 200),
		traceEvent("a4", "system:kube-scheduler", "X509SHA256=00ff", "list", "dev", now.Add(-20*time.Minute), 200),
		`{"kind":"Event","user":{"username":"kubeaccess:broken"`,
	}, "\n") + "\n"
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	zipped := filepath.Join(dir, "audit.log.gz")
	zf, err := os.Create(zipped)
	if err != nil {
		t.Fatal(err)
	}
	z := gzip.NewWriter(zf)
	z.Write([]byte(log))
	z.Close()
	zf.Close()

	for _, file := range []string{path, zipped} {
		stdout, stderr, code := executeWith(t, f, "trace", file, "-o", "json")
		if code != 0 || strings.Count(stdout, `"kind": "TracedEvent"`)+strings.Count(stdout, `"kind":"TracedEvent"`) != 3 ||
			!strings.Contains(stdout, `"flags":["revoked","used-after-revocation"]`) || strings.Contains(stdout, "kube-scheduler") ||
			!strings.Contains(stderr, "1 lines held no audit event") || !strings.Contains(stderr, "4 events read: 3 made with 2 kubeaccess credentials, 1 flagged") {
			t.Errorf("trace %s -o json: exit %d\n%s\n%s", filepath.Base(file), code, stdout, stderr)
		}
	}
	stdout, _, code := executeWith(t, f, "trace", path, "--summary")
	if code != 0 || !strings.Contains(stdout, "used-after-revocation(1)") || !strings.Contains(stdout, "t-0011223344556677  token") {
		t.Errorf("trace --summary: exit %d\n%s", code, stdout)
	}
	if _, _, code := executeWith(t, f, "trace", path, "--fail-on-flag"); code != 1 {
		t.Errorf("trace --fail-on-flag: exit %d, want 1", code)
	}
	stdout, stderr, code := executeWith(t, f, "trace", path, "--suggest-role", "t-0011223344556677")
	if code != 0 || !strings.Contains(stdout, "kind: Role\n") || !strings.Contains(stdout, "- list") || strings.Contains(stdout, "- delete") ||
		!strings.Contains(stdout, "kind: ServiceAccount") || !strings.Contains(stderr, "1 denied") {
		t.Errorf("trace --suggest-role: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, stderr, code := executeWith(t, f, "trace", path, "--suggest-role", "t-0011223344556677", "--summary"); code != 2 || !strings.Contains(stderr, "give one") {
		t.Errorf("--suggest-role with --summary: exit %d %s", code, stderr)
	}
}
