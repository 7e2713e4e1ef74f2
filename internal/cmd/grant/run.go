package grant

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/kubeaccess/kubeaccess/internal/cmd/issuing"
	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// Run performs the grant. Checks that can refuse come first; once the CSR
// exists, any failure deletes it and says what else was left.
func (o *Options) Run(ctx context.Context) error {
	if !o.DryRun {
		if err := o.is.CheckDestination(o.is.Entry(o.User), o.kubeconfigName()); err != nil {
			return err
		}
	}
	if o.CACert != "" {
		var err error
		if o.authority, err = pki.LoadAuthority(o.CACert, o.CAKey); err != nil {
			return cmdutil.UsageErrorf("%w", err)
		}
	}
	// An RSA key takes up to a second to generate: make it while the
	// preflight checks wait on the API server.
	keyReady := issuing.Async(func() (crypto.Signer, error) { return pki.GenerateKey(o.keyType) })
	var (
		acc             *issuing.Access
		createNamespace bool
		err             error
	)
	if o.Offline {
		fmt.Fprintf(o.ErrOut, "warning: --offline --allow-privileged: %q was not checked for escalation-grade permissions\n", o.User)
	} else if acc, createNamespace, err = o.preflight(ctx); err != nil {
		return err
	}
	key, err := keyReady()
	if err != nil {
		return err
	}
	request, err := pki.CreateRequest(key, pki.Subject(o.User, o.Groups))
	if err != nil {
		return err
	}
	if o.authority != nil {
		if o.DryRun {
			return o.printDryRun(nil, createNamespace, acc)
		}
		return o.signAndBind(ctx, key, request, createNamespace, acc)
	}
	req := csr.Build(o.User, request, o.TTL)
	if o.DryRun {
		return o.printDryRun(req, createNamespace, acc)
	}
	return o.issueAndBind(ctx, key, req, createNamespace, acc)
}

// issueAndBind runs the steps that change the cluster. The watch for the
// certificate opens as soon as the request exists and, when this run
// approves it, the access is applied while the signer works; a failure
// undoes what the run created.
func (o *Options) issueAndBind(ctx context.Context, key crypto.Signer, req *certificatesv1.CertificateSigningRequest, createNamespace bool, acc *issuing.Access) error {
	o.progress("requesting a certificate for %s", o.User)
	created, err := csr.Create(ctx, o.is.Client, req)
	if err != nil {
		return err
	}
	certificate := issuing.Async(func() ([]byte, error) {
		return issuing.AwaitCertificate(ctx, o.is.Client, created, o.Timeout, "sign offline with --ca-cert and --ca-key instead")
	})
	apply := func() ([]rbac.Change, error) { return o.applyAccess(ctx, createNamespace, acc) }
	var access func() ([]rbac.Change, error)
	if o.Approve {
		access = issuing.Async(apply)
		if err := csr.Approve(ctx, o.is.Client, created, fmt.Sprintf("approved by kubeaccess grant for %s", o.User)); err != nil {
			changes, _ := access()
			return o.cleanUp(created.Name, err, changes)
		}
	} else {
		o.progress("waiting for an approver: kubectl certificate approve %s", created.Name)
	}
	issued, err := certificate()
	var changes []rbac.Change
	switch {
	case access != nil:
		var applyErr error
		changes, applyErr = access()
		err = errors.Join(err, applyErr)
	case err == nil:
		changes, err = apply()
	}
	if err != nil {
		return o.cleanUp(created.Name, err, changes)
	}
	return o.finish(ctx, created.Name, issued, key, changes, acc)
}

// signAndBind signs the request with the CA key, then applies the access
// unless --offline.
func (o *Options) signAndBind(ctx context.Context, key crypto.Signer, request []byte, createNamespace bool, acc *issuing.Access) error {
	parsed, err := pki.ParseRequest(request)
	if err != nil {
		return err
	}
	o.progress("signing a certificate for %s with the CA %q", o.User, o.authority.Cert.Subject.CommonName)
	issued, err := o.authority.Sign(parsed, o.TTL, time.Now())
	if err != nil {
		return cmdutil.UsageErrorf("%w", err)
	}
	var changes []rbac.Change
	if !o.Offline {
		if changes, err = o.applyAccess(ctx, createNamespace, acc); err != nil {
			return o.cleanUp("", err, changes)
		}
	}
	return o.finish(ctx, "", issued, key, changes, acc)
}

