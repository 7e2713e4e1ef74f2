package renew

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	certutil "k8s.io/client-go/util/cert"

	"github.com/kubeaccess/kubeaccess/internal/credential"
	"github.com/kubeaccess/kubeaccess/internal/failure"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/safe"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// subject is who the renewed credential is for, as the credential being
// renewed proves it, never as its record says.
type subject struct {
	user   string
	groups []string
	// For a token: its service account, audiences and bound Secret.
	namespace, serviceAccount string
	audiences                 []string
	boundSecret               string
}

// trust establishes who the credential is for. The record is a hint that
// anyone who can write in the records namespace may have forged: it must
// agree with itself and with the credential, and the credential must be
// one the cluster issued.
func (r *Renewer) trust(ctx context.Context, path string, old records.Record, cred credentialInFile) (subject, error) {
	if err := old.Check(); err != nil {
		return subject{}, failure.UsageErrorf("refusing to renew: the record was tampered with: %v; nothing was issued", err)
	}
	if cred.cert != nil {
		return r.trustCertificate(ctx, path, old, cred.cert)
	}
	return r.trustToken(ctx, path, old, cred.token)
}

func (r *Renewer) trustCertificate(ctx context.Context, path string, old records.Record, cert *x509.Certificate) (subject, error) {
	info := pki.Describe(cert)
	if info.SHA256 != old.SHA256 {
		return subject{}, failure.UsageErrorf("refusing to renew: record %s says fingerprint %s, but the certificate in %s has %s; nothing was issued",
			old.ID, old.SHA256, path, info.SHA256)
	}
	roots, err := r.roots(ctx)
	if err != nil {
		return subject{}, err
	}
	if err := verify.Chains(cert, roots); err != nil {
		return subject{}, failure.UsageErrorf("refusing to renew: the certificate in %s (issued by %q) does not chain to the cluster's client CA: %v; "+
			"kubeaccess renews only certificates the cluster issued", path, info.Issuer, err)
	}
	policy := pki.SubjectPolicy{AllowPrivileged: r.AllowPrivileged, CredentialGroup: issue.CredentialGroupOf(info.Groups)}
	if err := policy.Check(info.User, info.Groups); err != nil {
		return subject{}, failure.UsageErrorf("refusing to renew: %w", err)
	}
	return subject{user: info.User, groups: info.Groups}, nil
}

// roots are the CAs a renewable certificate may chain to: the cluster's
// client CA, the CA of the renewer's connection, and the Authority's.
func (r *Renewer) roots(ctx context.Context) ([]*x509.Certificate, error) {
	roots, clientCAErr := verify.ClientCA(ctx, r.Engine.Client())
	if len(r.ClusterCA) > 0 {
		if certs, err := certutil.ParseCertsPEM(r.ClusterCA); err == nil {
			roots = append(roots, certs...)
		}
	}
	if r.Authority != nil {
		roots = append(roots, r.Authority.Cert)
	}
	if len(roots) == 0 {
		return nil, failure.UsageErrorf("refusing to renew: no CA to check the certificate against (%v); give --ca-cert", clientCAErr)
	}
	return roots, nil
}

// trustToken asks the API server whether it accepts the token, and takes
// the service account from its answer and the bound Secret from the
// token's own claims.
func (r *Renewer) trustToken(ctx context.Context, path string, old records.Record, token string) (subject, error) {
	claims, err := credential.ParseToken(token)
	if err != nil {
		return subject{}, failure.UsageErrorf("reading the token: %w", err)
	}
	review := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: claims.Audience}}
	got, err := r.Engine.Client().AuthenticationV1().TokenReviews().Create(safe.Quiet(ctx), review, metav1.CreateOptions{})
	if err != nil {
		return subject{}, fmt.Errorf("refusing to renew: the API server could not check the token: %w", err)
	}
	if !got.Status.Authenticated {
		return subject{}, failure.UsageErrorf("refusing to renew: the API server does not accept the token in %s (%s): it expired or was revoked, "+
			"so what it claims cannot be trusted; issue a new one with kubeaccess token", path, got.Status.Error)
	}
	rest, ok := strings.CutPrefix(got.Status.User.Username, "system:serviceaccount:")
	ns, name, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 {
		return subject{}, failure.UsageErrorf("refusing to renew: the token in %s is for %q, not a service account", path, got.Status.User.Username)
	}
	s := subject{user: got.Status.User.Username, groups: got.Status.User.Groups, namespace: ns, serviceAccount: name,
		audiences: claims.Audience, boundSecret: claims.Kubernetes.Secret.Name}
	if old.ServiceAccount != ns+"/"+name || old.BoundSecret != s.boundSecret {
		return subject{}, failure.UsageErrorf("refusing to renew: record %s says service account %q bound to Secret %q, but the token is for %s/%s bound to %q; nothing was issued",
			old.ID, old.ServiceAccount, old.BoundSecret, ns, name, s.boundSecret)
	}
	return s, nil
}
