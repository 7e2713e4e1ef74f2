// Package privilege decides whether an identity is, or would become,
// cluster-admin in all but name: it asks the API server (SubjectAccessReview,
// which sees every authorizer) about one catalogue of escalation-grade
// permissions, and checks the access about to be granted against the same
// catalogue. Ordinary namespaced power (admin or edit in an application
// namespace) is not in the catalogue: RBAC already stops it escalating.
package privilege

import (
	authorizationv1 "k8s.io/api/authorization/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
)

// SystemNamespace is where the control plane's own workloads and
// credentials live: power over it is power over the cluster. A permission
// checked there is also held by whoever holds it cluster-wide.
const SystemNamespace = "kube-system"

// Entry is one escalation-grade permission: holding every one of Requires
// (each satisfied by any of its alternatives) lets its holder become
// cluster-admin.
type Entry struct {
	// ID names the entry in messages and tests.
	ID string
	// Reason says in one line why it amounts to cluster-admin.
	Reason string
	// Requires are the permissions that together make the entry; each is
	// held when any of its alternatives is allowed.
	Requires []AnyOf
}

// AnyOf is one permission that any of several requests satisfies.
type AnyOf []authorizationv1.ResourceAttributes

// cluster and system build the attributes of a permission checked
// cluster-wide, or in kube-system (which a cluster-wide grant also holds).
func cluster(verb, group, resource, subresource, name string) authorizationv1.ResourceAttributes {
	return authorizationv1.ResourceAttributes{Verb: verb, Group: group, Resource: resource, Subresource: subresource, Name: name}
}

func system(verb, group, resource, subresource string) authorizationv1.ResourceAttributes {
	return authorizationv1.ResourceAttributes{Verb: verb, Group: group, Resource: resource, Subresource: subresource, Namespace: SystemNamespace}
}

func one(a authorizationv1.ResourceAttributes) []AnyOf { return []AnyOf{{a}} }

// signerApproval is what approving requests for signer takes: update of
// the approval subresource, and approve on the signer by its exact name or
// its domain's wildcard (the API server accepts either).
func signerApproval(signer string) []AnyOf {
	const g = certificatesv1.GroupName
	return []AnyOf{
		{cluster("update", g, "certificatesigningrequests", "approval", "")},
		{cluster("approve", g, "signers", "", signer), cluster("approve", g, "signers", "", "kubernetes.io/*")},
	}
}

const (
	rbacGroup      = "rbac.authorization.k8s.io"
	admissionGroup = "admissionregistration.k8s.io"
	appsGroup      = "apps"
	batchGroup     = "batch"
)

