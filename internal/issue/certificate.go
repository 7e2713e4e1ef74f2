package issue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/failure"
)

// signerGrace is how long an approved request may wait before kubeaccess
// looks for evidence that no signer for client certificates runs.
const signerGrace = 5 * time.Second

// awaitCertificate waits up to timeout for req's certificate and, when
// none comes, says why: denied or failed (exit 4), approved with no signer
// running (exit 3, with instead, the offline way to go on), or never
// approved (exit 3). A cluster that signs other signers' requests but has
// never issued a client certificate (as EKS does) is diagnosed after a
// few seconds instead of at the end of timeout.
func awaitCertificate(ctx context.Context, client kubernetes.Interface, req *certificatesv1.CertificateSigningRequest, timeout time.Duration, instead string) ([]byte, error) {
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	diagnosis := make(chan string, 1)
	go func() {
		select {
		case <-time.After(signerGrace):
		case <-waitCtx.Done():
			return
		}
		if d := diagnoseSigner(waitCtx, client, req.Name); d != "" {
			diagnosis <- d
			cancel()
		}
	}()
	outcome, err := csr.WaitForCertificate(waitCtx, client, req)
	var denied *csr.ConditionError
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return nil, ctx.Err()
	case errors.As(err, &denied):
		return nil, failure.DeniedErrorf("%w", err)
	case errors.Is(err, csr.ErrNotIssued) && outcome.Approved && len(diagnosis) > 0:
		return nil, failure.TimeoutErrorf("certificate approved but not issued: %s, so none is coming; %s", <-diagnosis, instead)
	case errors.Is(err, csr.ErrNotIssued) && outcome.Approved:
		return nil, failure.TimeoutErrorf("certificate approved but not issued after %s: no signer for %s is running "+
			"(EKS, for one, never signs client certificates); %s",
			timeout, certificatesv1.KubeAPIServerClientSignerName, instead)
	case errors.Is(err, csr.ErrNotIssued):
		return nil, failure.TimeoutErrorf("CertificateSigningRequest %s was not approved within %s", req.Name, timeout)
	}
	return outcome.Certificate, err
}

// diagnoseSigner looks for evidence that the cluster accepts client
// certificate requests but never signs them: name is approved, no request
// for kube-apiserver-client carries a certificate, and requests for other
// signers do. It returns the diagnosis, or "" when it cannot tell.
func diagnoseSigner(ctx context.Context, client kubernetes.Interface, name string) string {
	list, err := client.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
	if err != nil {
		return ""
	}
	var others []string
	approved := false
	for i := range list.Items {
		r := &list.Items[i]
		if r.Name == name {
			approved = csr.State(r) == "approved"
		}
		switch {
		case len(r.Status.Certificate) == 0:
		case r.Spec.SignerName == certificatesv1.KubeAPIServerClientSignerName:
			return "" // this cluster has signed client certificates: keep waiting
		case !slices.Contains(others, r.Spec.SignerName):
			others = append(others, r.Spec.SignerName)
		}
	}
	if !approved || len(others) == 0 {
		return ""
	}
	slices.Sort(others)
	return fmt.Sprintf("this cluster issues certificates for %s, but has issued none for %s: its API accepts client-certificate requests "+
		"and no signer signs them (as on EKS)", strings.Join(others, ", "), certificatesv1.KubeAPIServerClientSignerName)
}
