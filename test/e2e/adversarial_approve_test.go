package e2e

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kubeaccess/kubeaccess/internal/csr"
	"github.com/kubeaccess/kubeaccess/internal/pki"
)

// requestPEM makes a PEM certificate request from tmpl, as an attacker
// with openssl would.
func requestPEM(t *testing.T, tmpl x509.CertificateRequest) []byte {
	t.Helper()
	key, err := pki.GenerateKey(pki.DefaultKeyType)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(nil, &tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// asUser is a client that acts as user through impersonation.
func asUser(t *testing.T, user string) kubernetes.Interface {
	t.Helper()
	return clientFor(t, impersonatingKubeconfig(t, user))
}

// mustStayPending fails unless the request was neither approved nor denied.
func mustStayPending(t *testing.T, client kubernetes.Interface, name string) {
	t.Helper()
	req, err := client.CertificatesV1().CertificateSigningRequests().Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if state := csr.State(req); state != "" {
		t.Errorf("CertificateSigningRequest %s is %s after a refusal", name, state)
	}
}

// TestApproveRefusesWhatTheRequestSmuggles: classes 1, 4, 5 and 6. An
// unprivileged requester ("mallory", allowed only to create requests)
// asks for certificates that would escalate; approve shows who asked,
// quoted, and refuses each, leaving the request pending and binding nothing.
func TestApproveRefusesWhatTheRequestSmuggles(t *testing.T) {
	admin := adminClient(t)
	ctx := t.Context()
	bindRules(t, admin, "alice-is-admin", "", []rbacv1.PolicyRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}},
		rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "alice"})
	bindRules(t, admin, "carol-edits-team", "default", []rbacv1.PolicyRule{{Verbs: []string{"get", "update"}, APIGroups: []string{""}, Resources: []string{"configmaps"}}},
		rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "carol"})
	bindRules(t, admin, "mallory-requests", "", []rbacv1.PolicyRule{{Verbs: []string{"create", "get"}, APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests"}}},
		rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "mallory"})
	mallory := asUser(t, "mallory")
	spiffe, _ := url.Parse("spiffe://cluster.local/ns/kube-system/sa/admin")
	subject := func(cn string) pkix.Name { return pki.Subject(cn, []string{"dev"}) }
	day := int32(24 * 3600)
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		tmpl       x509.CertificateRequest
		expiration *int32
		want       []string
	}{
		"privileged subject asked by another": {tmpl: x509.CertificateRequest{Subject: pki.Subject("alice", nil)}, expiration: &day, want: []string{
			`asked by "mallory"`, `warning: "mallory" asked for a certificate for "alice", a different user`,
			`refusing to issue a credential to "alice": it would hold escalation-grade permissions`, `held through ClusterRoleBinding "alice-is-admin"`}},
		"subject with existing access": {tmpl: x509.CertificateRequest{Subject: pki.Subject("carol", nil)}, expiration: &day, want: []string{
			`refusing to approve: "carol", or one of its groups [], already has access through bindings kubeaccess did not make`,
			`RoleBinding default/carol-edits-team (ClusterRole "carol-edits-team")`, "--allow-existing-access"}},
		"DNS name":       {tmpl: x509.CertificateRequest{Subject: subject("san-dns"), DNSNames: []string{"kubernetes.default.svc"}}, expiration: &day, want: []string{`subject alternative names (DNS:"kubernetes.default.svc")`}},
		"IP address":     {tmpl: x509.CertificateRequest{Subject: subject("san-ip"), IPAddresses: []net.IP{net.ParseIP("10.96.0.1")}}, expiration: &day, want: []string{"subject alternative names (IP:10.96.0.1)"}},
		"email address":  {tmpl: x509.CertificateRequest{Subject: subject("san-email"), EmailAddresses: []string{"root@cluster.local"}}, expiration: &day, want: []string{`email:"root@cluster.local"`}},
		"URI":            {tmpl: x509.CertificateRequest{Subject: subject("san-uri"), URIs: []*url.URL{spiffe}}, expiration: &day, want: []string{`URI:"spiffe://cluster.local/ns/kube-system/sa/admin"`}},
		"extension":      {tmpl: x509.CertificateRequest{Subject: subject("ext"), ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, Value: []byte{5, 0}}}}, expiration: &day, want: []string{"extensions kubeaccess does not put there (1.3.6.1.4.1.99999.1)"}},
		"extra subject":  {tmpl: x509.CertificateRequest{Subject: pkix.Name{CommonName: "ou", OrganizationalUnit: []string{"system:masters"}}}, expiration: &day, want: []string{"attribute 2.5.4.11"}},
		"no lifetime":    {tmpl: x509.CertificateRequest{Subject: subject("forever")}, want: []string{"sets no expirationSeconds, so the signer issues its maximum", "--max-ttl 90d"}},
		"long lifetime":  {tmpl: x509.CertificateRequest{Subject: subject("long")}, expiration: ptr.To(int32(200 * 24 * 3600)), want: []string{"asks for a lifetime of 4800h0m0s is longer than --max-ttl 90d"}},
		"zero-width":     {tmpl: x509.CertificateRequest{Subject: subject("dave\u200b")}, expiration: &day, want: []string{`"dave\u200b" contains the invisible or non-printing character U+200B`}},
		"right-to-left":  {tmpl: x509.CertificateRequest{Subject: pki.Subject("eve", []string{"dev\u202e"})}, expiration: &day, want: []string{"U+202E"}},
		"escape in name": {tmpl: x509.CertificateRequest{Subject: subject("\x1b]0;owned\x07\x1b[2Jdave")}, expiration: &day, want: []string{"contains a control character"}},
	} {
		t.Run(name, func(t *testing.T) {
			req := &certificatesv1.CertificateSigningRequest{
				ObjectMeta: metav1.ObjectMeta{GenerateName: "mallory-"},
				Spec: certificatesv1.CertificateSigningRequestSpec{
					Request: requestPEM(t, tc.tmpl), SignerName: certificatesv1.KubeAPIServerClientSignerName,
					Usages: csr.Usages, ExpirationSeconds: tc.expiration,
				},
			}
			created, err := mallory.CertificatesV1().CertificateSigningRequests().Create(ctx, req, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, created.Name+".kubeconfig")
			r := kubeaccess(t, cluster.AdminKubeconfig, "approve", created.Name, "-n", "default", "--verb", "get", "--resource", "pods", "--out", out)
			mustFailWith(t, "approve "+name, r, 2, tc.want[0])
			for _, want := range tc.want[1:] {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("approve does not say %q:\n%s", want, r.stderr)
				}
			}
			if strings.ContainsAny(r.stderr+r.stdout, "\x1b\x07") {
				t.Errorf("an escape sequence from the request reached the terminal: %q", r.stderr)
			}
			mustStayPending(t, admin, created.Name)
			mustHaveIssuedNothing(t, admin, tc.tmpl.Subject.CommonName, out)
		})
	}
	// The pending list shows every untrusted string quoted.
	r := kubeaccess(t, cluster.AdminKubeconfig, "approve")
	mustSucceed(t, "approve (list)", r)
	if strings.ContainsAny(r.stdout, "\x1b\x07") || !strings.Contains(r.stdout, `"mallory"`) || !strings.Contains(r.stdout, `"dave\u200b"`) {
		t.Errorf("the pending list does not quote what requesters wrote:\n%q", r.stdout)
	}
	// Said deliberately, existing access is approved.
	req := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "carol-"},
		Spec: certificatesv1.CertificateSigningRequestSpec{Request: requestPEM(t, x509.CertificateRequest{Subject: pki.Subject("carol", nil)}),
			SignerName: certificatesv1.KubeAPIServerClientSignerName, Usages: csr.Usages, ExpirationSeconds: &day},
	}
	created, err := mallory.CertificatesV1().CertificateSigningRequests().Create(ctx, req, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, "approve --allow-existing-access", kubeaccess(t, cluster.AdminKubeconfig, "approve", created.Name, "--allow-existing-access", "--out", filepath.Join(dir, "carol.kubeconfig")))
}

