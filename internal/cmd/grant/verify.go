package grant

import (
	"context"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// rbacPropagation bounds how long a fresh binding may take to reach the
// API server's authorizer cache.
const rbacPropagation = 10 * time.Second

// verification is what the new kubeconfig proved against the API server.
type verification struct {
	Username string   `json:"username"`
	Groups   []string `json:"groups"`
	Checked  int      `json:"permissionsChecked"`
}

// verify connects with the new credential only, and checks that the API
// server sees the expected user and groups and allows every granted permission.
func (o *Options) verify(ctx context.Context, e kubeconfig.Entry, acc *access) (verification, error) {
	cfg, err := clientcmd.NewDefaultClientConfig(*e.Config(), &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return verification{}, err
	}
	cfg.QPS, cfg.Burst = clientQPS, clientBurst
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return verification{}, err
	}
	id, err := verify.WhoAmI(ctx, client)
	if err != nil {
		return verification{}, err
	}
	v := verification{Username: id.Username, Groups: id.Groups}
	if id.Username != o.User {
		return v, fmt.Errorf("the API server sees user %q, not %q", id.Username, o.User)
	}
	for _, g := range o.Groups {
		if !slices.Contains(id.Groups, g) {
			return v, fmt.Errorf("the API server does not put %s in group %q (it sees %v)", o.User, g, id.Groups)
		}
	}
	if acc == nil {
		return v, nil
	}
	perms := verify.RulePermissions(acc.rules, acc.namespace)
	v.Checked = len(perms)
	var missing []verify.Permission
	err = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, rbacPropagation, true, func(ctx context.Context) (bool, error) {
		missing, err = verify.Missing(ctx, client, perms)
		return err == nil && len(missing) == 0, err
	})
	if len(missing) > 0 {
		return v, fmt.Errorf("after %s the API server still denies %s %s", rbacPropagation, o.User, missing[0])
	}
	return v, err
}
