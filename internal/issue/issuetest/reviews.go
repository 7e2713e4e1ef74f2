// Package issuetest makes client-go's fake clientset answer what the
// issuance engine asks an API server, for tests without a cluster.
package issuetest

import (
	"fmt"
	"strconv"
	"sync"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// AnswerReviews makes the fake answer reviews as an API server would for
// user, who may do anything, while the subjects asked about hold nothing.
func AnswerReviews(client *fake.Clientset, user string) {
	client.PrependReactor("create", "selfsubjectreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authenticationv1.SelfSubjectReview)
		r.Status.UserInfo = authenticationv1.UserInfo{Username: user, Groups: []string{"system:authenticated"}}
		return true, r, nil
	})
	client.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
		r.Status.Allowed = true
		return true, r, nil
	})
	client.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		r.Status.Allowed = false
		return true, r, nil
	})
}

// NameRequests makes the fake name CertificateSigningRequests from their
// generateName and give them a resourceVersion, as watching one needs;
// the fake does neither.
func NameRequests(client *fake.Clientset) {
	client.PrependReactor("create", "certificatesigningrequests", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*certificatesv1.CertificateSigningRequest)
		r.Name, r.ResourceVersion = r.GenerateName+"fake", "1"
		return false, nil, nil
	})
}

// Optimistic makes the fake keep objects of resource (in the core group)
// as the API server does: each write bumps the resourceVersion, and an
// update carrying an older one is a conflict, so that a lost update
// shows. The fake alone takes every update.
func Optimistic(client *fake.Clientset, resource string) {
	var mu sync.Mutex
	tracker := client.Tracker()
	gvr := corev1.SchemeGroupVersion.WithResource(resource)
	client.PrependReactor("create", resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		obj := a.(k8stesting.CreateAction).GetObject().DeepCopyObject()
		m, err := meta.Accessor(obj)
		if err != nil {
			return true, nil, err
		}
		m.SetResourceVersion("1")
		if err := tracker.Create(gvr, obj, m.GetNamespace()); err != nil {
			return true, nil, err
		}
		return true, obj, nil
	})
	client.PrependReactor("update", resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		obj := a.(k8stesting.UpdateAction).GetObject().DeepCopyObject()
		m, err := meta.Accessor(obj)
		if err != nil {
			return true, nil, err
		}
		current, err := tracker.Get(gvr, m.GetNamespace(), m.GetName())
		if err != nil {
			return true, nil, err
		}
		cm, err := meta.Accessor(current)
		if err != nil {
			return true, nil, err
		}
		if have := cm.GetResourceVersion(); m.GetResourceVersion() != have {
			return true, nil, apierrors.NewConflict(gvr.GroupResource(), m.GetName(), fmt.Errorf("resourceVersion %s, not %s", m.GetResourceVersion(), have))
		}
		n, _ := strconv.Atoi(cm.GetResourceVersion())
		m.SetResourceVersion(strconv.Itoa(n + 1))
		if err := tracker.Update(gvr, obj, m.GetNamespace()); err != nil {
			return true, nil, err
		}
		return true, obj, nil
	})
}
