// Package csr runs the round trip through the Kubernetes
// CertificateSigningRequest API: build, create, approve, wait, fetch.
package csr

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kubeaccess/kubeaccess/internal/labels"
)

// MinTTL is the shortest lifetime the CSR API accepts (expirationSeconds >= 600).
const MinTTL = 10 * time.Minute

// MaxTTL is the longest lifetime expirationSeconds, an int32, can carry.
const MaxTTL = math.MaxInt32 * time.Second

// ValidateTTL checks that the CSR API can carry ttl as asked; flag names
// it in the error.
func ValidateTTL(flag string, ttl time.Duration) error {
	switch {
	case ttl < MinTTL:
		return fmt.Errorf("%s %s is too short: the CSR API requires at least %s", flag, ttl, MinTTL)
	case ttl > MaxTTL:
		return fmt.Errorf("%s %s is too long: the CSR API carries at most %s (2^31-1 seconds)", flag, ttl, MaxTTL)
	}
	return nil
}

// Usages are the key usages of a Kubernetes client certificate.
var Usages = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}

// Build returns the CertificateSigningRequest for a PEM request: signer
// kube-apiserver-client, client-auth usages, the requested lifetime, a
// server-generated unique name derived from user, and kubeaccess's labels.
func Build(user string, request []byte, ttl time.Duration) *certificatesv1.CertificateSigningRequest {
	return &certificatesv1.CertificateSigningRequest{
		TypeMeta: metav1.TypeMeta{APIVersion: certificatesv1.SchemeGroupVersion.String(), Kind: "CertificateSigningRequest"},
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "kubeaccess-" + NameFragment(user) + "-",
			Labels:       map[string]string{labels.ManagedBy: labels.Kubeaccess, labels.User: LabelValue(user)},
		},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:           request,
			SignerName:        certificatesv1.KubeAPIServerClientSignerName,
			Usages:            Usages,
			ExpirationSeconds: ptr.To(int32(ttl / time.Second)),
		},
	}
}

var notNameChars = regexp.MustCompile(`[^a-z0-9-]+`)

// NameFragment turns a user name into something usable inside an object
// name: lower case, runs of other characters as "-", at most 40 characters.
func NameFragment(user string) string {
	s := strings.Trim(notNameChars.ReplaceAllString(strings.ToLower(user), "-"), "-")
	if len(s) > 40 {
		s = strings.TrimRight(s[:40], "-")
	}
	if s == "" {
		s = "user"
	}
	return s
}

var notLabelChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// LabelValue turns a user name into a valid label value (used to find
// objects by user; the exact name is kept in the objects themselves).
func LabelValue(user string) string {
	s := notLabelChars.ReplaceAllString(user, "_")
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.Trim(s, "._-")
}

// Create submits the request.
func Create(ctx context.Context, client kubernetes.Interface, req *certificatesv1.CertificateSigningRequest, dryRun ...string) (*certificatesv1.CertificateSigningRequest, error) {
	created, err := client.CertificatesV1().CertificateSigningRequests().Create(ctx, req, metav1.CreateOptions{FieldManager: labels.Kubeaccess, DryRun: dryRun})
	if err != nil {
		return nil, fmt.Errorf("creating CertificateSigningRequest: %w", err)
	}
	return created, nil
}

// Approve adds an Approved condition with message.
func Approve(ctx context.Context, client kubernetes.Interface, req *certificatesv1.CertificateSigningRequest, message string) error {
	return decide(ctx, client, req, certificatesv1.CertificateApproved, "KubeaccessApproved", message, nil)
}

// Deny adds a Denied condition with message.
// dryRun, as metav1.UpdateOptions has it, makes it a server dry run.
func Deny(ctx context.Context, client kubernetes.Interface, req *certificatesv1.CertificateSigningRequest, message string, dryRun ...string) error {
	return decide(ctx, client, req, certificatesv1.CertificateDenied, "KubeaccessDenied", message, dryRun)
}

func decide(ctx context.Context, client kubernetes.Interface, req *certificatesv1.CertificateSigningRequest, decision certificatesv1.RequestConditionType, reason, message string, dryRun []string) error {
	decided := req.DeepCopy()
	decided.Status.Conditions = append(decided.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type:           decision,
		Status:         corev1.ConditionTrue,
		Reason:         reason,
		Message:        message,
		LastUpdateTime: metav1.Now(),
	})
	_, err := client.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, req.Name, decided, metav1.UpdateOptions{FieldManager: labels.Kubeaccess, DryRun: dryRun})
	if err != nil {
		verb := map[certificatesv1.RequestConditionType]string{certificatesv1.CertificateApproved: "approving", certificatesv1.CertificateDenied: "denying"}[decision]
		return fmt.Errorf("%s CertificateSigningRequest %s: %w", verb, req.Name, err)
	}
	return nil
}

// Delete removes the request, only if it is still the one created (its
// UID): a request deleted meanwhile and made again under its name by
// someone else is theirs. A request already gone is not an error.
func Delete(ctx context.Context, client kubernetes.Interface, created *certificatesv1.CertificateSigningRequest) error {
	uid := created.UID
	err := client.CertificatesV1().CertificateSigningRequests().Delete(ctx, created.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting CertificateSigningRequest %s: %w", created.Name, err)
	}
	return nil
}

// Discard deletes a request after a failure and says what became of it,
// for the error message.
func Discard(client kubernetes.Interface, created *certificatesv1.CertificateSigningRequest) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Delete(ctx, client, created); err != nil {
		return fmt.Sprintf("CertificateSigningRequest %s could not be deleted (%v): delete it with kubectl delete csr %s", created.Name, err, created.Name)
	}
	return fmt.Sprintf("CertificateSigningRequest %s was deleted", created.Name)
}

// Get reads the named request.
func Get(ctx context.Context, client kubernetes.Interface, name string) (*certificatesv1.CertificateSigningRequest, error) {
	req, err := client.CertificatesV1().CertificateSigningRequests().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading CertificateSigningRequest %s: %w", name, err)
	}
	return req, nil
}

// State is "approved", "denied" or "failed" after a decision (or a
// failure), and "" while the request is pending.
func State(req *certificatesv1.CertificateSigningRequest) string {
	for _, t := range []certificatesv1.RequestConditionType{certificatesv1.CertificateDenied, certificatesv1.CertificateFailed, certificatesv1.CertificateApproved} {
		for _, c := range req.Status.Conditions {
			if c.Type == t && c.Status == corev1.ConditionTrue {
				return strings.ToLower(string(t))
			}
		}
	}
	return ""
}

// Pending lists the client-certificate requests (signer
// kube-apiserver-client) waiting for a decision.
func Pending(ctx context.Context, client kubernetes.Interface) ([]*certificatesv1.CertificateSigningRequest, error) {
	list, err := client.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{
		FieldSelector: "spec.signerName=" + certificatesv1.KubeAPIServerClientSignerName,
	})
	if err != nil {
		return nil, fmt.Errorf("listing CertificateSigningRequests: %w", err)
	}
	var out []*certificatesv1.CertificateSigningRequest
	for i := range list.Items {
		if State(&list.Items[i]) == "" {
			out = append(out, &list.Items[i])
		}
	}
	return out, nil
}
