package verify

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// reviewServer answers SelfSubjectReview creates for the versions in served
// and 404 for the others, recording which paths were asked.
func reviewServer(t *testing.T, served map[string]int, asked *[]string) kubernetes.Interface {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*asked = append(*asked, r.URL.Path)
		version := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/apis/authentication.k8s.io/"), "/selfsubjectreviews")
		w.Header().Set("Content-Type", "application/json")
		status, ok := served[version]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})
			return
		}
		w.WriteHeader(status)
		if status != http.StatusCreated {
			json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Unauthorized", "code": status})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{
			"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/" + version,
			"status": map[string]any{"userInfo": map[string]any{"username": "dave-" + version, "groups": []string{"dev"}}},
		})
	}))
	t.Cleanup(srv.Close)
	client, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func TestWhoAmIFallsBackOnNotFound(t *testing.T) {
	const prefix = "/apis/authentication.k8s.io/"
	tests := map[string]struct {
		served    map[string]int
		wantUser  string
		wantErr   error
		wantAsked []string
	}{
		"v1 served": {
			served: map[string]int{"v1": 201, "v1beta1": 201}, wantUser: "dave-v1",
			wantAsked: []string{prefix + "v1/selfsubjectreviews"},
		},
		"only v1beta1": {
			served: map[string]int{"v1beta1": 201}, wantUser: "dave-v1beta1",
			wantAsked: []string{prefix + "v1/selfsubjectreviews", prefix + "v1beta1/selfsubjectreviews"},
		},
		"only v1alpha1": {
			served: map[string]int{"v1alpha1": 201}, wantUser: "dave-v1alpha1",
			wantAsked: []string{prefix + "v1/selfsubjectreviews", prefix + "v1beta1/selfsubjectreviews", prefix + "v1alpha1/selfsubjectreviews"},
		},
		"none served": {
			served: map[string]int{}, wantErr: ErrSelfSubjectReviewUnavailable,
			wantAsked: []string{prefix + "v1/selfsubjectreviews", prefix + "v1beta1/selfsubjectreviews", prefix + "v1alpha1/selfsubjectreviews"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var asked []string
			id, err := WhoAmI(t.Context(), reviewServer(t, tc.served, &asked))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && id.Username != tc.wantUser {
				t.Errorf("username = %q, want %q", id.Username, tc.wantUser)
			}
			if strings.Join(asked, ",") != strings.Join(tc.wantAsked, ",") {
				t.Errorf("asked %v, want %v", asked, tc.wantAsked)
			}
		})
	}
}

func TestWhoAmIDoesNotFallBackOnUnauthorized(t *testing.T) {
	var asked []string
	_, err := WhoAmI(t.Context(), reviewServer(t, map[string]int{"v1": 401, "v1beta1": 201}, &asked))
	if err == nil || !strings.HasPrefix(err.Error(), "the API server did not accept the credential") {
		t.Fatalf("error = %v", err)
	}
	if len(asked) != 1 {
		t.Errorf("asked %v after a 401, want only v1", asked)
	}
}

func TestUnrestricted(t *testing.T) {
	var unknown *Identity
	for name, tc := range map[string]struct {
		id   *Identity
		want bool
	}{
		"unknown":        {unknown, false},
		"masters":        {&Identity{UserInfo: authenticationv1.UserInfo{Username: "admin", Groups: []string{"system:masters", "system:authenticated"}}}, true},
		"cluster-admins": {&Identity{UserInfo: authenticationv1.UserInfo{Username: "ops", Groups: []string{"kubeadm:cluster-admins"}}}, false},
	} {
		if got := tc.id.Unrestricted(); got != tc.want {
			t.Errorf("%s: Unrestricted = %v, want %v", name, got, tc.want)
		}
	}
}
