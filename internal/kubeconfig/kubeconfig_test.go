package kubeconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

func TestWriteFileAtomicNeverClobbersWithoutReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dave.kubeconfig")
	if err := WriteFileAtomic(path, []byte("first"), false); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %o, want 600", info.Mode().Perm())
	}
	err = WriteFileAtomic(path, []byte("second"), false)
	if err == nil || !strings.Contains(err.Error(), "already exists; pass --force to replace it") {
		t.Fatalf("second write without replace: %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "first" {
		t.Errorf("file clobbered: %q", data)
	}
	if err := WriteFileAtomic(path, []byte("third"), true); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != "third" {
		t.Errorf("replace did not replace: %q", data)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestCheckMergeRefusesClashes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	existing := Entry{ClusterName: "prod", Server: "https://prod", UserName: "dave@prod", ContextName: "dave@prod", Token: "x"}
	if err := Write(path, existing.Config(), false); err != nil {
		t.Fatal(err)
	}
	sameCluster := Entry{ClusterName: "prod", Server: "https://prod", UserName: "erin@prod", ContextName: "erin@prod"}
	cfg, err := CheckMerge(path, sameCluster, false)
	if err != nil {
		t.Fatalf("an identical cluster entry is not a clash: %v", err)
	}
	if err := Merge(path, cfg, sameCluster); err != nil {
		t.Fatal(err)
	}
	merged, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if merged.CurrentContext != "dave@prod" || merged.Contexts["erin@prod"] == nil || merged.AuthInfos["dave@prod"] == nil {
		t.Errorf("merge lost or changed entries: current %q, contexts %v", merged.CurrentContext, merged.Contexts)
	}
	clash := Entry{ClusterName: "prod", Server: "https://elsewhere", UserName: "dave@prod", ContextName: "dave@prod"}
	_, err = CheckMerge(path, clash, false)
	if want := "already has [cluster prod context dave@prod user dave@prod]; pass --force to replace them"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("clash error = %v, want %q", err, want)
	}
	if _, err := CheckMerge(path, clash, true); err != nil {
		t.Errorf("--force: %v", err)
	}
}
