package records

import (
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubeaccess/kubeaccess/internal/labels"
)

// TestModifyKeepsAConcurrentRevocation: the first write conflicts with
// another admin's revocation; Modify reads again and keeps it.
func TestModifyKeepsAConcurrentRevocation(t *testing.T) {
	cm, err := toConfigMap("kubeaccess-system", Record{ID: "c-1", User: "dave", Kind: "certificate"})
	if err != nil {
		t.Fatal(err)
	}
	client := fake.NewClientset(cm)
	conflicts := 0
	client.PrependReactor("update", "configmaps", func(action k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts > 0 {
			return false, nil, nil
		}
		conflicts++
		// Another admin revokes in between: the stored record changes,
		// and this write loses the race.
		revoked := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		other, _ := toConfigMap("kubeaccess-system", Record{ID: "c-1", User: "dave", Kind: "certificate", Revoked: &revoked, RevokedBy: "other-admin"})
		if err := client.Tracker().Update(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, other, "kubeaccess-system"); err != nil {
			t.Fatal(err)
		}
		return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, "kubeaccess-c-1", errors.New("changed"))
	})
	store := Store{Client: client, Namespace: "kubeaccess-system"}
	calls := 0
	err = store.Modify(t.Context(), "c-1", func(r *Record) error { calls++; r.ReplacedBy = "c-2"; return nil })
	if err != nil {
		t.Fatal(err)
	}
	got, err := store.Get(t.Context(), "c-1")
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 || got.ReplacedBy != "c-2" || got.Revoked == nil || got.RevokedBy != "other-admin" {
		t.Errorf("after a conflict: %d changes, record %+v; want the change applied again on top of the revocation", calls, got)
	}
}

func TestCheckNamespace(t *testing.T) {
	for name, tc := range map[string]struct {
		ns      *corev1.Namespace
		exists  bool
		wantErr bool
	}{
		"missing":        {},
		"kubeaccess's":   {ns: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kubeaccess-system", Labels: map[string]string{"app.kubernetes.io/managed-by": "kubeaccess"}}}, exists: true},
		"someone else's": {ns: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kubeaccess-system"}}, exists: true, wantErr: true},
	} {
		t.Run(name, func(t *testing.T) {
			client := fake.NewClientset()
			if tc.ns != nil {
				client = fake.NewClientset(tc.ns)
			}
			exists, err := Store{Client: client, Namespace: "kubeaccess-system"}.CheckNamespace(t.Context())
			if exists != tc.exists || (err != nil) != tc.wantErr {
				t.Errorf("CheckNamespace = %v, %v; want exists=%v, error=%v", exists, err, tc.exists, tc.wantErr)
			}
		})
	}
}

func TestOneUnreadableRecordStopsNoList(t *testing.T) {
	client := fake.NewClientset(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "kubeaccess-c-garbage", Namespace: DefaultNamespace,
			Labels: map[string]string{KindLabel: "certificate", labels.Team: "t"}},
		Data: map[string]string{"record.json": "{not json"},
	})
	store := Store{Client: client, Namespace: DefaultNamespace}
	recs, err := store.List(t.Context(), "")
	if err != nil || len(recs) != 1 {
		t.Fatalf("list: %v %v", recs, err)
	}
	if err := recs[0].Check(); err == nil || !strings.Contains(err.Error(), "cannot be read") {
		t.Errorf("an unreadable record passes Check: %v", err)
	}
	if mine, err := store.List(t.Context(), "dave"); err != nil || len(mine) != 0 {
		t.Errorf("an unreadable record is listed as dave's: %v %v", mine, err)
	}
	recs, untrusted, err := store.ListTeam(t.Context(), "t")
	if err != nil || len(recs) != 0 || len(untrusted) != 1 || untrusted[0].Name != "kubeaccess-c-garbage" {
		t.Errorf("team list: %v %v %v", recs, untrusted, err)
	}
}
