package kubeconfig

import (
	"fmt"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// CheckReplace fails unless the kubeconfig at path holds the user entry
// user, whose credential ReplaceCredential would replace.
func CheckReplace(path, user string) (*clientcmdapi.Config, error) {
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if _, ok := cfg.AuthInfos[user]; !ok {
		return nil, fmt.Errorf("%s has no user %q", path, user)
	}
	return cfg, nil
}

// ReplaceCredential puts e's credential (a certificate and key, or a
// token) into the user entry user of the kubeconfig at path, in place of
// the one it held, and writes the file back atomically at 0600. Everything
// else in the file stays as it is now: it is read again here, so that a
// change made to it meanwhile is kept.
func ReplaceCredential(path, user string, e Entry) error {
	cfg, err := CheckReplace(path, user)
	if err != nil {
		return err
	}
	auth := cfg.AuthInfos[user]
	auth.ClientCertificate, auth.ClientKey, auth.TokenFile = "", "", ""
	if e.Token != "" {
		auth.Token, auth.ClientCertificateData, auth.ClientKeyData = e.Token, nil, nil
	} else {
		auth.Token, auth.ClientCertificateData, auth.ClientKeyData = "", e.Certificate, e.Key
	}
	return Write(path, cfg, true)
}
