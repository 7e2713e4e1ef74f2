// Package credential describes what a client credential claims about its
// holder: the subject of a client certificate or the claims of a bearer
// token. It reads credentials; it never verifies them, which is the API
// server's job. It also requests tokens, so that one place keeps them out
// of the logs.
package credential

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	certutil "k8s.io/client-go/util/cert"

	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/safe"
)

// Claim is the identity a credential asserts, before any server has checked it.
type Claim struct {
	// Kind is "client certificate", "bearer token" or "exec plugin".
	Kind     string    `json:"kind"`
	Username string    `json:"username,omitempty"`
	Groups   []string  `json:"groups,omitempty"`
	Issuer   string    `json:"issuer,omitempty"`
	Audience []string  `json:"audience,omitempty"`
	Serial   string    `json:"serial,omitempty"`
	SHA256   string    `json:"sha256,omitempty"`
	NotAfter time.Time `json:"notAfter,omitzero"`
}

// FromCertificate returns what a client certificate claims: Kubernetes reads
// the user from the subject's CommonName and the groups from Organization.
func FromCertificate(cert *x509.Certificate) Claim {
	info := pki.Describe(cert)
	return Claim{
		Kind:     "client certificate",
		Username: info.User,
		Groups:   info.Groups,
		Issuer:   info.Issuer,
		Serial:   info.Serial,
		SHA256:   info.SHA256,
		NotAfter: info.NotAfter,
	}
}

// TokenClaims are the standard JWT claims kubeaccess reports.
type TokenClaims struct {
	Subject   string    `json:"sub"`
	Issuer    string    `json:"iss"`
	Audience  []string  `json:"aud"`
	ExpiresAt time.Time `json:"exp"`
	// ID is the token's jti, which the API server shows as its credential
	// ID (JTI=...).
	ID string `json:"jti,omitempty"`
	// Kubernetes holds what a service-account token says of its account
	// and of the object it is bound to.
	Kubernetes KubernetesClaims `json:"kubernetes.io"`
}

// KubernetesClaims are the private claims of a service-account token.
type KubernetesClaims struct {
	Namespace      string      `json:"namespace,omitempty"`
	ServiceAccount ObjectClaim `json:"serviceaccount"`
	Secret         ObjectClaim `json:"secret"`
}

// ObjectClaim names an object a token refers to.
type ObjectClaim struct {
	Name string `json:"name,omitempty"`
	UID  string `json:"uid,omitempty"`
}

// ParseToken decodes the claims of a JWT without verifying its signature.
// Tokens that are not JWTs (static tokens, bootstrap tokens) are an error.
func ParseToken(token string) (TokenClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return TokenClaims{}, fmt.Errorf("token is not a JWT (expected 3 dot-separated parts, got %d)", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return TokenClaims{}, fmt.Errorf("token payload is not base64url: %w", err)
	}
	var raw struct {
		Sub string           `json:"sub"`
		Iss string           `json:"iss"`
		Aud json.RawMessage  `json:"aud"`
		Exp *float64         `json:"exp"`
		JTI string           `json:"jti"`
		K8s KubernetesClaims `json:"kubernetes.io"`
	}
	if err := json.Unmarshal(payload, &raw); err != nil {
		return TokenClaims{}, fmt.Errorf("token payload is not a JSON object: %w", err)
	}
	claims := TokenClaims{Subject: raw.Sub, Issuer: raw.Iss, ID: raw.JTI, Kubernetes: raw.K8s}
	if claims.Audience, err = parseAudience(raw.Aud); err != nil {
		return TokenClaims{}, err
	}
	if raw.Exp != nil {
		claims.ExpiresAt = time.Unix(int64(*raw.Exp), 0).UTC()
	}
	return claims, nil
}

// parseAudience accepts the two forms RFC 7519 allows: a string or a list.
func parseAudience(aud json.RawMessage) ([]string, error) {
	if len(aud) == 0 || string(aud) == "null" {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(aud, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(aud, &many); err != nil {
		return nil, fmt.Errorf("token claim \"aud\" is neither a string nor a list of strings")
	}
	return many, nil
}

// FromToken returns what a bearer token claims.
func FromToken(token string) (Claim, error) {
	claims, err := ParseToken(token)
	if err != nil {
		return Claim{}, err
	}
	return Claim{
		Kind:     "bearer token",
		Username: claims.Subject,
		Issuer:   claims.Issuer,
		Audience: claims.Audience,
		NotAfter: claims.ExpiresAt,
	}, nil
}

// FromRESTConfig returns what the credential of a client configuration
// claims, reading certificate and token files where the config names them.
func FromRESTConfig(cfg *rest.Config) (Claim, error) {
	switch {
	case len(cfg.CertData) > 0 || cfg.CertFile != "":
		data := cfg.CertData
		if len(data) == 0 {
			var err error
			if data, err = os.ReadFile(cfg.CertFile); err != nil {
				return Claim{}, fmt.Errorf("reading client certificate: %w", err)
			}
		}
		certs, err := certutil.ParseCertsPEM(data)
		if err != nil {
			return Claim{}, fmt.Errorf("parsing client certificate: %w", err)
		}
		return FromCertificate(certs[0]), nil
	case cfg.BearerToken != "" || cfg.BearerTokenFile != "":
		token := cfg.BearerToken
		if token == "" {
			data, err := os.ReadFile(cfg.BearerTokenFile)
			if err != nil {
				return Claim{}, fmt.Errorf("reading bearer token: %w", err)
			}
			token = strings.TrimSpace(string(data))
		}
		return FromToken(token)
	case cfg.ExecProvider != nil:
		return Claim{Kind: "exec plugin", Username: "(decided by " + cfg.ExecProvider.Command + " at run time)"}, nil
	}
	return Claim{}, fmt.Errorf("the kubeconfig has no client certificate or token for this context")
}

// RequestToken asks the TokenRequest API for a token of a service account.
// Neither the request nor the response is logged, at any -v: the
// response carries the token.
func RequestToken(ctx context.Context, client kubernetes.Interface, namespace, name string, spec authenticationv1.TokenRequestSpec) (string, error) {
	tr, err := client.CoreV1().ServiceAccounts(namespace).CreateToken(safe.Quiet(ctx), name, &authenticationv1.TokenRequest{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting a token for serviceaccount %s/%s: %w", namespace, name, err)
	}
	if tr.Status.Token == "" {
		return "", errors.New("the TokenRequest API returned no token")
	}
	return tr.Status.Token, nil
}
