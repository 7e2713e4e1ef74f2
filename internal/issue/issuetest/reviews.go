// Package issuetest makes client-go's fake clientset answer what the
// issuance engine asks an API server, for tests without a cluster.
package issuetest

import (
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
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