// Catalogue is every escalation-grade permission kubeaccess refuses to
// issue or hand on, in one place.
var Catalogue = []Entry{
	{"all-resources", "every verb on every resource: cluster-admin under another name",
		one(cluster("*", "*", "*", "", ""))},
	{"impersonate-users", "can act as any user, a cluster admin among them",
		one(cluster("impersonate", "", "users", "", ""))},
	{"impersonate-groups", "can act as any group, system:masters among them",
		one(cluster("impersonate", "", "groups", "", ""))},
	{"impersonate-serviceaccounts", "can act as the control plane's service accounts",
		one(system("impersonate", "", "serviceaccounts", ""))},
	{"impersonate-uids", "can claim any user's UID",
		one(cluster("impersonate", "authentication.k8s.io", "uids", "", ""))},
	{"escalate-clusterroles", "escalate lifts RBAC's own check: can write a ClusterRole with any permission",
		one(system("escalate", rbacGroup, "clusterroles", ""))},
	{"escalate-roles", "escalate lifts RBAC's own check: can write a Role with any permission in kube-system",
		one(system("escalate", rbacGroup, "roles", ""))},
	{"bind-clusterroles", "bind lifts RBAC's own check: can bind cluster-admin",
		one(system("bind", rbacGroup, "clusterroles", ""))},
	{"bind-roles", "bind lifts RBAC's own check: can bind any Role in kube-system",
		one(system("bind", rbacGroup, "roles", ""))},
	{"approve-client-certificates", "can approve a client certificate for any user and group",
		signerApproval(certificatesv1.KubeAPIServerClientSignerName)},
	{"approve-kubelet-certificates", "can approve a certificate for any node, which reads the secrets of its pods",
		signerApproval(certificatesv1.KubeAPIServerClientKubeletSignerName)},
	{"serviceaccount-tokens", "can mint tokens for the control plane's service accounts",
		one(system("create", "", "serviceaccounts", "token"))},
	{"kube-system-secrets-get", "can read the control plane's credentials",
		one(system("get", "", "secrets", ""))},
	{"kube-system-secrets-list", "can read the control plane's credentials (a list returns their data)",
		one(system("list", "", "secrets", ""))},
	{"kube-system-secrets-create", "can have a token minted for any kube-system service account (a service-account-token Secret)",
		one(system("create", "", "secrets", ""))},
	{"kube-system-pods", "can run a pod as any kube-system service account",
		one(system("create", "", "pods", ""))},
	{"kube-system-pods-change", "can change the image of a kube-system pod, or add a container to it, and so run code as its service account",
		[]AnyOf{inSystem(podChanges)}},
	{"kube-system-exec", "can run commands in the control plane's pods, or reach the ports they serve on",
		[]AnyOf{{system("create", "", "pods", "exec"), system("create", "", "pods", "attach"), system("create", "", "pods", "portforward")}}},
	{"kube-system-workloads", "can run pods as any kube-system service account through a controller (or rewrite one, such as kube-proxy's DaemonSet, which runs privileged on every node)",
		[]AnyOf{inSystem(workloadWrites)}},
	{"persistentvolumes", "can create a hostPath PersistentVolume and mount a node's filesystem, the kubelet's credentials among it",
		one(cluster("create", "", "persistentvolumes", "", ""))},
	{"namespaces-pod-security", "can relabel any namespace, lifting Pod Security admission so that its pods may run privileged on the node",
		[]AnyOf{{cluster("patch", "", "namespaces", "", ""), cluster("update", "", "namespaces", "", "")}}},
	{"nodes-change", "can relabel and untaint nodes, steering pods and their service accounts' tokens onto a node it controls",
		[]AnyOf{{cluster("patch", "", "nodes", "", ""), cluster("update", "", "nodes", "", "")}}},
	{"apiservices", "can send an API group's requests to a service of its own, which then answers for the API server",
		[]AnyOf{{
			cluster("create", "apiregistration.k8s.io", "apiservices", "", ""),
			cluster("update", "apiregistration.k8s.io", "apiservices", "", ""),
			cluster("patch", "apiregistration.k8s.io", "apiservices", "", ""),
		}}},
	{"nodes-proxy-get", "the kubelet API behind nodes/proxy runs commands in any pod",
		one(cluster("get", "", "nodes", "proxy", ""))},
	{"nodes-proxy-create", "the kubelet API behind nodes/proxy runs commands in any pod",
		one(cluster("create", "", "nodes", "proxy", ""))},
	{"mutating-admission", "can rewrite every object the API server admits, pods and bindings among them",
		[]AnyOf{{
			cluster("create", admissionGroup, "mutatingwebhookconfigurations", "", ""),
			cluster("update", admissionGroup, "mutatingwebhookconfigurations", "", ""),
			cluster("patch", admissionGroup, "mutatingwebhookconfigurations", "", ""),
			cluster("create", admissionGroup, "mutatingadmissionpolicies", "", ""),
		}}},
	{"validating-webhooks", "receives every object the API server admits, Secrets among them",
		[]AnyOf{{
			cluster("create", admissionGroup, "validatingwebhookconfigurations", "", ""),
			cluster("update", admissionGroup, "validatingwebhookconfigurations", "", ""),
			cluster("patch", admissionGroup, "validatingwebhookconfigurations", "", ""),
		}}},
}

// workload is one kind of object whose writes run pods.
type workload struct{ group, resource string }

// podTemplates are the kinds that run pods from a template, each as any
// service account of its namespace.
var podTemplates = []workload{
	{appsGroup, "deployments"}, {appsGroup, "replicasets"}, {appsGroup, "statefulsets"}, {appsGroup, "daemonsets"},
	{batchGroup, "jobs"}, {batchGroup, "cronjobs"}, {"", "replicationcontrollers"},
}

// workloadWrites are create, update and patch of every pod-template kind:
// an update can change the template's image or service account.
var workloadWrites = func() []authorizationv1.ResourceAttributes {
	var out []authorizationv1.ResourceAttributes
	for _, w := range podTemplates {
		for _, verb := range []string{"create", "update", "patch"} {
			out = append(out, authorizationv1.ResourceAttributes{Verb: verb, Group: w.group, Resource: w.resource})
		}
	}
	return out
}()

// podChanges change a running pod's code: its image (update, patch) or
// an ephemeral container added to it.
var podChanges = []authorizationv1.ResourceAttributes{
	{Verb: "update", Resource: "pods"}, {Verb: "patch", Resource: "pods"},
	{Verb: "update", Resource: "pods", Subresource: "ephemeralcontainers"},
	{Verb: "patch", Resource: "pods", Subresource: "ephemeralcontainers"},
}

// inSystem places requests in kube-system.
func inSystem(attrs []authorizationv1.ResourceAttributes) AnyOf {
	return inNamespace(attrs, SystemNamespace)
}

// inNamespace places requests in namespace.
func inNamespace(attrs []authorizationv1.ResourceAttributes, namespace string) AnyOf {
	out := make(AnyOf, len(attrs))
	for i, a := range attrs {
		a.Namespace = namespace
		out[i] = a
	}
	return out
}

// attributes lists every distinct request the catalogue asks about.
func attributes(catalogue []Entry) []authorizationv1.ResourceAttributes {
	seen := map[authorizationv1.ResourceAttributes]bool{}
	var out []authorizationv1.ResourceAttributes
	for _, e := range catalogue {
		for _, any := range e.Requires {
			for _, a := range any {
				if !seen[a] {
					seen[a] = true
					out = append(out, a)
				}
			}
		}
	}
	return out
}
