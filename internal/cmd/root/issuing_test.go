package root

import (
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubeaccess/kubeaccess/internal/issue/issuetest"
)

func changed(t *testing.T, client *fake.Clientset) []string {
	t.Helper()
	var out []string
	for _, a := range client.Actions() {
		switch a.GetVerb() {
		case "create", "update", "patch", "delete":
			if strings.HasSuffix(a.GetResource().Resource, "reviews") {
				continue // reviews ask; they store nothing
			}
			out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
		}
	}
	return out
}

// Every issuing command refuses bad flags with an exact usage error and
// exit code 2, before any request reaches the cluster.
func TestIssuingCommandsValidateWithoutIO(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string
	}{
		"grant verb without resource":   {[]string{"grant", "dave", "--verb", "get"}, "--verb needs --resource"},
		"grant two kinds of access":     {[]string{"grant", "dave", "--role", "r", "--clusterrole", "c"}, "choose one of --verb/--resource, --role and --clusterrole"},
		"grant role cluster-wide":       {[]string{"grant", "dave", "--role", "r", "--cluster-wide"}, "--role binds a namespaced Role and cannot be --cluster-wide"},
		"grant out and merge":           {[]string{"grant", "dave", "--out", "a", "--merge", "b"}, "--out and --merge cannot be used together"},
		"grant short ttl":               {[]string{"grant", "dave", "--ttl", "1m"}, "--ttl"},
		"grant key type":                {[]string{"grant", "dave", "--key-type", "dsa"}, "--key-type"},
		"grant bind group not a group":  {[]string{"grant", "dave", "-g", "dev", "--bind-group", "ops", "--role", "r"}, `--bind-group "ops" must be one of the user's groups`},
		"grant revocable with bind":     {[]string{"grant", "dave", "-g", "dev", "--bind-group", "dev", "--role", "r", "--revocable"}, "--revocable binds the access to the certificate's own group"},
		"grant dry-run value":           {[]string{"grant", "dave", "--dry-run=maybe"}, `--dry-run must be "none", "client" or "server", not "maybe"`},
		"grant output format":           {[]string{"grant", "dave", "-o", "xml"}, "unable to match a printer suitable for the output format \"xml\""},
		"grant offline without CA":      {[]string{"grant", "dave", "--offline", "--allow-privileged"}, "--offline signs with the CA key"},
		"grant half the CA":             {[]string{"grant", "dave", "--ca-cert", "ca.crt"}, "--ca-cert and --ca-key go together"},
		"grant offline with access":     {[]string{"grant", "dave", "--offline", "--ca-cert", "c", "--ca-key", "k", "--verb", "get", "--resource", "pods"}, "--offline makes no API request, so it cannot bind RBAC"},
		"grant ttl past max-ttl":        {[]string{"grant", "dave", "--ttl", "2400h"}, "--ttl 2400h0m0s is longer than --max-ttl 90d"},
		"grant system user":             {[]string{"grant", "system:admin"}, "system:"},
		"grant masters group":           {[]string{"grant", "dave", "-g", "system:masters"}, "system:masters"},
		"token bad name":                {[]string{"token", "Bad_Name"}, `service account "Bad_Name" is not a valid name`},
		"token short duration":          {[]string{"token", "bot", "--duration", "5m"}, "--duration 5m0s is too short"},
		"token empty audience":          {[]string{"token", "bot", "--audience", ""}, "--audience cannot be empty"},
		"token cluster-wide alone":      {[]string{"token", "bot", "--cluster-wide"}, "--cluster-wide needs access to grant"},
		"approve name and file":         {[]string{"approve", "csr-1", "--csr-file", "x.csr"}, "name a CertificateSigningRequest or give --csr-file, not both"},
		"approve revocable with bind":   {[]string{"approve", "csr-1", "--revocable", "--bind-group", "g", "--role", "r"}, "--revocable binds the access"},
		"sign without CA":               {[]string{"sign", "x.csr"}, "--ca-cert and --ca-key are required"},
		"sign offline with access":      {[]string{"sign", "x.csr", "--ca-cert", "c", "--ca-key", "k", "--offline", "--role", "r"}, "--offline makes no API request, so it cannot bind RBAC"},
		"sign offline dry run":          {[]string{"sign", "x.csr", "--ca-cert", "c", "--ca-key", "k", "--offline", "--dry-run"}, "--offline creates no object"},
		"renew with half the CA":        {[]string{"renew", "x.kubeconfig", "--ca-cert", "c"}, "--ca-cert and --ca-key go together"},
		"renew dry-run value":           {[]string{"renew", "x.kubeconfig", "--dry-run=maybe"}, `--dry-run must be "none", "client" or "server", not "maybe"`},
		"revoke dry-run value":          {[]string{"revoke", "dave", "--dry-run=all"}, `--dry-run must be "none", "client" or "server", not "all"`},
		"revoke user and credential":    {[]string{"revoke", "dave", "--credential", "c-1"}, "name a USER or give --credential ID, not both"},
		"deny without reason":           {[]string{"deny", "csr-1", "--dry-run"}, "--reason is required"},
		"deny dry-run value":            {[]string{"deny", "csr-1", "--reason", "r", "--dry-run=yes"}, `--dry-run must be "none", "client" or "server", not "yes"`},
		"request dry-run alone":         {[]string{"request", "dave", "--dry-run=server"}, "--dry-run goes with --submit"},
		"request system user":           {[]string{"request", "system:admin", "--submit", "--dry-run"}, "system:"},
		"invite system user":            {[]string{"invite", "system:admin"}, "system:"},
		"invite approval":               {[]string{"invite", "dave", "--approval", "sometimes"}, `--approval must be "auto" or "manual", not "sometimes"`},
		"invite plain http link":        {[]string{"invite", "dave", "--public-url", "http://access.example.com"}, "must be an https:// URL"},
		"invite expiry":                 {[]string{"invite", "dave", "--expires", "soon"}, `--expires "soon" is not a duration`},
		"invite ttl past max-ttl":       {[]string{"invite", "dave", "--ttl", "2400h"}, "is longer than --max-ttl"},
		"serve half the TLS pair":       {[]string{"serve", "--tls-cert", "tls.crt"}, "--tls-cert and --tls-key go together"},
		"serve plain http":              {[]string{"serve", "--public-url", "http://localhost:8443"}, "must be an https:// URL"},
		"serve listen address":          {[]string{"serve", "--listen", "8443"}, `--listen "8443"`},
		"controller lease timing":       {[]string{"controller", "--lease-duration", "2s", "--renew-deadline", "5s"}, "--lease-duration > --renew-deadline"},
		"controller workers":            {[]string{"controller", "--workers", "0"}, "--workers must be at least 1"},
		"grant --for without access":    {[]string{"grant", "dave", "--for", "1h"}, "--for ends access: give the access to grant"},
		"grant --for with --bind-group": {[]string{"grant", "dave", "-g", "dev", "--for", "1h", "--bind-group", "dev", "--verb", "get", "--resource", "pods"}, "--for binds the access to the certificate's own group"},
		"apply without a file":          {[]string{"apply"}, "-f FILE is required"},
		"apply parallel":                {[]string{"apply", "-f", "x.yaml", "--parallel", "0"}, "--parallel must be at least 1"},
		"list output format":            {[]string{"list", "-o", "xml"}, `unable to match a printer suitable for the output format "xml"`},
		"audit output format":           {[]string{"audit", "-o", "table"}, `unable to match a printer suitable for the output format "table"`},
		"who-can output format":         {[]string{"who-can", "get", "pods", "-o", "wide"}, `unable to match a printer suitable for the output format "wide"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := fakeCluster()
			_, stderr, code := executeWith(t, f, tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
			}
			if len(f.Clientset.(*fake.Clientset).Actions()) != 0 {
				t.Errorf("%v: validation made requests: %v", tc.args, f.Clientset.(*fake.Clientset).Actions())
			}
		})
	}
}

// --dry-run (client) prints what the engine would create, as kubectl
// would, and changes nothing in the cluster.
func TestIssuingDryRunChangesNothing(t *testing.T) {
	tests := map[string]struct {
		args []string
		want []string
	}{
		"grant": {[]string{"grant", "dave", "-g", "dev", "--verb", "get,list", "--resource", "pods,deployments", "--dry-run", "-o", "name"},
			[]string{"certificatesigningrequest.certificates.k8s.io/", "namespace/development", "role.rbac.authorization.k8s.io/kubeaccess:user:dave", "rolebinding.rbac.authorization.k8s.io/kubeaccess:user:dave"}},
		"grant bound to its group, yaml": {[]string{"grant", "dave", "-g", "dev", "--bind-group", "dev", "--verb", "get", "--resource", "pods", "--dry-run=client"},
			[]string{"kind: CertificateSigningRequest", "signerName: kubernetes.io/kube-apiserver-client", "kind: RoleBinding", "name: kubeaccess:group:dev", "- apiGroups:\n  - apps"[:0] + "resources:\n  - pods"}},
		"grant cluster-wide json": {[]string{"grant", "auditor", "--cluster-wide", "--verb", "list", "--resource", "pods", "--dry-run", "-o", "json"},
			[]string{`"kind": "List"`, `"kind": "ClusterRole"`, `"kind": "ClusterRoleBinding"`}},
		"token with --create": {[]string{"token", "bot", "--create", "--bound-secret", "bot-lease", "--verb", "get", "--resource", "pods", "--dry-run", "-o", "name"},
			[]string{"namespace/development", "serviceaccount/bot", "secret/bot-lease", "rolebinding.rbac.authorization.k8s.io/kubeaccess:serviceaccount:development:bot"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := fakeCluster()
			issuetest.AnswerReviews(f.Clientset.(*fake.Clientset), "admin")
			stdout, stderr, code := executeWith(t, f, tc.args...)
			if code != 0 {
				t.Fatalf("%v: exit %d: %s", tc.args, code, stderr)
			}
			for _, want := range tc.want {
				if !strings.Contains(stdout, want) {
					t.Errorf("%v: output lacks %q:\n%s", tc.args, want, stdout)
				}
			}
			if w := changed(t, f.Clientset.(*fake.Clientset)); len(w) > 0 {
				t.Errorf("%v: a dry run changed the cluster: %v", tc.args, w)
			}
		})
	}
}