// TestSignRefusesWhatTheRequestSmuggles: classes 5 and 4 for offline
// signing, which never reaches the controller-manager's checks.
func TestSignRefusesWhatTheRequestSmuggles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	withSAN := write("san.csr", requestPEM(t, x509.CertificateRequest{Subject: pki.Subject("sana", nil), DNSNames: []string{"evil.example"}}))
	plain := write("plain.csr", requestPEM(t, x509.CertificateRequest{Subject: pki.Subject("plain", nil)}))
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"SAN":               {[]string{withSAN}, `refusing to sign ` + withSAN + `: the request carries subject alternative names (DNS:"evil.example")`},
		"SAN offline":       {[]string{withSAN, "--offline", "--allow-privileged"}, "subject alternative names"},
		"past max-ttl":      {[]string{plain, "--ttl", "2400h"}, "--ttl 2400h0m0s is longer than --max-ttl 90d"},
		"past int32":        {[]string{plain, "--ttl", "1193047h"}, "--ttl 1193047h0m0s is too long: the CSR API carries at most"},
		"offline unchecked": {[]string{plain, "--offline"}, `refusing to sign offline: with no API request, kubeaccess cannot ask the cluster whether "plain" holds escalation-grade permissions`},
	} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".kubeconfig")
			r := kubeaccess(t, cluster.AdminKubeconfig, append([]string{"sign", "--ca-cert", cluster.CACert, "--ca-key", cluster.CAKey, "--out", out}, tc.args...)...)
			mustFailWith(t, "sign "+name, r, 2, tc.want)
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a refused sign wrote %s", out)
			}
		})
	}
}

