package csr

import (
	"context"
	"errors"
	"fmt"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// ConditionError reports a request that ended Denied or Failed.
type ConditionError struct {
	Name    string
	Type    certificatesv1.RequestConditionType
	Reason  string
	Message string
}

func (e *ConditionError) Error() string {
	msg := fmt.Sprintf("CertificateSigningRequest %s was %s", e.Name, strings.ToLower(string(e.Type)))
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// ErrNotIssued means the wait ended before a certificate appeared.
var ErrNotIssued = errors.New("certificate not issued")

// Outcome is the state of a request at the end of a wait.
type Outcome struct {
	Certificate []byte // PEM, when issued
	Approved    bool
}

// WaitForCertificate watches the named request until it carries a
// certificate, ends Denied or Failed (a *ConditionError), or ctx ends
// (ErrNotIssued, with the Outcome saying whether it had been approved).
func WaitForCertificate(ctx context.Context, client kubernetes.Interface, name string) (Outcome, error) {
	csrs := client.CertificatesV1().CertificateSigningRequests()
	selector := fields.OneTermEqualSelector("metadata.name", name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = selector
			return csrs.List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector = selector
			return csrs.Watch(ctx, opts)
		},
	}
	var last Outcome
	_, err := watchtools.UntilWithSync(ctx, lw, &certificatesv1.CertificateSigningRequest{}, nil, func(ev watch.Event) (bool, error) {
		if ev.Type == watch.Deleted {
			return false, fmt.Errorf("CertificateSigningRequest %s was deleted while waiting for its certificate", name)
		}
		req, ok := ev.Object.(*certificatesv1.CertificateSigningRequest)
		if !ok {
			return false, nil
		}
		last = Outcome{Certificate: req.Status.Certificate}
		for _, c := range req.Status.Conditions {
			if c.Status != corev1.ConditionTrue {
				continue
			}
			switch c.Type {
			case certificatesv1.CertificateDenied, certificatesv1.CertificateFailed:
				return false, &ConditionError{Name: name, Type: c.Type, Reason: c.Reason, Message: c.Message}
			case certificatesv1.CertificateApproved:
				last.Approved = true
			}
		}
		return len(req.Status.Certificate) > 0, nil
	})
	if err != nil && ctx.Err() != nil {
		return last, ErrNotIssued
	}
	return last, err
}
