package kubeconfig

import (
	"path/filepath"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

// The extension survives a write and a read, as kubeaccess complete reads
// a kubeconfig approve wrote.
func TestRenewingExtensionRoundTrips(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	e := Entry{ClusterName: "c", Server: "https://127.0.0.1:6443", UserName: "dave", ContextName: "dave@c", Certificate: []byte("cert"),
		Renewing: &Renewing{Lifetime: "1h0m0s", OfflineFor: "168h0m0s"}}
	if err := Write(path, e.Config(), false); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := RenewingOf(cfg.AuthInfos["dave"])
	if !ok || *r != *e.Renewing {
		t.Fatalf("read back %+v %v, want %+v", r, ok, e.Renewing)
	}
	if _, ok := RenewingOf(cfg.AuthInfos["nobody"]); ok {
		t.Error("a missing user has the extension")
	}
}