// finish writes the kubeconfig, verifies it unless --offline, and prints
// the summary.
func (o *Options) finish(ctx context.Context, csrName string, issued []byte, key crypto.Signer, changes []rbac.Change, acc *issuing.Access) error {
	path, entry, cert, err := o.writeCredential(issued, key)
	if err != nil {
		return o.cleanUp(csrName, err, changes)
	}
	s := o.summary(csrName, cert, changes, path)
	if o.Offline {
		o.progress("wrote %s; --offline, so it was not tried against the API server, and no record was kept", path)
		return o.printSummary(s)
	}
	o.progress("wrote %s; verifying it against the API server", path)
	recorded := issuing.Async(func() (string, error) { return o.is.Record(ctx, o.record(csrName, issued, cert, changes)) })
	s.Verified, err = issuing.Verify(ctx, entry, o.User, o.Groups, acc)
	var recordErr error
	if s.Record, recordErr = recorded(); recordErr != nil {
		return fmt.Errorf("%s was written but the credential was not recorded: %w", path, recordErr)
	}
	if err != nil && o.authority != nil && apierrors.IsUnauthorized(err) {
		return fmt.Errorf("%s was written but the API server rejects its certificate: it does not trust the CA %q (--ca-cert) "+
			"for client certificates; sign with the CA that kube-apiserver's --client-ca-file names", path, o.authority.Cert.Subject.CommonName)
	}
	if err != nil {
		return fmt.Errorf("%s was written but does not work as granted: %w", path, err)
	}
	return o.printSummary(s)
}

// writeCredential checks the issued certificate against the key and the
// request, then writes the kubeconfig.
func (o *Options) writeCredential(issued []byte, key crypto.Signer) (string, kubeconfig.Entry, *x509.Certificate, error) {
	cert, err := pki.ParseCertificate(issued)
	if err != nil {
		return "", kubeconfig.Entry{}, nil, fmt.Errorf("reading the issued certificate: %w", err)
	}
	if err := pki.CheckIssued(cert, key.Public(), o.User, o.Groups); err != nil {
		return "", kubeconfig.Entry{}, nil, err
	}
	keyPEM, err := pki.MarshalKey(key)
	if err != nil {
		return "", kubeconfig.Entry{}, nil, err
	}
	entry := o.entry(issued, keyPEM)
	path, err := o.is.WriteKubeconfig(entry, o.kubeconfigName())
	return path, entry, cert, err
}

// cleanUp deletes the CSR (if any) and the objects this run created after a
// failure, and returns the failure with an account of what was removed
// and what remains.
func (o *Options) cleanUp(csrName string, cause error, changes []rbac.Change) error {
	if csrName == "" {
		return o.is.Failed(cause, changes)
	}
	return o.is.Failed(cause, changes, csr.Discard(o.is.Client, csrName))
}

// applyAccess creates the namespace when needed, then the role and binding.
func (o *Options) applyAccess(ctx context.Context, createNamespace bool, acc *issuing.Access) ([]rbac.Change, error) {
	if createNamespace || acc != nil {
		o.progress("applying the access")
	}
	return o.is.Apply(ctx, createNamespace, acc, nil)
}

// entry is the kubeconfig entry for the issued certificate.
func (o *Options) entry(certPEM, keyPEM []byte) kubeconfig.Entry {
	e := o.is.Entry(o.User)
	e.Certificate, e.Key = certPEM, keyPEM
	return e
}

func (o *Options) progress(format string, args ...any) {
	if o.Output == "" {
		fmt.Fprintf(o.ErrOut, format+"\n", args...)
	}
}