// TestLifetimesAreBounded: class 4 on grant and token. A lifetime past
// int32 seconds is a usage error, not a silent wrap; one past --max-ttl
// is refused until --max-ttl is raised.
func TestLifetimesAreBounded(t *testing.T) {
	admin := adminClient(t)
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"wraps int32":     {[]string{"grant", "wendy", "--ttl", "1193047h"}, "--ttl 1193047h0m0s is too long: the CSR API carries at most 596523h14m7s (2^31-1 seconds)"},
		"past max-ttl":    {[]string{"grant", "wendy", "--ttl", "2400h"}, "--ttl 2400h0m0s is longer than --max-ttl 90d"},
		"past raised max": {[]string{"grant", "wendy", "--ttl", "2400h", "--max-ttl", "60d"}, "--ttl 2400h0m0s is longer than --max-ttl 60d"},
		"days overflow":   {[]string{"grant", "wendy", "--max-ttl", "99999999999d"}, "more days than a duration can hold"},
		"token past max":  {[]string{"token", "wendy-bot", "-n", "default", "--create", "--duration", "2400h"}, "--duration 2400h0m0s is longer than --max-ttl 90d"},
	} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(dir, "wendy.kubeconfig")
			r := kubeaccess(t, cluster.AdminKubeconfig, append(tc.args, "--out", out)...)
			mustFailWith(t, name, r, 2, tc.want)
			mustHaveIssuedNothing(t, admin, "wendy", out)
		})
	}
	s := grantJSON(t, cluster.AdminKubeconfig, "wendy", "--ttl", "2400h", "--max-ttl", "120d", "--out", filepath.Join(dir, "wendy-raised.kubeconfig"))
	// The signer backdates NotBefore by 5m, and keeps NotAfter-NotBefore
	// at the TTL for long lifetimes.
	if got := s.Certificate.NotAfter.Sub(s.Certificate.NotBefore); got < 2400*time.Hour || got > 2400*time.Hour+5*time.Minute {
		t.Errorf("with --max-ttl raised the certificate is valid for %s, want 2400h (plus at most 5m backdating)", got)
	}
}
