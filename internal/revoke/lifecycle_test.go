package revoke_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubeaccess/kubeaccess/internal/issue"
	"github.com/kubeaccess/kubeaccess/internal/issue/issuetest"
	"github.com/kubeaccess/kubeaccess/internal/kubeconfig"
	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/records"
	"github.com/kubeaccess/kubeaccess/internal/renew"
	"github.com/kubeaccess/kubeaccess/internal/revoke"
)

const recordsNamespace = "kubeaccess-system"

// Renewals and revocations run as library calls, at once, on one engine
// and one client (run with -race). Some users are renewed, some revoked,
// and some both at the same moment. Afterwards every renewed user's old
// record names its successor and the file holds the new certificate;
// every revoked user's binding is gone and their records are revoked; and
// where both raced, no credential outlives the revocation: whichever won,
// every record of the user is revoked, the successor included.
func TestRenewAndRevokeConcurrently(t *testing.T) {
	ctx := context.Background()
	ca := issuetest.NewAuthority(t)
	srv := whoAmIServer(t)
	client := fake.NewClientset()
	issuetest.AnswerReviews(client, "admin")
	issuetest.Optimistic(client, "configmaps")
	if _, err := client.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "view"},
		Rules: []rbacv1.PolicyRule{{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cluster := kubeconfig.Cluster{Name: "fake", Server: srv.URL,
		CA: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})}
	engine := issue.New(client, nil, cluster)
	dir := t.TempDir()

	var renewOnly, revokeOnly, both []string
	for i := range 4 {
		renewOnly = append(renewOnly, fmt.Sprintf("renew-%d", i))
		revokeOnly = append(revokeOnly, fmt.Sprintf("revoke-%d", i))
		both = append(both, fmt.Sprintf("both-%d", i))
	}
	path := func(user string) string { return filepath.Join(dir, user+".kubeconfig") }
	first := map[string]string{}
	for _, user := range append(append(append([]string{}, renewOnly...), revokeOnly...), both...) {
		res, err := engine.Execute(ctx, &issue.Plan{
			Action: "grant", Subject: issue.Subject{User: user, Groups: []string{"dev"}},
			Source:    &issue.Authority{CA: ca, KeyType: pki.ECDSAP256, TTL: time.Hour},
			Access:    issue.AccessSpec{ClusterRole: "view"},
			Namespace: "apps", CreateNamespace: true, RecordsNamespace: recordsNamespace,
			Destination: issue.Destination{Path: path(user)},
		})
		if err != nil {
			t.Fatalf("issuing %s: %v", user, err)
		}
		first[user] = res.RecordID
	}

	renewer := &renew.Renewer{Engine: engine, RecordsNamespace: recordsNamespace, Authority: ca, KeyType: pki.ECDSAP256, MaxTTL: 24 * time.Hour}
	revoker := &revoke.Revoker{Client: client, RecordsNamespace: recordsNamespace, By: "admin", CheckTimeout: time.Second}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		renewed   = map[string]*renew.Outcome{}
		renewErr  = map[string]error{}
		revokeErr = map[string]error{}
	)
	for _, user := range append(append([]string{}, renewOnly...), both...) {
		wg.Go(func() {
			out, err := renewer.Renew(ctx, renew.Request{Kubeconfig: path(user)})
			mu.Lock()
			defer mu.Unlock()
			renewed[user], renewErr[user] = out, err
		})
	}
	for _, user := range append(append([]string{}, revokeOnly...), both...) {
		wg.Go(func() {
			_, err := revoker.Revoke(ctx, revoke.Target{User: user})
			mu.Lock()
			defer mu.Unlock()
			revokeErr[user] = err
		})
	}
	wg.Wait()

	store := records.Store{Client: client, Namespace: recordsNamespace}
	for _, user := range renewOnly {
		if err := renewErr[user]; err != nil {
			t.Errorf("renewing %s: %v", user, err)
			continue
		}
		fresh := renewed[user].Result.RecordID
		old, err := store.Get(ctx, first[user])
		if err != nil || old.ReplacedBy != fresh || old.Revoked != nil {
			t.Errorf("%s's old record after renewal: %+v, %v; want it to name %s", user, old, err, fresh)
		}
		if rec, err := store.Get(ctx, fresh); err != nil || rec.Replaces != first[user] || rec.Revoked != nil || len(rec.Access) == 0 {
			t.Errorf("%s's new record: %+v, %v", user, rec, err)
		}
		if got := certificateIDIn(t, path(user)); got != fresh {
			t.Errorf("%s's kubeconfig holds credential %s, want the renewed %s", user, got, fresh)
		}
	}
	for _, user := range append(append([]string{}, revokeOnly...), both...) {
		if err := revokeErr[user]; err != nil {
			t.Errorf("revoking %s: %v", user, err)
		}
		binding := "kubeaccess:user:" + user + "+clusterrole:view"
		if _, err := client.RbacV1().RoleBindings("apps").Get(ctx, binding, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("%s's binding %s is still there: %v", user, binding, err)
		}
		recs, err := store.List(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			if rec.Revoked == nil || rec.RevokedBy != "admin" {
				t.Errorf("%s's record %s outlived the revocation (replaces %q): %+v", user, rec.ID, rec.Replaces, rec)
			}
		}
	}
	for _, user := range both {
		// The renewal either went first and was revoked with the old
		// credential, or found it revoked and said so.
		if err := renewErr[user]; err != nil && !strings.Contains(err.Error(), "was revoked") {
			t.Errorf("renewing %s while it was revoked failed for another reason: %v", user, err)
		}
	}
}

// certificateIDIn is the record ID of the certificate in a kubeconfig.
func certificateIDIn(t *testing.T, path string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, auth := range cfg.AuthInfos {
		cert, err := pki.ParseCertificate(auth.ClientCertificateData)
		if err != nil {
			t.Fatal(err)
		}
		return records.CertificateID(pki.Describe(cert).SHA256)
	}
	return ""
}

// whoAmIServer answers, as an API server would, who a client certificate
// is, and allows it what it asks: what the engine verifies a new
// credential with.
func whoAmIServer(t *testing.T) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		// The request may be protobuf; the answer is JSON, which a client
		// takes as well.
		body := map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
		if !strings.Contains(r.URL.Path, "/authentication.k8s.io/") {
			body = map[string]any{"apiVersion": "authorization.k8s.io/v1", "kind": kindOf(r.URL.Path)}
		}
		switch {
		case strings.HasSuffix(r.URL.Path, "/selfsubjectreviews") && r.TLS != nil && len(r.TLS.PeerCertificates) > 0:
			subject := r.TLS.PeerCertificates[0].Subject
			body["status"] = authenticationv1.SelfSubjectReviewStatus{UserInfo: authenticationv1.UserInfo{Username: subject.CommonName, Groups: subject.Organization}}
		case strings.HasSuffix(r.URL.Path, "/selfsubjectaccessreviews"):
			body["status"] = map[string]any{"allowed": true}
		case strings.HasSuffix(r.URL.Path, "/selfsubjectrulesreviews"):
			body["status"] = map[string]any{"incomplete": true}
		default:
			http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","code":404}`, http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(body)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// kindOf is the kind of a review from its resource path.
func kindOf(path string) string {
	switch {
	case strings.HasSuffix(path, "/selfsubjectaccessreviews"):
		return "SelfSubjectAccessReview"
	case strings.HasSuffix(path, "/selfsubjectrulesreviews"):
		return "SelfSubjectRulesReview"
	}
	return ""
}
