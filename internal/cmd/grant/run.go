package grant

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
	"github.com/kubeaccess/kubeaccess/internal/verify"
)

// Run performs the grant. Checks that can refuse come first; once the CSR
// exists, any failure deletes it and says what else was left.
func (o *Options) Run(ctx context.Context) error {
	if err := o.checkDestination(); err != nil {
		return err
	}
	if !o.DryRun {
		if err := o.checkPermissions(ctx, o.requiredPermissions()); err != nil {
			return err
		}
	}
	if err := o.checkPrivilegedGroups(ctx); err != nil {
		return err
	}
	acc, err := o.planAccess(ctx)
	if err != nil {
		return err
	}
	createNamespace, err := o.checkNamespace(ctx, acc)
	if err != nil {
		return err
	}
	key, err := pki.GenerateKey(o.keyType)
	if err != nil {
		return err
	}
	request, err := pki.CreateRequest(key, pki.Subject(o.User, o.Groups))
	if err != nil {
		return err
	}
	req := csr.Build(o.User, request, o.TTL)
	if o.DryRun {
		return o.printDryRun(req, createNamespace, acc)
	}
	if createNamespace {
		if err := o.checkPermissions(ctx, []verify.Permission{{Verb: "create", Resource: "namespaces"}}); err != nil {
			return err
		}
	}
	return o.issueAndBind(ctx, key, req, createNamespace, acc)
}

// issueAndBind runs the steps that change the cluster.
func (o *Options) issueAndBind(ctx context.Context, key crypto.Signer, req *certificatesv1.CertificateSigningRequest, createNamespace bool, acc *access) error {
	o.progress("requesting a certificate for %s", o.User)
	issued, name, err := o.issue(ctx, req)
	if err != nil {
		return err
	}
	cert, err := pki.ParseCertificate(issued)
	if err != nil {
		return o.cleanUp(name, fmt.Errorf("reading the issued certificate: %w", err), nil)
	}
	if err := pki.CheckIssued(cert, key, o.User, o.Groups); err != nil {
		return o.cleanUp(name, err, nil)
	}
	applied, err := o.applyAccess(ctx, createNamespace, acc)
	if err != nil {
		return o.cleanUp(name, err, applied)
	}
	keyPEM, err := pki.MarshalKey(key)
	if err != nil {
		return o.cleanUp(name, err, applied)
	}
	entry := o.entry(issued, keyPEM)
	path, err := o.writeKubeconfig(entry)
	if err != nil {
		return o.cleanUp(name, err, applied)
	}
	o.progress("wrote %s; verifying it against the API server", path)
	s := o.summary(name, cert, applied, path)
	s.Verified, err = o.verify(ctx, entry, acc)
	if err != nil {
		return fmt.Errorf("%s was written but does not work as granted: %w", path, err)
	}
	return o.printSummary(s)
}

// issue creates, approves and waits for the CSR; on failure the CSR is deleted.
func (o *Options) issue(ctx context.Context, req *certificatesv1.CertificateSigningRequest) (certPEM []byte, name string, err error) {
	created, err := csr.Create(ctx, o.client, req)
	if err != nil {
		return nil, "", err
	}
	name = created.Name
	if o.Approve {
		if err := csr.Approve(ctx, o.client, created, fmt.Sprintf("approved by kubeaccess grant for %s", o.User)); err != nil {
			return nil, "", o.cleanUp(name, err, nil)
		}
	} else {
		o.progress("waiting for an approver: kubectl certificate approve %s", name)
	}
	waitCtx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	outcome, err := csr.WaitForCertificate(waitCtx, o.client, name)
	var denied *csr.ConditionError
	switch {
	case errors.As(err, &denied):
		return nil, "", o.cleanUp(name, cmdutil.DeniedErrorf("%w", err), nil)
	case errors.Is(err, csr.ErrNotIssued) && outcome.Approved:
		return nil, "", o.cleanUp(name, cmdutil.TimeoutErrorf("certificate approved but not issued after %s: no signer for %s is running "+
			"(managed clusters such as EKS do not sign client certificates); sign offline with the cluster CA key instead",
			o.Timeout, certificatesv1.KubeAPIServerClientSignerName), nil)
	case errors.Is(err, csr.ErrNotIssued):
		return nil, "", o.cleanUp(name, cmdutil.TimeoutErrorf("CertificateSigningRequest %s was not approved within %s", name, o.Timeout), nil)
	case err != nil:
		return nil, "", o.cleanUp(name, err, nil)
	}
	return outcome.Certificate, name, nil
}

// cleanUp deletes the CSR after a failure and returns the failure with an
// account of what was created and what was removed.
func (o *Options) cleanUp(csrName string, cause error, applied []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msg := "no kubeconfig was written"
	if err := csr.Delete(ctx, o.client, csrName); err != nil {
		msg += fmt.Sprintf("; CertificateSigningRequest %s could not be deleted (%v): delete it with kubectl delete csr %s", csrName, err, csrName)
	} else {
		msg += fmt.Sprintf("; CertificateSigningRequest %s was deleted", csrName)
	}
	if len(applied) > 0 {
		msg += fmt.Sprintf("; these objects were applied and remain: %s (running the same grant again completes it)", strings.Join(applied, ", "))
	}
	return fmt.Errorf("%w\n%s", cause, msg)
}

// applyAccess creates the namespace when needed, then the role and binding.
func (o *Options) applyAccess(ctx context.Context, createNamespace bool, acc *access) ([]string, error) {
	var objs []runtime.Object
	if createNamespace {
		objs = append(objs, rbac.BuildNamespace(o.namespace))
	}
	if acc != nil {
		objs = append(objs, acc.objects()...)
	}
	if len(objs) == 0 {
		return nil, nil
	}
	o.progress("applying %d object(s)", len(objs))
	return rbac.Apply(ctx, o.client, objs)
}

// entry is the kubeconfig entry for the issued certificate.
func (o *Options) entry(certPEM, keyPEM []byte) kubeconfig.Entry {
	return kubeconfig.Entry{
		ClusterName: o.cluster.name,
		Server:      o.cluster.server,
		CA:          o.cluster.ca,
		Insecure:    o.cluster.insecure,
		UserName:    o.contextName(),
		Certificate: certPEM,
		Key:         keyPEM,
		ContextName: o.contextName(),
		Namespace:   o.namespace,
	}
}

// writeKubeconfig writes a new file or merges into --merge. The merge target
// is read again here, not reused from checkDestination, so entries added to
// it while the certificate was being issued are kept.
func (o *Options) writeKubeconfig(e kubeconfig.Entry) (string, error) {
	if o.Merge != "" {
		cfg, err := kubeconfig.CheckMerge(o.Merge, e, o.Force)
		if err != nil {
			return "", err
		}
		return o.Merge, kubeconfig.Merge(o.Merge, cfg, e)
	}
	path := o.kubeconfigPath()
	return path, kubeconfig.Write(path, e.Config(), o.Force)
}

func (o *Options) progress(format string, args ...any) {
	if o.Output == "" {
		fmt.Fprintf(o.ErrOut, format+"\n", args...)
	}
}
