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
	// Asked alone first: it opens the connection the access reviews then
	// share, where concurrent requests on a fresh client would each dial.
	id, err := verify.WhoAmI(ctx, client)
	if err != nil {
		return verification{}, err
	}
	v := verification{Username: id.Username, Groups: id.Groups}
	if acc != nil {
		v.Checked = len(verify.RulePermissions(acc.rules, acc.namespace))
	}
	if id.Username != o.User {
		return v, fmt.Errorf("the API server sees user %q, not %q", id.Username, o.User)
	}
	for _, g := range o.Groups {
		if !slices.Contains(id.Groups, g) {
			return v, fmt.Errorf("the API server does not put %s in group %q (it sees %v)", o.User, g, id.Groups)
		}
	}
	missing, err := o.waitForPermissions(ctx, client, acc)
	if len(missing) > 0 {
		return v, fmt.Errorf("after %s the API server still denies %s %s", rbacPropagation, o.User, missing[0])
	}
	return v, err
}

// waitForPermissions asks until every permission is allowed, giving fresh
// bindings time to reach the authorizer, and returns those still denied.
// In a namespace one rules review answers for the whole role; access
// reviews, one per permission, answer cluster-wide grants and servers
// whose rules review is incomplete, and name what is missing at the end.
func (o *Options) waitForPermissions(ctx context.Context, client kubernetes.Interface, acc *access) ([]verify.Permission, error) {
	if acc == nil {
		return nil, nil
	}
	perms := verify.RulePermissions(acc.rules, acc.namespace)
	useRulesReview := acc.namespace != ""
	var missing []verify.Permission
	err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, rbacPropagation, true, func(ctx context.Context) (bool, error) {
		if useRulesReview {
			uncovered, complete, err := verify.Uncovered(ctx, client, acc.namespace, acc.rules)
			if err != nil {
				return false, err
			}
			if complete {
				return len(uncovered) == 0, nil
			}
			useRulesReview = false
		}
		var err error
		missing, err = verify.Missing(ctx, client, perms)
		return err == nil && len(missing) == 0, err
	})
	if useRulesReview && wait.Interrupted(err) && ctx.Err() == nil {
		// Name the denied permissions, which the rules review cannot.
		if missing, err = verify.Missing(ctx, client, perms); err != nil {
			return nil, err
		}
	}
	if len(missing) > 0 {
		return missing, nil
	}
	return nil, err
}
