package rbac

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
)

// Names lists the names of the objects of a kind kubeaccess binds with or
// for ("namespaces", "serviceaccounts", "roles", "clusterroles"), in
// namespace where the kind is namespaced: for shell completion.
func Names(ctx context.Context, client kubernetes.Interface, kind, namespace string) ([]string, error) {
	var (
		list runtime.Object
		err  error
	)
	switch kind {
	case "namespaces":
		list, err = client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	case "serviceaccounts":
		list, err = client.CoreV1().ServiceAccounts(namespace).List(ctx, metav1.ListOptions{})
	case "roles":
		list, err = client.RbacV1().Roles(namespace).List(ctx, metav1.ListOptions{})
	case "clusterroles":
		list, err = client.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{})
	default:
		return nil, fmt.Errorf("cannot list %s", kind)
	}
	if err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(items))
	for _, item := range items {
		if m, err := meta.Accessor(item); err == nil {
			names = append(names, m.GetName())
		}
	}
	return names, nil
}
