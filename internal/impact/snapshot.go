package impact

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// The kind and apiVersion of a snapshot file.
const (
	SnapshotKind       = "RBACSnapshot"
	SnapshotAPIVersion = "kubeaccess.io/v1alpha1"
)

// Snapshot is what access impact needs of a cluster, saved so that a
// review (a pull request's CI) needs no credentials: the namespaces, the
// API's resources and verbs, and every role and binding. It holds no
// secret.
type Snapshot struct {
	APIVersion          string                      `json:"apiVersion"`
	Kind                string                      `json:"kind"`
	TakenAt             time.Time                   `json:"takenAt"`
	Namespaces          []string                    `json:"namespaces"`
	Resources           []*metav1.APIResourceList   `json:"resources"`
	ClusterRoles        []rbacv1.ClusterRole        `json:"clusterRoles"`
	ClusterRoleBindings []rbacv1.ClusterRoleBinding `json:"clusterRoleBindings"`
	Roles               []rbacv1.Role               `json:"roles"`
	RoleBindings        []rbacv1.RoleBinding        `json:"roleBindings"`
}

// Take reads the cluster into a snapshot.
func Take(ctx context.Context, client kubernetes.Interface, disco discovery.DiscoveryInterface) (*Snapshot, error) {
	s := &Snapshot{APIVersion: SnapshotAPIVersion, Kind: SnapshotKind, TakenAt: time.Now().UTC().Truncate(time.Second)}
	lists, err := Resources(disco)
	if err != nil {
		return nil, err
	}
	s.Resources = lists
	nss, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing namespaces: %w", err)
	}
	for _, ns := range nss.Items {
		s.Namespaces = append(s.Namespaces, ns.Name)
	}
	r := client.RbacV1()
	crs, err := r.ClusterRoles().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing ClusterRoles: %w", err)
	}
	crbs, err := r.ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing ClusterRoleBindings: %w", err)
	}
	roles, err := r.Roles("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing Roles: %w", err)
	}
	rbs, err := r.RoleBindings("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing RoleBindings: %w", err)
	}
	s.ClusterRoles, s.ClusterRoleBindings, s.Roles, s.RoleBindings = crs.Items, crbs.Items, roles.Items, rbs.Items
	withoutManagedFields(s.ClusterRoles)
	withoutManagedFields(s.ClusterRoleBindings)
	withoutManagedFields(s.Roles)
	withoutManagedFields(s.RoleBindings)
	return s, nil
}

// withoutManagedFields drops what no review needs from each object.
func withoutManagedFields[T any, P interface {
	*T
	metav1.Object
}](items []T) {
	for i := range items {
		P(&items[i]).SetManagedFields(nil)
	}
}

// Resources are the server's resources in each group's preferred
// version, subresources (pods/exec) included, which
// ServerPreferredResources leaves out.
func Resources(disco discovery.DiscoveryInterface) ([]*metav1.APIResourceList, error) {
	groups, lists, err := disco.ServerGroupsAndResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return nil, fmt.Errorf("discovering the server's resources: %w", err)
	}
	preferred := map[string]bool{}
	for _, g := range groups {
		preferred[g.PreferredVersion.GroupVersion] = true
	}
	var out []*metav1.APIResourceList
	for _, l := range lists {
		if preferred[l.GroupVersion] {
			out = append(out, l)
		}
	}
	return out, nil
}

// ReadSnapshot reads a snapshot file.
func ReadSnapshot(path string) (*Snapshot, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading snapshot: %w", err)
	}
	var s Snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("reading snapshot %s: %w", path, err)
	}
	if s.Kind != SnapshotKind || s.APIVersion != SnapshotAPIVersion {
		return nil, fmt.Errorf("%s is not a snapshot (kind %q, apiVersion %q; want %s %s from kubeaccess snapshot)", path, s.Kind, s.APIVersion, SnapshotKind, SnapshotAPIVersion)
	}
	return &s, nil
}

// Index is the snapshot's roles and bindings.
func (s *Snapshot) Index() *rbac.Index {
	return rbac.IndexOfItems(s.ClusterRoleBindings, s.RoleBindings, s.ClusterRoles, s.Roles)
}

// Catalog is the snapshot's resources, as discovery gives them.
func (s *Snapshot) Catalog() *rbac.Catalog { return rbac.NewCatalog(s.Resources) }
