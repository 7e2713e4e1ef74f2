package csr

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kubeaccess/kubeaccess/internal/safe"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
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

// WaitForCertificate watches req, as last read (say, as created), from its
// resourceVersion until it carries a certificate, ends Denied or Failed (a
// *ConditionError), or ctx ends (ErrNotIssued, with the Outcome saying
// whether it had been approved). Watching from a known version needs no
// initial list, so the watch can be opened before the request is approved.
func WaitForCertificate(ctx context.Context, client kubernetes.Interface, req *certificatesv1.CertificateSigningRequest) (Outcome, error) {
	var last Outcome
	check := func(ev watch.Event) (bool, error) {
		if ev.Type == watch.Deleted {
			return false, fmt.Errorf("CertificateSigningRequest %s was deleted while waiting for its certificate", req.Name)
		}
		r, ok := ev.Object.(*certificatesv1.CertificateSigningRequest)
		if !ok {
			return false, nil
		}
		last = Outcome{Certificate: r.Status.Certificate}
		for _, c := range r.Status.Conditions {
			if c.Status != corev1.ConditionTrue {
				continue
			}
			switch c.Type {
			case certificatesv1.CertificateDenied, certificatesv1.CertificateFailed:
				return false, &ConditionError{Name: r.Name, Type: c.Type, Reason: c.Reason, Message: c.Message}
			case certificatesv1.CertificateApproved:
				last.Approved = true
			}
		}
		return len(r.Status.Certificate) > 0, nil
	}
	if done, err := check(watch.Event{Type: watch.Modified, Object: req}); done || err != nil {
		return last, err
	}
	csrs := client.CertificatesV1().CertificateSigningRequests()
	selector := fields.OneTermEqualSelector("metadata.name", req.Name).String()
	lw := &cache.ListWatch{WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
		opts.FieldSelector = selector
		// Stopping the watch cancels its request, which client-go would
		// log as an error on every certificate issued.
		return csrs.Watch(safe.Quiet(ctx), opts)
	}}
	w, err := watchtools.NewRetryWatcherWithContext(ctx, req.ResourceVersion, lw)
	if err != nil {
		return last, err
	}
	defer w.Stop()
	_, err = watchtools.UntilWithoutRetry(ctx, w, check)
	if err != nil && ctx.Err() != nil {
		return last, ErrNotIssued
	}
	return last, err
}
