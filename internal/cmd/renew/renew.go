// Package renew implements "kubeaccess renew KUBECONFIG": replace the
// credential in a kubeconfig with a fresh one for the same subject, groups,
// lifetime and access, by the path that issued it.
package renew

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/credential"
	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// Options holds the flags of "kubeaccess renew".
type Options struct {
	Kubeconfig       string
	User             string
	Within           string
	CACert           string
	CAKey            string
	KeyType          string
	Timeout          time.Duration
	RecordsNamespace string
	AllowPrivileged  bool
	MaxTTL           string
	DryRun           string

	dryRun issue.DryRun
	within time.Duration
	maxTTL time.Duration
	client kubernetes.Interface
	// clusterCA is the CA of the admin's own connection, which the
	// certificate being renewed may chain to.
	clusterCA []byte
	// cluster is the admin's, which the engine verifies the new credential
	// against.
	cluster kubeconfig.Cluster
	store   records.Store
	admin   string
	genericiooptions.IOStreams
}

// NewCmdRenew returns the "renew" command.
func NewCmdRenew(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{KeyType: string(pki.DefaultKeyType), Timeout: 60 * time.Second, RecordsNamespace: records.DefaultNamespace, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "renew KUBECONFIG [flags]",
		Short: "Replace the credential in a kubeconfig with a fresh one, by the path that issued it",
		Long: `Renew the credential of the kubeconfig's current user (or --user): a new key and
certificate for the same subject and groups through the CSR API, or signed with
--ca-cert/--ca-key when it was issued offline; for a token, a new token from
the TokenRequest API. The lifetime (capped by --max-ttl) and access stay those recorded. The record
is only a hint: the subject and groups come from the certificate, which must
chain to the cluster's client CA and match the record's fingerprint, or from
the token, which the API server must accept; the privilege check that every
issuing command makes runs again. The file
keeps its other entries and is rewritten atomically at 0600. The record is
linked to the one it replaces. With --within, renew only a credential that
expires within that window, so it can run from cron.
The admin's own kubeconfig (--kubeconfig, KUBECONFIG) is used to reach the
cluster.`,
		Example: `  kubeaccess renew dave.kubeconfig
  kubeaccess renew bot.kubeconfig --within 72h

  # Make every check and show the request renew would send; change nothing
  kubeaccess renew dave.kubeconfig --dry-run=server`,
		Args: cmdutil.Args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Kubeconfig = args[0]
			if o.Within != "" {
				var err error
				if o.within, err = cmdutil.ParseWindow(o.Within); err != nil {
					return cmdutil.UsageErrorf("--within: %w", err)
				}
			}
			if (o.CACert == "") != (o.CAKey == "") {
				return cmdutil.UsageErrorf("--ca-cert and --ca-key go together")
			}
			var err error
			if o.maxTTL, err = cmdutil.ParseWindow(o.MaxTTL); err != nil {
				return cmdutil.UsageErrorf("--max-ttl: %w", err)
			}
			if o.dryRun, err = issue.ParseDryRun(o.DryRun); err != nil {
				return cmdutil.UsageErrorf("%w", err)
			}
			if o.client, err = f.Client(); err != nil {
				return err
			}
			if o.cluster, err = f.Cluster(); err != nil {
				return err
			}
			o.clusterCA = o.cluster.CA
			o.store = records.Store{Client: o.client, Namespace: o.RecordsNamespace}
			return o.Run(cmd.Context())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.User, "user", "", "The kubeconfig user entry to renew (default: the current context's)")
	fs.StringVar(&o.Within, "within", "", "Renew only if the credential expires within this window (e.g. 72h, 7d)")
	fs.StringVar(&o.CACert, "ca-cert", "", "For a certificate issued offline: the CA certificate")
	fs.StringVar(&o.CAKey, "ca-key", "", "For a certificate issued offline: the CA key; only read")
	fs.StringVar(&o.KeyType, "key-type", o.KeyType, "Type of the new private key")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for the certificate")
	fs.StringVar(&o.RecordsNamespace, "records-namespace", o.RecordsNamespace, "Namespace of the records")
	fs.BoolVar(&o.AllowPrivileged, "allow-privileged", false, "Renew even for an identity that holds escalation-grade permissions, or when that cannot be checked")
	fs.StringVar(&o.MaxTTL, "max-ttl", issuing.DefaultMaxTTL, "Cap the renewed lifetime at this (e.g. 90d, 720h)")
	issuing.AddDryRunFlag(cmd, &o.DryRun)
	return cmd
}

