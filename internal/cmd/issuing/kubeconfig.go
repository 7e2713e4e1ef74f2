package issuing

import (
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
)

// Entry is the kubeconfig entry for a new credential of user: the cluster
// as the admin reaches it, and a context USER@CLUSTER in the namespace.
func (is *Issuer) Entry(user string) kubeconfig.Entry {
	name := ContextName(user, is.Cluster.Name)
	return kubeconfig.Entry{
		ClusterName: is.Cluster.Name,
		Server:      is.Cluster.Server,
		CA:          is.Cluster.CA,
		Insecure:    is.Cluster.Insecure,
		UserName:    name,
		ContextName: name,
		Namespace:   is.Namespace,
	}
}

// ContextName is USER@CLUSTER, also used for the user entry.
func ContextName(user, cluster string) string { return user + "@" + cluster }

// KubeconfigPath is where the new kubeconfig goes when not merging: --out,
// or defaultName in the current directory.
func (is *Issuer) KubeconfigPath(defaultName string) string {
	if is.OutFile != "" {
		return is.OutFile
	}
	return defaultName
}

// CheckDestination refuses before any change when the kubeconfig could
// not be written as asked.
func (is *Issuer) CheckDestination(e kubeconfig.Entry, defaultName string) error {
	var err error
	if is.Merge != "" {
		_, err = kubeconfig.CheckMerge(is.Merge, e, is.Force)
	} else {
		err = kubeconfig.CheckNew(is.KubeconfigPath(defaultName), is.Force)
	}
	if err != nil {
		return cmdutil.UsageErrorf("%w", err)
	}
	return nil
}

// WriteKubeconfig writes a new file or merges into --merge. The merge
// target is read again here, not reused from CheckDestination, so entries
// added to it while the credential was being issued are kept.
func (is *Issuer) WriteKubeconfig(e kubeconfig.Entry, defaultName string) (string, error) {
	if is.Merge != "" {
		cfg, err := kubeconfig.CheckMerge(is.Merge, e, is.Force)
		if err != nil {
			return "", err
		}
		return is.Merge, kubeconfig.Merge(is.Merge, cfg, e)
	}
	path := is.KubeconfigPath(defaultName)
	return path, kubeconfig.Write(path, e.Config(), is.Force)
}
