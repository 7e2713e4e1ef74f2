package kubeconfig

import (
	"fmt"
	"net/url"

	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// UserEntry picks the user entry to act on: name, or the current
// context's user when name is "".
func UserEntry(cfg *clientcmdapi.Config, path, name string) (string, *clientcmdapi.AuthInfo, error) {
	if name == "" {
		c, ok := cfg.Contexts[cfg.CurrentContext]
		if !ok {
			return "", nil, fmt.Errorf("%s has no current context; name the user entry with --user", path)
		}
		name = c.AuthInfo
	}
	auth, ok := cfg.AuthInfos[name]
	if !ok {
		return "", nil, fmt.Errorf("%s has no user %q", path, name)
	}
	return name, auth, nil
}

// RESTConfigFor builds a connection from the one user entry of a kubeconfig
// that someone else handed over, treating it as data: the server and CA of
// the cluster its context names, and the embedded certificate and key or
// token. Exec and auth-provider plugins are refused (they would run
// commands of the file's choosing), as are credentials and CAs kept in
// other files (they would read files of its choosing); no proxy, TLS
// server name or impersonation is taken from it.
func RESTConfigFor(cfg *clientcmdapi.Config, path, userName string) (*rest.Config, error) {
	auth, ok := cfg.AuthInfos[userName]
	if !ok {
		return nil, fmt.Errorf("%s has no user %q", path, userName)
	}
	switch {
	case auth.Exec != nil:
		return nil, fmt.Errorf("user %q in %s runs an exec plugin (%q): kubeaccess does not run commands named in a kubeconfig handed to it", userName, path, auth.Exec.Command)
	case auth.AuthProvider != nil:
		return nil, fmt.Errorf("user %q in %s uses the auth provider %q: kubeaccess does not run plugins named in a kubeconfig handed to it", userName, path, auth.AuthProvider.Name)
	case auth.ClientCertificate != "" || auth.ClientKey != "" || auth.TokenFile != "":
		return nil, fmt.Errorf("user %q in %s refers to credential files; kubeaccess reads only credentials embedded in a kubeconfig handed to it", userName, path)
	}
	cluster, err := clusterOf(cfg, path, userName)
	if err != nil {
		return nil, err
	}
	if cluster.CertificateAuthority != "" {
		return nil, fmt.Errorf("the cluster of user %q in %s refers to a CA file; kubeaccess reads only a CA embedded in a kubeconfig handed to it", userName, path)
	}
	if u, err := url.Parse(cluster.Server); err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("the cluster of user %q in %s has server %q; kubeaccess connects only to an https:// URL", userName, path, cluster.Server)
	}
	return &rest.Config{
		Host:        cluster.Server,
		BearerToken: auth.Token,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   cluster.CertificateAuthorityData,
			Insecure: cluster.InsecureSkipTLSVerify,
			CertData: auth.ClientCertificateData,
			KeyData:  auth.ClientKeyData,
		},
	}, nil
}

// clusterOf finds the cluster of the context that uses the user entry,
// the current context first.
func clusterOf(cfg *clientcmdapi.Config, path, userName string) (*clientcmdapi.Cluster, error) {
	name := ""
	if c, ok := cfg.Contexts[cfg.CurrentContext]; ok && c.AuthInfo == userName {
		name = c.Cluster
	} else {
		for _, c := range cfg.Contexts {
			if c.AuthInfo == userName {
				if name != "" && name != c.Cluster {
					return nil, fmt.Errorf("user %q in %s is used with more than one cluster; make a context with it current", userName, path)
				}
				name = c.Cluster
			}
		}
	}
	cluster, ok := cfg.Clusters[name]
	if !ok {
		return nil, fmt.Errorf("no context of %s connects user %q to a cluster", path, userName)
	}
	return cluster, nil
}
