package kubeconfig

// Cluster is the cluster a new kubeconfig names: as the admin reaches it.
type Cluster struct {
	Name     string
	Server   string
	CA       []byte
	Insecure bool
}

// EntryFor is the entry of a new credential of user in c: a user and
// context named USER@CLUSTER, in namespace.
func (c Cluster) EntryFor(user, namespace string) Entry {
	name := ContextName(user, c.Name)
	return Entry{
		ClusterName: c.Name,
		Server:      c.Server,
		CA:          c.CA,
		Insecure:    c.Insecure,
		UserName:    name,
		ContextName: name,
		Namespace:   namespace,
	}
}

// ContextName is USER@CLUSTER, also used for the user entry.
func ContextName(user, cluster string) string { return user + "@" + cluster }
