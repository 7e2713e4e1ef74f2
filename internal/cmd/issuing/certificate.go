package issuing

import (
	"context"
	"errors"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/cmdutil"
	"github.com/kubeaccess/kubeaccess/internal/csr"
)

// AwaitCertificate waits up to timeout for req's certificate and, when
// none comes, says why: denied or failed (exit 4), approved with no signer
// running (exit 3, with instead, the offline way to go on), or never
// approved (exit 3).
func AwaitCertificate(ctx context.Context, client kubernetes.Interface, req *certificatesv1.CertificateSigningRequest, timeout time.Duration, instead string) ([]byte, error) {
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	outcome, err := csr.WaitForCertificate(waitCtx, client, req)
	var denied *csr.ConditionError
	switch {
	case errors.As(err, &denied):
		return nil, cmdutil.DeniedErrorf("%w", err)
	case errors.Is(err, csr.ErrNotIssued) && outcome.Approved:
		return nil, cmdutil.TimeoutErrorf("certificate approved but not issued after %s: no signer for %s is running "+
			"(managed clusters such as EKS do not sign client certificates); %s",
			timeout, certificatesv1.KubeAPIServerClientSignerName, instead)
	case errors.Is(err, csr.ErrNotIssued):
		return nil, cmdutil.TimeoutErrorf("CertificateSigningRequest %s was not approved within %s", req.Name, timeout)
	}
	return outcome.Certificate, err
}
