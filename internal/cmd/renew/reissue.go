package renew

import (
	"context"
	"fmt"
	"time"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/records"
)

// reissue has the engine issue the new credential for who, by the old
// one's path and with the checks every issuing command makes, puts it
// into auth, and returns its record.
func (o *Options) reissue(ctx context.Context, old records.Record, who subject, ttl time.Duration, auth *clientcmdapi.AuthInfo) (records.Record, error) {
	plan, err := o.plan(old, who, ttl)
	if err != nil {
		return records.Record{}, err
	}
	res, err := issue.New(o.client, nil, o.cluster).Execute(ctx, plan)
	if err != nil {
		return records.Record{}, err
	}
	cred := res.Credential
	if cred.Token != "" {
		auth.Token, auth.TokenFile = cred.Token, ""
	} else {
		auth.ClientCertificateData, auth.ClientKeyData = cred.CertificatePEM, cred.KeyPEM
		auth.ClientCertificate, auth.ClientKey = "", ""
	}
	rec := issue.RecordOf(plan, res)
	rec.Access, rec.Namespace = old.Access, old.Namespace
	if cred.Token != "" {
		rec.NotBefore = time.Now().UTC().Truncate(time.Second)
	}
	return rec, nil
}

// dryRunReissue makes the engine's checks for the renewal and prints what
// it would create (with --dry-run=server as the API server returns it);
// the kubeconfig and the records are left as they are.
func (o *Options) dryRunReissue(ctx context.Context, old records.Record, who subject) error {
	plan, err := o.plan(old, who, o.lifetime(old))
	if err != nil {
		return err
	}
	plan.DryRun = o.dryRun
	res, err := issue.New(o.client, nil, o.cluster).Execute(ctx, plan)
	if err != nil {
		return err
	}
	if err := cmdutil.NewOutput().PrintObjects(o.Out, res.Objects); err != nil {
		return err
	}
	fmt.Fprintf(o.ErrOut, "%s would be renewed: credential %s of %s; the file and the records were left as they are%s\n",
		o.Kubeconfig, old.ID, old.User, o.dryRun.Suffix())
	return nil
}

// plan renews by the old credential's path: a token from the TokenRequest
// API, a certificate signed offline by --ca-cert, or through the CSR API.
func (o *Options) plan(old records.Record, who subject, ttl time.Duration) (*issue.Plan, error) {
	p := &issue.Plan{
		Action: "renewal", Refusing: "refusing to renew", Namespace: old.Namespace,
		Policy: issue.Policy{AllowPrivileged: o.AllowPrivileged, MaxTTL: o.maxTTL, Renewal: true},
		// renew's progress is its one line at the end.
		Events: issuing.PrintEvents(o.ErrOut, false),
	}
	if p.Namespace == "" {
		p.Namespace = "default"
	}
	if old.Kind == "token" {
		p.Subject, p.Namespace = issue.ServiceAccountSubject(who.namespace, who.serviceAccount), who.namespace
		p.Source = &issue.Token{Audiences: who.audiences, Duration: ttl, BoundSecret: who.boundSecret}
		return p, nil
	}
	p.Subject = issue.Subject{User: who.user, Groups: who.groups, CredentialGroup: old.CredentialGroup}
	kt, err := pki.ParseKeyType(o.KeyType)
	if err != nil {
		return nil, cmdutil.UsageErrorf("--key-type: %w", err)
	}
	switch {
	case old.IssuedVia == "offline-ca" && o.CACert == "":
		return nil, cmdutil.UsageErrorf("credential %s was signed offline: give --ca-cert and --ca-key to renew it the same way", old.ID)
	case old.IssuedVia == "offline-ca":
		authority, err := pki.LoadAuthority(o.CACert, o.CAKey)
		if err != nil {
			return nil, cmdutil.UsageErrorf("%w", err)
		}
		p.Source = &issue.Authority{CA: authority, KeyType: kt, TTL: ttl}
	default:
		p.Source = &issue.CSR{KeyType: kt, TTL: ttl, Approve: true, Timeout: o.Timeout, ApprovedBy: "approved by kubeaccess renew for " + who.user,
			Instead: "sign the renewal offline: kubeaccess request, then kubeaccess sign --ca-cert --ca-key"}
	}
	return p, nil
}
