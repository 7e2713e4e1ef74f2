package records

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	certutil "k8s.io/client-go/util/cert"

	"github.com/kubeaccess/kubeaccess/internal/pki"
	"github.com/kubeaccess/kubeaccess/internal/rbac"
)

// issued is a record as kubeaccess writes it, for a certificate signed by
// a throwaway CA.
func issued(t *testing.T, user string, groups []string) Record {
	t.Helper()
	caKey, err := pki.GenerateKey(pki.DefaultKeyType)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := certutil.NewSelfSignedCACert(certutil.Config{CommonName: "records-test"}, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.GenerateKey(pki.DefaultKeyType)
	if err != nil {
		t.Fatal(err)
	}
	request, err := pki.CreateRequest(key, pki.Subject(user, groups))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := pki.ParseRequest(request)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := (&pki.Authority{Cert: ca, Key: caKey}).Sign(parsed, 30*time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.ParseCertificate(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	info := pki.Describe(cert)
	return Record{ID: CertificateID(info.SHA256), User: info.User, Groups: info.Groups, Kind: "certificate", SHA256: info.SHA256,
		Serial: info.Serial, NotBefore: info.NotBefore, NotAfter: info.NotAfter, Certificate: string(certPEM)}
}

func TestRecordCheck(t *testing.T) {
	dave := issued(t, "dave", []string{"dev"})
	revocable := issued(t, "dave", []string{"dev", "kubeaccess:credential:0123456789abcdef"})
	other := issued(t, "mallory", nil)
	token := Record{ID: "t-0011223344556677", User: "system:serviceaccount:ci:bot", Kind: "token", ServiceAccount: "ci/bot"}
	for name, tc := range map[string]struct {
		record  func() Record
		wantErr string
	}{
		"as written":       {record: func() Record { return dave }},
		"own user binding": {record: func() Record { r := dave; r.Access = oldFormat(t, "RoleBinding dev/kubeaccess:user:dave"); return r }},
		"own group binding": {record: func() Record {
			r := dave
			r.Access = oldFormat(t, "ClusterRoleBinding kubeaccess:group:dev+clusterrole:view")
			return r
		}},
		"binding of the old name": {record: func() Record {
			r := dave
			r.Access = oldFormat(t, "RoleBinding dev/kubeaccess:dave:deployer")
			return r
		}},
		"credential group": {record: func() Record {
			r := revocable
			r.CredentialGroup = "kubeaccess:credential:0123456789abcdef"
			r.Access = oldFormat(t, "RoleBinding dev/kubeaccess:credential:0123456789abcdef")
			return r
		}},
		"token": {record: func() Record {
			r := token
			r.Access = oldFormat(t, "RoleBinding ci/kubeaccess:serviceaccount:ci:bot")
			return r
		}},
		"another user":        {record: func() Record { r := dave; r.User = "admin"; return r }, wantErr: `says user "admin", but its certificate is for "dave"`},
		"another group":       {record: func() Record { r := dave; r.Groups = []string{"system:masters"}; return r }, wantErr: `says groups ["system:masters"], but its certificate carries ["dev"]`},
		"another certificate": {record: func() Record { r := dave; r.Certificate = other.Certificate; return r }, wantErr: "says fingerprint"},
		"no certificate":      {record: func() Record { r := dave; r.Certificate = ""; return r }, wantErr: "holds no readable certificate"},
		"borrowed group":      {record: func() Record { r := dave; r.CredentialGroup = "kubeaccess:credential:ffff"; return r }, wantErr: "which its certificate does not carry"},
		"cluster's admin binding": {record: func() Record {
			r := dave
			r.Access = oldFormat(t, "ClusterRoleBinding kubeadm:cluster-admins")
			return r
		}, wantErr: "names ClusterRoleBinding kubeadm:cluster-admins, which is not a name kubeaccess gives"},
		"another user's binding": {record: func() Record { r := dave; r.Access = oldFormat(t, "RoleBinding dev/kubeaccess:user:alice"); return r }, wantErr: "not a name kubeaccess gives"},
		"a group it lacks":       {record: func() Record { r := dave; r.Access = oldFormat(t, "ClusterRoleBinding kubeaccess:group:ops"); return r }, wantErr: "not a name kubeaccess gives"},
		"not an RBAC object":     {record: func() Record { r := dave; r.Access = oldFormat(t, "Secret kube-system/admin"); return r }, wantErr: "is not a Role, ClusterRole"},
		"token of another user":  {record: func() Record { r := token; r.User = "admin"; return r }, wantErr: `says user "admin", but its service account is ci/bot`},
		"token with a group":     {record: func() Record { r := token; r.CredentialGroup = "kubeaccess:credential:aa"; return r }, wantErr: "names a credential group"},
		"unknown kind":           {record: func() Record { r := dave; r.Kind = "password"; return r }, wantErr: `unknown kind "password"`},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.record().Check()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("a record as kubeaccess writes it was refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

// oldFormat reads references as records before typed references held
// them: "Kind ns/name" strings.
func oldFormat(t *testing.T, refs ...string) []rbac.Ref {
	t.Helper()
	data, err := json.Marshal(refs)
	if err != nil {
		t.Fatal(err)
	}
	var out []rbac.Ref
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("old-format references %q are unreadable: %v", refs, err)
	}
	return out
}

func TestAccessIsTypedAndReadsTheOldFormat(t *testing.T) {
	var r Record
	err := json.Unmarshal([]byte(`{"id":"c-1","access":["RoleBinding dev/kubeaccess:user:dave",{"kind":"ClusterRole","name":"kubeaccess:user:dave"},"Secret x/y"]}`), &r)
	if err != nil {
		t.Fatal(err)
	}
	want := []rbac.Ref{{Kind: "RoleBinding", Namespace: "dev", Name: "kubeaccess:user:dave"}, {Kind: "ClusterRole", Name: "kubeaccess:user:dave"}, {Name: "Secret x/y"}}
	if !slices.Equal(r.Access, want) {
		t.Errorf("access read as %+v, want %+v", r.Access, want)
	}
	if err := r.Access[2].Validate(); err == nil {
		t.Error("a reference to a Secret passed Validate")
	}
	data, err := json.Marshal(Record{Access: want[:1]})
	if err != nil || !strings.Contains(string(data), `"access":[{"kind":"RoleBinding","namespace":"dev","name":"kubeaccess:user:dave"}]`) {
		t.Errorf("access written as %s, %v; want typed objects", data, err)
	}
}
