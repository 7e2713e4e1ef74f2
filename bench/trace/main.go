// Command trace writes, for bench/trace.sh, an API server audit log of a
// given size and the kubeaccess records its events refer to: records.json,
// an array of records as "kubeaccess trace --records" reads them, and
// recmap.json, the same records keyed by credential ID, for jq's side of
// the join.
//
// The log is a busy cluster's: most events are the control plane's and
// the nodes' (certificates and service-account tokens kubeaccess did not
// issue), a fifth are made with kubeaccess credentials, and some carry
// request bodies, among them CertificateSigningRequests whose spec.extra
// holds a kubeaccess credential's ID although someone else made them.
package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubeaccess/kubeaccess/internal/records"
)

type userInfo struct {
	Username string              `json:"username"`
	Groups   []string            `json:"groups,omitempty"`
	Extra    map[string][]string `json:"extra,omitempty"`
}

type objectRef struct {
	Resource   string `json:"resource,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name,omitempty"`
	APIGroup   string `json:"apiGroup,omitempty"`
	APIVersion string `json:"apiVersion,omitempty"`
}

type event struct {
	Kind           string            `json:"kind"`
	APIVersion     string            `json:"apiVersion"`
	Level          string            `json:"level"`
	AuditID        string            `json:"auditID"`
	Stage          string            `json:"stage"`
	RequestURI     string            `json:"requestURI"`
	Verb           string            `json:"verb"`
	User           userInfo          `json:"user"`
	SourceIPs      []string          `json:"sourceIPs"`
	UserAgent      string            `json:"userAgent"`
	ObjectRef      *objectRef        `json:"objectRef,omitempty"`
	ResponseStatus map[string]any    `json:"responseStatus"`
	RequestObject  any               `json:"requestObject,omitempty"`
	Received       string            `json:"requestReceivedTimestamp"`
	StageTimestamp string            `json:"stageTimestamp"`
	Annotations    map[string]string `json:"annotations"`
}

