package kubeconfig

import (
	"strings"
	"testing"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func TestRESTConfigForTreatsTheFileAsData(t *testing.T) {
	base := func() *clientcmdapi.Config {
		cfg := clientcmdapi.NewConfig()
		cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:6443", CertificateAuthorityData: []byte("CA"), ProxyURL: "http://127.0.0.1:3128", TLSServerName: "evil"}
		cfg.AuthInfos["dave"] = &clientcmdapi.AuthInfo{ClientCertificateData: []byte("CERT"), ClientKeyData: []byte("KEY"), Impersonate: "admin"}
		cfg.Contexts["dave@c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "dave"}
		cfg.CurrentContext = "dave@c"
		return cfg
	}
	for name, tc := range map[string]struct {
		change  func(*clientcmdapi.Config)
		wantErr string
	}{
		"embedded credentials": {change: func(*clientcmdapi.Config) {}},
		"exec plugin":          {change: func(c *clientcmdapi.Config) { c.AuthInfos["dave"].Exec = &clientcmdapi.ExecConfig{Command: "rm"} }, wantErr: `runs an exec plugin ("rm")`},
		"auth provider": {change: func(c *clientcmdapi.Config) {
			c.AuthInfos["dave"].AuthProvider = &clientcmdapi.AuthProviderConfig{Name: "gcp"}
		}, wantErr: `auth provider "gcp"`},
		"key file":   {change: func(c *clientcmdapi.Config) { c.AuthInfos["dave"].ClientKey = "/root/.ssh/id_rsa" }, wantErr: "refers to credential files"},
		"CA file":    {change: func(c *clientcmdapi.Config) { c.Clusters["c"].CertificateAuthority = "/etc/passwd" }, wantErr: "refers to a CA file"},
		"http":       {change: func(c *clientcmdapi.Config) { c.Clusters["c"].Server = "http://127.0.0.1:8080" }, wantErr: "only to an https:// URL"},
		"no context": {change: func(c *clientcmdapi.Config) { delete(c.Contexts, "dave@c") }, wantErr: `no context of f connects user "dave"`},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := base()
			tc.change(cfg)
			rc, err := RESTConfigFor(cfg, "f", "dave")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rc.Proxy != nil || rc.Impersonate.UserName != "" || rc.ServerName != "" || rc.ExecProvider != nil || rc.AuthProvider != nil {
				t.Errorf("settings of the file were taken: %+v", rc)
			}
			if rc.Host != "https://127.0.0.1:6443" || string(rc.CAData) != "CA" || string(rc.CertData) != "CERT" || string(rc.KeyData) != "KEY" {
				t.Errorf("the entry's server and credentials were not used: %+v", rc)
			}
		})
	}
}