// Run renews the credential if it is due.
func (o *Options) Run(ctx context.Context) error {
	cfg, auth, err := o.load()
	if err != nil {
		return err
	}
	cred, err := identify(auth)
	if err != nil {
		return err
	}
	if o.within > 0 && time.Until(cred.notAfter) > o.within {
		fmt.Fprintf(o.Out, "nothing to do: the credential expires %s, later than %s from now\n", cred.notAfter.Format(time.RFC3339), o.Within)
		return nil
	}
	old, err := o.store.Get(ctx, cred.id)
	if err != nil {
		return cmdutil.UsageErrorf("%w: kubeaccess keeps no record of this credential, so it does not know how to renew it", err)
	}
	if old.Revoked != nil {
		return cmdutil.UsageErrorf("credential %s of %s was revoked on %s; grant anew instead", old.ID, old.User, old.Revoked.Format(time.RFC3339))
	}
	if whoami, err := verify.WhoAmI(ctx, o.client); err == nil {
		o.admin = whoami.Username
	}
	who, err := o.trust(ctx, old, cred)
	if err != nil {
		return err
	}
	if o.dryRun != issue.DryRunNone {
		return o.dryRunReissue(ctx, old, who)
	}
	fresh, err := o.reissue(ctx, old, who, o.lifetime(old), auth)
	if err != nil {
		return err
	}
	if err := kubeconfig.Write(o.Kubeconfig, cfg, true); err != nil {
		return fmt.Errorf("the new credential was issued (record %s) but %s could not be rewritten: %w", fresh.ID, o.Kubeconfig, err)
	}
	if err := o.link(ctx, old, fresh); err != nil {
		return err
	}
	return o.verify(ctx, fresh)
}

// load reads the kubeconfig and picks the user entry, refusing one that
// kubeaccess would not connect with (see kubeconfig.RESTConfigFor).
func (o *Options) load() (*clientcmdapi.Config, *clientcmdapi.AuthInfo, error) {
	cfg, err := clientcmd.LoadFromFile(o.Kubeconfig)
	if err != nil {
		return nil, nil, cmdutil.UsageErrorf("reading %s: %w", o.Kubeconfig, err)
	}
	name, auth, err := kubeconfig.UserEntry(cfg, o.Kubeconfig, o.User)
	if err != nil {
		return nil, nil, cmdutil.UsageErrorf("%w", err)
	}
	if _, err := kubeconfig.RESTConfigFor(cfg, o.Kubeconfig, name); err != nil {
		return nil, nil, cmdutil.UsageErrorf("%w", err)
	}
	o.User = name
	return cfg, auth, nil
}

// credentialInFile is the credential of the entry being renewed.
type credentialInFile struct {
	id       string
	notAfter time.Time
	cert     *x509.Certificate
	token    string
}

// identify finds the record ID and expiry of the entry's credential.
func identify(auth *clientcmdapi.AuthInfo) (credentialInFile, error) {
	switch {
	case len(auth.ClientCertificateData) > 0:
		cert, err := pki.ParseCertificate(auth.ClientCertificateData)
		if err != nil {
			return credentialInFile{}, cmdutil.UsageErrorf("reading the client certificate: %w", err)
		}
		return credentialInFile{id: records.CertificateID(pki.Describe(cert).SHA256), notAfter: cert.NotAfter, cert: cert}, nil
	case auth.Token != "":
		claims, err := credential.ParseToken(auth.Token)
		if err != nil {
			return credentialInFile{}, cmdutil.UsageErrorf("reading the token: %w", err)
		}
		return credentialInFile{id: records.TokenID(auth.Token), notAfter: claims.ExpiresAt, token: auth.Token}, nil
	}
	return credentialInFile{}, cmdutil.UsageErrorf("the user entry holds neither an embedded client certificate nor a token")
}

// link records the new credential as replacing the old one.
func (o *Options) link(ctx context.Context, old, fresh records.Record) error {
	fresh.Replaces, fresh.IssuedBy = old.ID, o.admin
	fresh.IssuedAt = time.Now().UTC().Truncate(time.Second)
	if err := o.store.Save(ctx, fresh); err != nil {
		return fmt.Errorf("%s was renewed but the new credential was not recorded: %w", o.Kubeconfig, err)
	}
	return o.store.Modify(ctx, old.ID, func(r *records.Record) error {
		r.ReplacedBy = fresh.ID
		return nil
	})
}

// verify asks the API server who the renewed kubeconfig is.
func (o *Options) verify(ctx context.Context, fresh records.Record) error {
	id, err := verify.WhoAmIFile(ctx, o.Kubeconfig, o.User)
	if err != nil {
		return fmt.Errorf("%s was renewed but does not work: %w", o.Kubeconfig, err)
	}
	if id.Username != fresh.User {
		return fmt.Errorf("%s was renewed but the API server sees %q, not %q", o.Kubeconfig, id.Username, fresh.User)
	}
	_, err = fmt.Fprintf(o.Out, "Renewed %s for %s: %s %s, expires %s (record %s replaces %s)\n",
		o.Kubeconfig, fresh.User, fresh.Kind, fresh.ID, fresh.NotAfter.Format(time.RFC3339), fresh.ID, fresh.Replaces)
	return err
}
