// Package kubeconfig builds kubeconfig entries for issued credentials and
// writes them safely: atomically, mode 0600, never over an existing file or
// entry without force.
package kubeconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Entry is one cluster, user and context for an issued credential.
type Entry struct {
	ClusterName string
	Server      string
	CA          []byte // PEM; empty with InsecureSkipTLSVerify
	Insecure    bool
	UserName    string
	Certificate []byte // PEM client certificate
	Key         []byte // PEM private key; empty when the user keeps it
	Token       string // bearer token, instead of a certificate
	// Exec, when set, is an exec credential plugin that gives the user's
	// credential instead (a renewing certificate's).
	Exec *clientcmdapi.ExecConfig
	// Renewing, when set, records in the user that its certificate may
	// renew itself, for kubeaccess complete to set that up where the key
	// is (see RenewingExtension).
	Renewing    *Renewing
	ContextName string
	Namespace   string
}

// Config returns a kubeconfig holding only e, with e's context current.
func (e Entry) Config() *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	e.addTo(cfg)
	cfg.CurrentContext = e.ContextName
	return cfg
}

func (e Entry) addTo(cfg *clientcmdapi.Config) {
	cfg.Clusters[e.ClusterName] = &clientcmdapi.Cluster{Server: e.Server, CertificateAuthorityData: e.CA, InsecureSkipTLSVerify: e.Insecure}
	if e.Exec != nil {
		cfg.AuthInfos[e.UserName] = &clientcmdapi.AuthInfo{Exec: e.Exec}
	} else {
		cfg.AuthInfos[e.UserName] = &clientcmdapi.AuthInfo{ClientCertificateData: e.Certificate, ClientKeyData: e.Key, Token: e.Token}
	}
	if e.Renewing != nil {
		setRenewing(cfg.AuthInfos[e.UserName], e.Renewing)
	}
	cfg.Contexts[e.ContextName] = &clientcmdapi.Context{Cluster: e.ClusterName, AuthInfo: e.UserName, Namespace: e.Namespace}
}

// CheckNew fails unless path can be created: it must not exist (unless
// force) and its directory must exist. Called before any change is made.
func CheckNew(path string, force bool) error {
	if _, err := os.Stat(filepath.Dir(path)); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if _, err := os.Lstat(path); err == nil && !force {
		return fmt.Errorf("%s already exists; pass --force to replace it, or --merge to add to it", path)
	}
	return nil
}

// CheckMerge fails unless e can be merged into the kubeconfig at path:
// the file must exist and hold no cluster, user or context of the same names
// (unless force), except a cluster entry identical to e's.
func CheckMerge(path string, e Entry, force bool) (*clientcmdapi.Config, error) {
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig to merge into: %w", err)
	}
	if force {
		return cfg, nil
	}
	var clashes []string
	if c, ok := cfg.Clusters[e.ClusterName]; ok && (c.Server != e.Server || string(c.CertificateAuthorityData) != string(e.CA)) {
		clashes = append(clashes, "cluster "+e.ClusterName)
	}
	if _, ok := cfg.AuthInfos[e.UserName]; ok {
		clashes = append(clashes, "user "+e.UserName)
	}
	if _, ok := cfg.Contexts[e.ContextName]; ok {
		clashes = append(clashes, "context "+e.ContextName)
	}
	if len(clashes) > 0 {
		sort.Strings(clashes)
		return nil, fmt.Errorf("%s already has %v; pass --force to replace them", path, clashes)
	}
	return cfg, nil
}

// Merge adds e to cfg (loaded by CheckMerge) and writes it back to path.
// The current context is left as it was.
func Merge(path string, cfg *clientcmdapi.Config, e Entry) error {
	e.addTo(cfg)
	return Write(path, cfg, true)
}

// Write writes cfg to path atomically with mode 0600. Without replace, an
// existing file is never overwritten, even one created after CheckNew.
func Write(path string, cfg *clientcmdapi.Config, replace bool) error {
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, data, replace)
}

// WriteFileAtomic writes data to a temporary file beside path (0600),
// syncs it, and moves it into place: rename when replacing, a hard link
// otherwise, which fails if path exists. A reader never sees a half-written file.
func WriteFileAtomic(path string, data []byte, replace bool) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if rmErr := os.Remove(tmp.Name()); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) && err == nil {
			err = rmErr
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if replace {
		return os.Rename(tmp.Name(), path)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists; pass --force to replace it", path)
		}
		return err
	}
	return nil
}
