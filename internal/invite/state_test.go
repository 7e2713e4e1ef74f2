package invite

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubeaccess/kubeaccess/internal/issue/issuetest"
)

// newStored makes an open invitation in a fake whose Secrets are written
// with optimistic concurrency, as the API server writes them.
func newStored(t *testing.T) (Store, []byte, *Invite) {
	t.Helper()
	client := fake.NewClientset()
	issuetest.Optimistic(client, "secrets")
	store := Store{Client: client, Namespace: "kubeaccess-system"}
	key := []byte("0123456789abcdef0123456789abcdef")
	_, hash, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	inv := &Invite{ID: IDOf(hash), TokenHash: hash, User: "dave", Namespace: "dev", TTL: "1h", Approval: ApprovalManual, State: StateOpen,
		Creator: &authenticationv1.UserInfo{Username: "admin"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if _, err := store.Create(context.Background(), key, inv); err != nil {
		t.Fatal(err)
	}
	return store, key, inv
}

// Of many requests that claim one invitation at once, exactly one wins;
// the others are told it is in use.
func TestClaimOnce(t *testing.T) {
	store, key, inv := newStored(t)
	ctx := context.Background()
	var (
		wg           sync.WaitGroup
		mu           sync.Mutex
		won, claimed int
	)
	for range 8 {
		st, err := store.Get(ctx, key, inv.ID)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			err := store.Claim(ctx, key, st)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, ErrClaimed):
				claimed++
			default:
				t.Errorf("claim: %v", err)
			}
		})
	}
	wg.Wait()
	if won != 1 || claimed != 7 {
		t.Errorf("%d claims won and %d were told it is in use; want 1 and 7", won, claimed)
	}
	st, _ := store.Get(ctx, key, inv.ID)
	if err := store.Claim(ctx, key, st); !errors.Is(err, ErrClaimed) {
		t.Errorf("claiming an invitation being redeemed: %v, want it said to be in use", err)
	}
	st.State, st.Revoked = StateRevoked, &st.CreatedAt
	if err := store.Claim(ctx, key, st); err == nil || errors.Is(err, ErrClaimed) {
		t.Errorf("claiming a revoked invitation: %v, want why it cannot be used", err)
	}
}

// An invitation revoked while it is being redeemed stays revoked, however
// the redemption ends, and names the credential issued so that it can be
// revoked too; a used one cannot be revoked.
func TestRevokedStaysRevoked(t *testing.T) {
	ctx := context.Background()
	for _, outcome := range []string{"redeemed", "reopened"} {
		t.Run(outcome, func(t *testing.T) {
			store, key, inv := newStored(t)
			st, _ := store.Get(ctx, key, inv.ID)
			if err := store.Claim(ctx, key, st); err != nil {
				t.Fatal(err)
			}
			req := &certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{Name: "kubeaccess-dave-x", UID: "u-1"},
				Spec: certificatesv1.CertificateSigningRequestSpec{Request: []byte("req"), Username: "system:serviceaccount:kubeaccess-system:portal"}}
			if err := store.Submitted(ctx, key, st, req); err != nil {
				t.Fatal(err)
			}
			// The admin revokes while the portal still holds its copy.
			if _, err := store.Revoke(ctx, key, inv.ID); err != nil {
				t.Fatal(err)
			}
			var err error
			if outcome == "redeemed" {
				err = store.Redeemed(ctx, key, st, "c-0123456789abcdef")
			} else {
				err = store.Reopen(ctx, key, st)
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := store.Get(ctx, key, inv.ID)
			if got.State != StateRevoked || got.Revoked == nil {
				t.Errorf("after the redemption %s, the invitation is %s; want revoked", outcome, got.State)
			}
			if outcome == "redeemed" && got.Record != "c-0123456789abcdef" {
				t.Errorf("the revoked invitation does not name the credential issued: %q", got.Record)
			}
		})
	}
	store, key, inv := newStored(t)
	st, _ := store.Get(ctx, key, inv.ID)
	if err := store.Claim(ctx, key, st); err != nil {
		t.Fatal(err)
	}
	if err := store.Redeemed(ctx, key, st, "c-0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	if used, err := store.Revoke(ctx, key, inv.ID); !errors.Is(err, ErrUsed) || used.Record != "c-0123456789abcdef" {
		t.Errorf("revoking a used invitation: %v (record %q), want ErrUsed naming the credential", err, used.Record)
	}
}
