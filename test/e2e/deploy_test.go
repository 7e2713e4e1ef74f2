package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// deployDir is the repository's deploy/ directory.
func deployDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../../deploy")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// serviceAccountKubeconfig writes a kubeconfig that acts as the service
// account namespace/name, with a token from the TokenRequest API.
func serviceAccountKubeconfig(t *testing.T, namespace, name string) string {
	t.Helper()
	r := kubectl(t, cluster.AdminKubeconfig, "create", "token", name, "-n", namespace, "--duration", "1h")
	mustSucceed(t, "kubectl create token", r)
	admin, err := clientcmd.LoadFromFile(cluster.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx := admin.Contexts[admin.CurrentContext]
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = admin.Clusters[ctx.Cluster]
	cfg.AuthInfos["sa"] = &clientcmdapi.AuthInfo{Token: strings.TrimSpace(r.stdout)}
	cfg.Contexts["sa"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "sa"}
	cfg.CurrentContext = "sa"
	path := filepath.Join(t.TempDir(), name+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// portalKubeconfig applies deploy/'s namespace and RBAC (for automatic
// approval too) and returns a kubeconfig of the portal's service account:
// what serve runs as in-cluster, with the least it needs.
func portalKubeconfig(t *testing.T) string {
	t.Helper()
	for _, f := range []string{"namespace.yaml", "rbac.yaml", "rbac-auto-approve.yaml"} {
		mustSucceed(t, "kubectl apply "+f, kubectl(t, cluster.AdminKubeconfig, "apply", "-f", filepath.Join(deployDir(t), f)))
	}
	return serviceAccountKubeconfig(t, "kubeaccess-system", "kubeaccess-portal")
}

// The manifests for running serve in the cluster are accepted by the real
// API server (a server-side dry run, admission and RBAC included).
func TestDeployManifestsAreAccepted(t *testing.T) {
	mustSucceed(t, "kubectl apply namespace.yaml", kubectl(t, cluster.AdminKubeconfig, "apply", "-f", filepath.Join(deployDir(t), "namespace.yaml")))
	r := kubectl(t, cluster.AdminKubeconfig, "apply", "--dry-run=server", "-f", deployDir(t))
	mustSucceed(t, "kubectl apply --dry-run=server -f deploy/", r)
	for _, want := range []string{"deployment.apps/kubeaccess-portal", "clusterrole.rbac.authorization.k8s.io/kubeaccess-portal", "service/kubeaccess-portal",
		"deployment.apps/kubeaccess-controller", "clusterrole.rbac.authorization.k8s.io/kubeaccess-controller", "poddisruptionbudget.policy/kubeaccess-controller",
		"clusterrole.rbac.authorization.k8s.io/kubeaccess-controller-invitation-links",
		"clusterrole.rbac.authorization.k8s.io/kubeaccess-teamaccess-inviter",
		"customresourcedefinition.apiextensions.k8s.io/teamaccesses.kubeaccess.io",
		"validatingadmissionpolicy.admissionregistration.k8s.io/kubeaccess-teamaccess-author",
		"validatingadmissionpolicybinding.admissionregistration.k8s.io/kubeaccess-teamaccess-author"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the dry run does not name %s:\n%s", want, r.stdout)
		}
	}
	if _, err := os.Stat("../../Dockerfile"); err != nil {
		t.Errorf("no Dockerfile: %v", err)
	}
}

// serve refuses to start with credentials that cannot do all it does, and
// names what is missing.
func TestServeSaysWhatItsCredentialsLack(t *testing.T) {
	mustSucceed(t, "kubectl apply namespace.yaml", kubectl(t, cluster.AdminKubeconfig, "apply", "-f", filepath.Join(deployDir(t), "namespace.yaml")))
	weak := serviceAccountKubeconfig(t, "kubeaccess-system", "default")
	r := kubeaccess(t, weak, "serve", "--listen", freeAddr(t))
	mustFailWith(t, "serve as a service account with no rights", r, 4, `"system:serviceaccount:kubeaccess-system:default" may not:`)
	for _, want := range []string{"create certificatesigningrequests.certificates.k8s.io", "approve signers.certificates.k8s.io", "escalate clusterroles.rbac.authorization.k8s.io",
		"deploy/rbac.yaml", "deploy/rbac-auto-approve.yaml", "--approval=manual"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("serve does not say it lacks %q:\n%s", want, r.stderr)
		}
	}
	// With --approval=manual it needs no right to approve, and says so.
	r = kubeaccess(t, weak, "serve", "--listen", freeAddr(t), "--approval=manual")
	mustFailWith(t, "serve --approval=manual as a service account with no rights", r, 4, "create certificatesigningrequests.certificates.k8s.io")
	if strings.Contains(r.stderr, "approve signers") || strings.Contains(r.stderr, "certificatesigningrequests/approval") {
		t.Errorf("serve --approval=manual asks for the right to approve:\n%s", r.stderr)
	}
}

// The portal's service account with deploy/rbac.yaml alone serves with
// --approval=manual, and without rbac-auto-approve.yaml it may not approve.
func TestDeployManualApprovalIsLeast(t *testing.T) {
	for _, f := range []string{"namespace.yaml", "rbac.yaml"} {
		mustSucceed(t, "kubectl apply "+f, kubectl(t, cluster.AdminKubeconfig, "apply", "-f", filepath.Join(deployDir(t), f)))
	}
	if err := adminClient(t).RbacV1().ClusterRoleBindings().Delete(t.Context(), "kubeaccess-portal-approve", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	defer func() {
		mustSucceed(t, "kubectl apply rbac-auto-approve.yaml", kubectl(t, cluster.AdminKubeconfig, "apply", "-f", filepath.Join(deployDir(t), "rbac-auto-approve.yaml")))
	}()
	portal := serviceAccountKubeconfig(t, "kubeaccess-system", "kubeaccess-portal")
	if canI(t, portal, "update", "certificatesigningrequests/approval") {
		t.Error("with deploy/rbac.yaml alone the portal may approve requests")
	}
	startServeWith(t, portal, "--approval=manual")
}
