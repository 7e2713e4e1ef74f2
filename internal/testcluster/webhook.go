package testcluster

import (
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Webhook is an authorization webhook the API server calls: a
// SubjectAccessReview POSTed to URL, over TLS with a server certificate
// CA signed (as httptest.NewTLSServer serves).
type Webhook struct {
	URL string
	// CA is the DER of the certificate the webhook's server certificate
	// chains to.
	CA []byte
}

// writeAuthorizationConfig writes the API server's structured
// authorization configuration: the Node-less RBAC of every test cluster,
// then the webhook, whose answers are never cached (each
// SubjectAccessReview reaches it), and which has no opinion when it
// cannot be reached.
func (c *Cluster) writeAuthorizationConfig(w *Webhook) (string, error) {
	kubeconfig := filepath.Join(c.Dir, "authorization-webhook.kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["webhook"] = &clientcmdapi.Cluster{Server: w.URL, CertificateAuthorityData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.CA})}
	cfg.AuthInfos["api-server"] = &clientcmdapi.AuthInfo{}
	cfg.Contexts["webhook"] = &clientcmdapi.Context{Cluster: "webhook", AuthInfo: "api-server"}
	cfg.CurrentContext = "webhook"
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		return "", err
	}
	path := filepath.Join(c.Dir, "authorization-config.yaml")
	config := fmt.Sprintf(`apiVersion: apiserver.config.k8s.io/v1
kind: AuthorizationConfiguration
authorizers:
- type: RBAC
  name: rbac
- type: Webhook
  name: test-webhook
  webhook:
    timeout: 3s
    subjectAccessReviewVersion: v1
    matchConditionSubjectAccessReviewVersion: v1
    failurePolicy: NoOpinion
    authorizedTTL: 1s
    unauthorizedTTL: 1s
    cacheAuthorizedRequests: false
    cacheUnauthorizedRequests: false
    connectionInfo:
      type: KubeConfigFile
      kubeConfigFile: %s
`, kubeconfig)
	return path, os.WriteFile(path, []byte(config), 0o600)
}
