package issue

import (
	"context"
	"fmt"
	"slices"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/verify"
	"github.com/kubeaccess/kubeaccess/internal/version"
)

// rbacPropagation bounds how long a fresh binding may take to reach the
// API server's authorizer cache.
const rbacPropagation = 10 * time.Second

// Verification is what a new kubeconfig proved against the API server.
type Verification struct {
	Username string   `json:"username"`
	Groups   []string `json:"groups"`
	Checked  int      `json:"permissionsChecked"`
}

// verifyWith connects with the new credential only, and checks that the API
// server sees user in groups and allows every permission of acc.
func verifyWith(ctx context.Context, e kubeconfig.Entry, user string, groups []string, acc *Access) (Verification, error) {
	cfg, err := clientcmd.NewDefaultClientConfig(*e.Config(), &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return Verification{}, err
	}
	cfg.QPS, cfg.Burst = 100, 200
	cfg.UserAgent = version.HousekeepingAgent()
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return Verification{}, err
	}
	// The connection is this credential's alone: closed once verified, or
	// hundreds of issuances in one process would each keep one open.
	defer utilnet.CloseIdleConnectionsFor(httpClient.Transport)
	client, err := kubernetes.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return Verification{}, err
	}
	// Asked alone first: it opens the connection the access reviews then
	// share, where concurrent requests on a fresh client would each dial.
	id, err := verify.WhoAmI(ctx, client)
	if err != nil {
		return Verification{}, err
	}
	v := Verification{Username: id.Username, Groups: id.Groups}
	if acc != nil {
		v.Checked = len(verify.RulePermissions(acc.Rules, acc.Namespace))
	}
	if id.Username != user {
		return v, fmt.Errorf("the API server sees user %q, not %q", id.Username, user)
	}
	for _, g := range groups {
		if !slices.Contains(id.Groups, g) {
			return v, fmt.Errorf("the API server does not put %s in group %q (it sees %v)", user, g, id.Groups)
		}
	}
	missing, err := waitForPermissions(ctx, client, acc)
	if len(missing) > 0 {
		return v, fmt.Errorf("after %s the API server still denies %s %s", rbacPropagation, user, missing[0])
	}
	return v, err
}

// waitForPermissions asks until every permission is allowed, giving fresh
// bindings time to reach the authorizer, and returns those still denied.
// In a namespace one rules review answers for the whole role; access
// reviews, one per permission, answer cluster-wide grants and servers
// whose rules review is incomplete, and name what is missing at the end.
func waitForPermissions(ctx context.Context, client kubernetes.Interface, acc *Access) ([]verify.Permission, error) {
	if acc == nil {
		return nil, nil
	}
	perms := verify.RulePermissions(acc.Rules, acc.Namespace)
	useRulesReview := acc.Namespace != ""
	var missing []verify.Permission
	err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, rbacPropagation, true, func(ctx context.Context) (bool, error) {
		if useRulesReview {
			uncovered, complete, err := verify.Uncovered(ctx, client, acc.Namespace, acc.Rules)
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

// verifyFor checks, as the issuer and without the credential (whose key
// the issuer never holds), that the API server allows user in groups every
// permission of acc, giving fresh bindings time to take effect.
func verifyFor(ctx context.Context, client kubernetes.Interface, user string, groups []string, acc *Access) (Verification, error) {
	v := Verification{Username: user, Groups: groups}
	if acc == nil {
		return v, nil
	}
	perms := verify.RulePermissions(acc.Rules, acc.Namespace)
	v.Checked = len(perms)
	var missing []verify.Permission
	err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, rbacPropagation, true, func(ctx context.Context) (bool, error) {
		var err error
		missing, err = verify.MissingFor(ctx, client, user, groups, perms)
		return err == nil && len(missing) == 0, err
	})
	if len(missing) > 0 {
		return v, fmt.Errorf("after %s the API server still denies %s %s", rbacPropagation, user, missing[0])
	}
	return v, err
}
