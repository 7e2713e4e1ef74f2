package testcluster

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
)

const pollInterval = 200 * time.Millisecond

// waitUntil polls ready until it reports true, failing early if p exits.
func waitUntil(ctx context.Context, p *process, what string, ready func(context.Context) (bool, error)) error {
	var last error
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		if err := p.checkRunning(); err != nil {
			return false, err
		}
		ok, err := ready(ctx)
		last = err
		return ok && err == nil, nil
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%s not ready in time (last error: %v); last lines of %s:\n%s", what, last, p.logPath, tail(p.logPath, 15))
	}
	return err
}

func waitForEtcd(ctx context.Context, p *process, clientURL string) error {
	return waitUntil(ctx, p, "etcd", func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, clientURL+"/health", nil)
		if err != nil {
			return false, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"health":"true"`), nil
	})
}

func waitForAPIServer(ctx context.Context, p *process, kubeconfigPath string) error {
	client, err := clientFor(kubeconfigPath)
	if err != nil {
		return err
	}
	return waitUntil(ctx, p, "kube-apiserver", func(ctx context.Context) (bool, error) {
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok", err
	})
}

// waitForControllers waits until the serviceaccount controller has created
// the default service account: proof that kube-controller-manager is
// connected and running its controllers.
func waitForControllers(ctx context.Context, p *process, kubeconfigPath string) error {
	client, err := clientFor(kubeconfigPath)
	if err != nil {
		return err
	}
	return waitUntil(ctx, p, "kube-controller-manager", func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		// The aggregated roles are empty until the controller fills them.
		admin, err := client.RbacV1().ClusterRoles().Get(ctx, "admin", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return len(admin.Rules) > 0, nil
	})
}

func clientFor(kubeconfigPath string) (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// writeKubeconfig writes a kubeconfig for one user with the CA, certificate
// and key embedded, so it stays valid if the files move.
func writeKubeconfig(path, server, caPath, user, certPath, keyPath string) error {
	ca, err := os.ReadFile(caPath)
	if err != nil {
		return err
	}
	cert, err := os.ReadFile(certPath)
	if err != nil {
		return err
	}
	key, err := os.ReadFile(keyPath)
	if err != nil {
		return err
	}
	const clusterName = "kubeaccess-test"
	entry := kubeconfig.Entry{
		ClusterName: clusterName, Server: server, CA: ca,
		UserName: user, Certificate: cert, Key: key,
		ContextName: user + "@" + clusterName,
	}
	return kubeconfig.Write(path, entry.Config(), true)
}