const credentialIDExtra = records.CredentialIDExtra

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func uuid() string {
	h := randomHex(16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func main() {
	out := flag.String("out", "", "Directory to write audit.log, records.json and recmap.json in")
	sizeMB := flag.Int("size", 1024, "Size of the log in MB")
	nrecs := flag.Int("records", 2000, "kubeaccess credentials recorded")
	flag.Parse()
	if *out == "" {
		log.Fatal("-out is required")
	}
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	recs := make([]records.Record, *nrecs)
	recmap := map[string]map[string]any{}
	for i := range recs {
		r := records.Record{User: fmt.Sprintf("user%04d", i), Groups: []string{"dev"}, Kind: "certificate", IssuedVia: "csr-api", Action: "grant",
			IssuedBy: "admin", IssuedAt: start, NotBefore: start, NotAfter: start.Add(90 * 24 * time.Hour)}
		if i%4 == 0 {
			r.Kind, r.IssuedVia, r.Action, r.JTI = "token", "token-request", "token", uuid()
			r.User, r.ServiceAccount, r.Groups = fmt.Sprintf("system:serviceaccount:ci:bot%04d", i), fmt.Sprintf("ci/bot%04d", i), nil
			r.ID = records.TokenID(r.JTI)
		} else {
			r.SHA256 = randomHex(32)
			r.ID = records.CertificateID(r.SHA256)
		}
		recmap[r.CredentialIDs()[0]] = map[string]any{"id": r.ID, "user": r.User, "issuedBy": r.IssuedBy, "issuedAt": r.IssuedAt, "how": r.Action}
		recs[i] = r
	}
	// A JSON array of records, which trace --records reads as it reads
	// "kubeaccess list --all -o json".
	writeJSON(filepath.Join(*out, "records.json"), recs)
	writeJSON(filepath.Join(*out, "recmap.json"), recmap)

	nodes := make([]string, 50)
	for i := range nodes {
		nodes[i] = "X509SHA256=" + randomHex(32)
	}
	tokens := make([]string, 200)
	for i := range tokens {
		tokens[i] = "JTI=" + uuid()
	}
	f, err := os.Create(filepath.Join(*out, "audit.log"))
	if err != nil {
		log.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := mrand.New(mrand.NewPCG(1, 2))
	limit := int64(*sizeMB) << 20
	var written int64
	var n, ours int
	body := strings.Repeat("x", 1500)
	for written < limit {
		t := start.Add(time.Duration(n) * time.Millisecond)
		e := event{Kind: "Event", APIVersion: "audit.k8s.io/v1", Level: "Metadata", AuditID: uuid(), Stage: "ResponseComplete",
			SourceIPs: []string{"10.0.0." + fmt.Sprint(rng.IntN(250))}, Received: t.Format(time.RFC3339Nano), StageTimestamp: t.Add(3 * time.Millisecond).Format(time.RFC3339Nano),
			ResponseStatus: map[string]any{"metadata": map[string]any{}, "code": 200}}
		ns := fmt.Sprintf("ns%02d", rng.IntN(40))
		allowed := func(binding string) map[string]string {
			return map[string]string{"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": binding}
		}
		switch p := rng.IntN(100); {
		case p < 55: // a kubelet
			i := rng.IntN(len(nodes))
			e.User = userInfo{Username: fmt.Sprintf("system:node:node%02d", i), Groups: []string{"system:nodes", "system:authenticated"}, Extra: map[string][]string{credentialIDExtra: {nodes[i]}}}
			e.UserAgent, e.Verb = "kubelet/v1.37.2 (linux/amd64) kubernetes/abcdef", "get"
			e.RequestURI = "/api/v1/namespaces/" + ns + "/pods/web-" + fmt.Sprint(rng.IntN(1000))
			e.ObjectRef = &objectRef{Resource: "pods", Namespace: ns, Name: "web", APIVersion: "v1"}
			e.Annotations = map[string]string{"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""}
		case p < 75: // a controller's service-account token
			e.User = userInfo{Username: "system:serviceaccount:kube-system:replicaset-controller", Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"},
				Extra: map[string][]string{credentialIDExtra: {tokens[rng.IntN(len(tokens))]}, "authentication.kubernetes.io/pod-name": {"kube-controller-manager"}}}
			e.UserAgent, e.Verb = "kube-controller-manager/v1.37.2 (linux/amd64) kubernetes/abcdef/system:serviceaccount:kube-system:replicaset-controller", "update"
			e.RequestURI = "/apis/apps/v1/namespaces/" + ns + "/replicasets/web/status"
			e.ObjectRef = &objectRef{Resource: "replicasets", Namespace: ns, Name: "web", APIGroup: "apps", APIVersion: "v1"}
			e.Annotations = allowed(`RBAC: allowed by ClusterRoleBinding "system:controller:replicaset-controller" of ClusterRole "system:controller:replicaset-controller" to ServiceAccount "replicaset-controller/kube-system"`)
		case p < 80: // an admin makes a CSR whose extra names a kubeaccess credential
			r := recs[rng.IntN(len(recs))]
			id := r.CredentialIDs()[0]
			e.Level = "Request"
			e.User = userInfo{Username: "admin", Groups: []string{"system:masters", "system:authenticated"}, Extra: map[string][]string{credentialIDExtra: {nodes[0]}}}
			e.UserAgent, e.Verb, e.RequestURI = "kubectl/v1.37.2", "create", "/apis/certificates.k8s.io/v1/certificatesigningrequests"
			e.ObjectRef = &objectRef{Resource: "certificatesigningrequests", APIGroup: "certificates.k8s.io", APIVersion: "v1"}
			e.RequestObject = map[string]any{"kind": "CertificateSigningRequest", "spec": map[string]any{"username": r.User, "extra": map[string][]string{credentialIDExtra: {id}}, "request": body}}
			e.Annotations = allowed(`RBAC: allowed by ClusterRoleBinding "cluster-admin" of ClusterRole "cluster-admin" to Group "system:masters"`)
		default: // a kubeaccess credential
			ours++
			r := recs[rng.IntN(len(recs))]
			e.User = userInfo{Username: r.User, Groups: append(append([]string{}, r.Groups...), "system:authenticated"), Extra: map[string][]string{credentialIDExtra: r.CredentialIDs()}}
			e.UserAgent, e.Verb = "kubectl/v1.37.2 (linux/amd64) kubernetes/abcdef", "list"
			e.RequestURI = "/api/v1/namespaces/" + ns + "/configmaps?limit=500"
			e.ObjectRef = &objectRef{Resource: "configmaps", Namespace: ns, APIVersion: "v1"}
			e.Annotations = allowed(fmt.Sprintf(`RBAC: allowed by RoleBinding "kubeaccess:user:%s/%s" of Role "kubeaccess:user:%s" to User %q`, r.User, ns, r.User, r.User))
			if rng.IntN(10) == 0 {
				e.Level, e.Verb, e.RequestObject = "Request", "create", map[string]any{"kind": "ConfigMap", "data": map[string]string{"a": body}}
			}
		}
		data, err := json.Marshal(e)
		if err != nil {
			log.Fatal(err)
		}
		w.Write(data)
		w.WriteByte('\n')
		written += int64(len(data) + 1)
		n++
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	f.Close()
	fmt.Printf("wrote %d events (%d MB), %d of them made with the %d kubeaccess credentials\n", n, written>>20, ours, len(recs))
}

func writeJSON(path string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		log.Fatal(err)
	}
}
