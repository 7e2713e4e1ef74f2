package inspect

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubeaccess/kubeaccess/internal/credential"
	"github.com/kubeaccess/kubeaccess/internal/pki"
)

// Kubeconfig describes the users of a kubeconfig and how they connect.
type Kubeconfig struct {
	CurrentContext string `json:"currentContext"`
	Users          []User `json:"users"`
}

// User is one user entry, with the contexts and cluster that use it.
type User struct {
	Name     string   `json:"name"`
	Contexts []string `json:"contexts"`
	Cluster  string   `json:"cluster,omitempty"`
	Server   string   `json:"server,omitempty"`
	// Credential is "client certificate", "bearer token", "exec plugin",
	// "auth provider", "basic auth" or "none".
	Credential  string       `json:"credential"`
	Certificate *Certificate `json:"certificate,omitempty"`
	// HasKey tells whether the client key is there; KeyMatches whether it
	// belongs to the certificate (unset without both).
	HasKey     bool  `json:"hasKey"`
	KeyMatches *bool `json:"keyMatches,omitempty"`
	// ChainsToClusterCA tells whether the certificate chains to the
	// cluster CA of the same file (unset when the file has none). The CA
	// that verifies the server may differ from the client CA (k3s, RKE2).
	ChainsToClusterCA *bool                   `json:"chainsToClusterCA,omitempty"`
	Token             *credential.TokenClaims `json:"token,omitempty"`
	// Problem says what could not be read.
	Problem string `json:"problem,omitempty"`
}

func decodeKubeconfig(data []byte, dir string, now time.Time) (*Report, error) {
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, fmt.Errorf("%w (as a kubeconfig: %v)", ErrUnknown, err)
	}
	if len(cfg.Clusters)+len(cfg.AuthInfos)+len(cfg.Contexts) == 0 {
		return nil, ErrUnknown
	}
	k := &Kubeconfig{CurrentContext: cfg.CurrentContext}
	for _, name := range slices.Sorted(maps.Keys(cfg.AuthInfos)) {
		k.Users = append(k.Users, describeUser(cfg, name, dir, now))
	}
	return &Report{Kind: "kubeconfig", Kubeconfig: k}, nil
}

func describeUser(cfg *clientcmdapi.Config, name, dir string, now time.Time) User {
	auth := cfg.AuthInfos[name]
	u := User{Name: name, Credential: "none"}
	var cluster *clientcmdapi.Cluster
	for _, ctxName := range slices.Sorted(maps.Keys(cfg.Contexts)) {
		if c := cfg.Contexts[ctxName]; c != nil && c.AuthInfo == name {
			u.Contexts = append(u.Contexts, ctxName)
			if cluster == nil && cfg.Clusters[c.Cluster] != nil {
				u.Cluster, cluster = c.Cluster, cfg.Clusters[c.Cluster]
				u.Server = cluster.Server
			}
		}
	}
	if auth == nil {
		return u
	}
	switch {
	case len(auth.ClientCertificateData) > 0 || auth.ClientCertificate != "":
		u.Credential = "client certificate"
		describeClientCertificate(&u, auth, cluster, dir, now)
	case auth.Token != "" || auth.TokenFile != "":
		u.Credential = "bearer token"
		describeToken(&u, auth, dir)
	case auth.Exec != nil:
		u.Credential = "exec plugin"
	case auth.AuthProvider != nil:
		u.Credential = "auth provider"
	case auth.Username != "":
		u.Credential = "basic auth"
	}
	return u
}

func describeClientCertificate(u *User, auth *clientcmdapi.AuthInfo, cluster *clientcmdapi.Cluster, dir string, now time.Time) {
	certPEM, err := dataOrFile(auth.ClientCertificateData, auth.ClientCertificate, dir)
	if err != nil {
		u.Problem = "client certificate: " + err.Error()
		return
	}
	certs, err := parseCertificates(certPEM)
	if err == nil && len(certs) == 0 {
		err = fmt.Errorf("no CERTIFICATE block found")
	}
	if err != nil {
		u.Problem = "client certificate: " + err.Error()
		return
	}
	c := DescribeCertificate(certs[0], now)
	u.Certificate = &c
	keyPEM, err := dataOrFile(auth.ClientKeyData, auth.ClientKey, dir)
	if err == nil && len(keyPEM) > 0 {
		u.HasKey = true
		matches := keyMatches(keyPEM, certs[0])
		u.KeyMatches = &matches
	}
	if cluster == nil {
		return
	}
	caPEM, err := dataOrFile(cluster.CertificateAuthorityData, cluster.CertificateAuthority, dir)
	if err != nil || len(caPEM) == 0 {
		return
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		u.Problem = "the cluster CA cannot be read"
		return
	}
	intermediates := x509.NewCertPool()
	for _, c := range certs[1:] {
		intermediates.AddCert(c)
	}
	_, err = certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, CurrentTime: now})
	chains := err == nil
	u.ChainsToClusterCA = &chains
}

// keyMatches reports whether the PEM private key belongs to cert.
func keyMatches(keyPEM []byte, cert *x509.Certificate) bool {
	key, err := pki.ParseKey(keyPEM)
	if err != nil {
		return false
	}
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(key.Public())
}

func describeToken(u *User, auth *clientcmdapi.AuthInfo, dir string) {
	token := auth.Token
	if token == "" {
		data, err := dataOrFile(nil, auth.TokenFile, dir)
		if err != nil {
			u.Problem = "token: " + err.Error()
			return
		}
		token = string(data)
	}
	claims, err := credential.ParseToken(token)
	if err != nil {
		u.Problem = "token: " + err.Error()
		return
	}
	u.Token = &claims
}

// maxReferencedFile bounds what is read of a file a kubeconfig names.
const maxReferencedFile = 1 << 20

// dataOrFile returns data, or else the content of file (relative to dir).
// Only a regular file of reasonable size is read: a kubeconfig could name
// /dev/zero or a pipe.
func dataOrFile(data []byte, file, dir string) ([]byte, error) {
	if len(data) > 0 || file == "" {
		return data, nil
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(dir, file)
	}
	info, err := os.Stat(file)
	switch {
	case err != nil:
		return nil, err
	case !info.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file", file)
	case info.Size() > maxReferencedFile:
		return nil, fmt.Errorf("%s is larger than %d bytes", file, maxReferencedFile)
	}
	return os.ReadFile(file)
}
