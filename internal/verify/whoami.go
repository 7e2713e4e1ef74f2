// Package verify asks the API server what a credential can do: who it is
// (SelfSubjectReview) and whether it may do something (access reviews).
package verify

import (
	"context"
	"errors"
	"fmt"
	"slices"

	authenticationv1 "k8s.io/api/authentication/v1"
	authenticationv1alpha1 "k8s.io/api/authentication/v1alpha1"
	authenticationv1beta1 "k8s.io/api/authentication/v1beta1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
)

// ErrSelfSubjectReviewUnavailable means the API server serves no version of
// SelfSubjectReview (Kubernetes before 1.26, or the API switched off).
var ErrSelfSubjectReviewUnavailable = errors.New("the API server does not serve SelfSubjectReview (authentication.k8s.io v1, v1beta1 or v1alpha1)")

// Identity is who the API server says the client is.
type Identity struct {
	authenticationv1.UserInfo
	// Review is the SelfSubjectReview object returned by the server, in
	// whichever API version answered.
	Review runtime.Object
}

// MastersGroup is the group kube-apiserver allows every request, before
// and whatever any authorizer says.
const MastersGroup = "system:masters"

// Unrestricted reports whether the API server allows the identity
// everything (it is in system:masters), so that asking about single
// permissions tells nothing. An unknown identity (nil) is not.
func (id *Identity) Unrestricted() bool {
	return id != nil && slices.Contains(id.Groups, MastersGroup)
}

// WhoAmI asks the API server who the client is. It tries SelfSubjectReview
// v1 first and falls back to v1beta1, then v1alpha1, when a version is not
// served (404), as kubectl auth whoami does.
func WhoAmI(ctx context.Context, client kubernetes.Interface) (*Identity, error) {
	attempts := []func() (authenticationv1.UserInfo, runtime.Object, error){
		func() (authenticationv1.UserInfo, runtime.Object, error) {
			r, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
			if err != nil {
				return authenticationv1.UserInfo{}, nil, err
			}
			return r.Status.UserInfo, r, nil
		},
		func() (authenticationv1.UserInfo, runtime.Object, error) {
			r, err := client.AuthenticationV1beta1().SelfSubjectReviews().Create(ctx, &authenticationv1beta1.SelfSubjectReview{}, metav1.CreateOptions{})
			if err != nil {
				return authenticationv1.UserInfo{}, nil, err
			}
			return r.Status.UserInfo, r, nil
		},
		func() (authenticationv1.UserInfo, runtime.Object, error) {
			r, err := client.AuthenticationV1alpha1().SelfSubjectReviews().Create(ctx, &authenticationv1alpha1.SelfSubjectReview{}, metav1.CreateOptions{})
			if err != nil {
				return authenticationv1.UserInfo{}, nil, err
			}
			return r.Status.UserInfo, r, nil
		},
	}
	for _, attempt := range attempts {
		user, review, err := attempt()
		switch {
		case err == nil:
			return &Identity{UserInfo: user, Review: review}, nil
		case apierrors.IsNotFound(err):
			continue
		case apierrors.IsUnauthorized(err):
			return nil, fmt.Errorf("the API server did not accept the credential: %w", err)
		default:
			return nil, fmt.Errorf("asking the API server who this is: %w", err)
		}
	}
	return nil, ErrSelfSubjectReviewUnavailable
}

// WhoAmIFile asks the API server who a user entry of a kubeconfig file is
// (the current context's with user ""), connecting with that entry alone:
// the file is data (see kubeconfig.RESTConfigFor).
func WhoAmIFile(ctx context.Context, path, user string) (*Identity, error) {
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return nil, err
	}
	user, _, err = kubeconfig.UserEntry(cfg, path, user)
	if err != nil {
		return nil, err
	}
	rc, err := kubeconfig.RESTConfigFor(cfg, path, user)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	return WhoAmI(ctx, client)
}
