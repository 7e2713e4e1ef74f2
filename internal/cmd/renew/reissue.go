package renew

import (
	"context"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/credential"
	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/safe"
)

// reissue issues the new credential for who, by the old one's path, puts
// it into auth, and returns its record.
func (o *Options) reissue(ctx context.Context, old records.Record, who subject, ttl time.Duration, auth *clientcmdapi.AuthInfo) (records.Record, error) {
	switch {
	case old.Kind == "token":
		return o.renewToken(ctx, old, who, ttl, auth)
	case old.IssuedVia == "offline-ca" && o.CACert == "":
		return records.Record{}, cmdutil.UsageErrorf("credential %s was signed offline: give --ca-cert and --ca-key to renew it the same way", old.ID)
	}
	key, keyPEM, err := o.newKey()
	if err != nil {
		return records.Record{}, err
	}
	request, err := pki.CreateRequest(key, pki.Subject(who.user, who.groups))
	if err != nil {
		return records.Record{}, err
	}
	var certPEM []byte
	via, csrName := old.IssuedVia, ""
	if old.IssuedVia == "offline-ca" {
		certPEM, err = o.signOffline(request, ttl)
	} else {
		certPEM, csrName, err = o.throughCSR(ctx, who.user, request, ttl)
	}
	if err != nil {
		return records.Record{}, err
	}
	cert, err := pki.ParseCertificate(certPEM)
	if err == nil {
		err = pki.CheckIssued(cert, key.Public(), who.user, who.groups)
	}
	if err != nil {
		return records.Record{}, err
	}
	auth.ClientCertificateData, auth.ClientKeyData = certPEM, keyPEM
	auth.ClientCertificate, auth.ClientKey = "", ""
	rec := issuing.CertificateRecord(via, csrName, certPEM, pki.Describe(cert), nil, old.Namespace, ttl)
	rec.Access, rec.CredentialGroup = old.Access, old.CredentialGroup
	return rec, nil
}

func (o *Options) signOffline(request []byte, ttl time.Duration) ([]byte, error) {
	authority, err := pki.LoadAuthority(o.CACert, o.CAKey)
	if err != nil {
		return nil, cmdutil.UsageErrorf("%w", err)
	}
	parsed, err := pki.ParseRequest(request)
	if err != nil {
		return nil, err
	}
	return authority.Sign(parsed, ttl, time.Now())
}

// throughCSR submits, approves and waits; on failure the CSR is deleted.
func (o *Options) throughCSR(ctx context.Context, user string, request []byte, ttl time.Duration) ([]byte, string, error) {
	if err := csr.ValidateTTL("the lifetime", ttl); err != nil {
		return nil, "", cmdutil.UsageErrorf("%w; lower --max-ttl", err)
	}
	created, err := csr.Create(ctx, o.client, csr.Build(user, request, ttl))
	if err != nil {
		return nil, "", err
	}
	certificate := issuing.Async(func() ([]byte, error) {
		return issuing.AwaitCertificate(ctx, o.client, created, o.Timeout, "sign the renewal offline: kubeaccess request, then kubeaccess sign --ca-cert --ca-key")
	})
	if err := csr.Approve(ctx, o.client, created, "approved by kubeaccess renew for "+user); err != nil {
		return nil, "", fmt.Errorf("%w; %s", err, csr.Discard(o.client, created.Name))
	}
	issued, err := certificate()
	if err != nil {
		return nil, "", fmt.Errorf("renewing through the CSR API: %w; %s", err, csr.Discard(o.client, created.Name))
	}
	return issued, created.Name, nil
}

// renewToken requests a new token for the same account, audiences, bound
// Secret and duration, as the old token (not its record) says.
func (o *Options) renewToken(ctx context.Context, old records.Record, who subject, ttl time.Duration, auth *clientcmdapi.AuthInfo) (records.Record, error) {
	ns, name := who.namespace, who.serviceAccount
	spec := authenticationv1.TokenRequestSpec{Audiences: who.audiences, ExpirationSeconds: ptr.To(int64(ttl.Seconds()))}
	if who.boundSecret != "" {
		secret, err := o.client.CoreV1().Secrets(ns).Get(safe.Quiet(ctx), who.boundSecret, metav1.GetOptions{})
		if err != nil {
			return records.Record{}, fmt.Errorf("reading the bound Secret %s/%s (deleted Secrets revoke their tokens: issue a new one with kubeaccess token): %w", ns, who.boundSecret, err)
		}
		spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: secret.Name, UID: secret.UID}
	}
	token, err := credential.RequestToken(ctx, o.client, ns, name, spec)
	if err != nil {
		return records.Record{}, err
	}
	fresh, err := credential.ParseToken(token)
	if err != nil {
		return records.Record{}, err
	}
	auth.Token, auth.TokenFile = token, ""
	rec := old
	rec.ID, rec.JTI, rec.Issuer, rec.NotBefore, rec.NotAfter = records.TokenID(token), fresh.ID, fresh.Issuer, time.Now().UTC().Truncate(time.Second), fresh.ExpiresAt
	rec.TTL = ttl.String()
	rec.Revoked, rec.RevokedBy, rec.Replaces, rec.ReplacedBy = nil, "", "", ""
	return rec, nil
}
