# Sourced by scripts that need a throwaway control plane (make demo, make
# bench); run from the repository root.
#
# start_local_cluster NAME builds or finds the control-plane binaries, starts
# a cluster in a new temporary directory $work, exports KUBECONFIG (admin) and
# KUBECACHEDIR, and sets $kubectl. The cluster is stopped, by pid, and $work
# removed when the script exits, however it ends.
start_local_cluster() {
	local bindir
	bindir=$(hack/control-plane-bins.sh)
	work=$(mktemp -d "${TMPDIR:-/tmp}/kubeaccess-$1-XXXXXX")
	trap 'go run ./hack/localcluster down --dir "$work/cluster" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
	KUBEACCESS_CONTROL_PLANE_BIN=$bindir go run ./hack/localcluster up --dir "$work/cluster" >/dev/null
	export KUBECONFIG="$work/cluster/admin.kubeconfig"
	# Discovery caches are per server address: keep this one's out of ~/.kube.
	export KUBECACHEDIR="$work/cache"
	kubectl="$bindir/kubectl"
}

# install_controller_rbac writes $work/controller.kubeconfig: kubeaccess
# controller as it runs in the cluster, under its own service account's
# token, with deploy/'s namespace, CRD and RBAC installed (not its
# Deployment: this control plane runs no pods).
install_controller_rbac() {
	"$kubectl" apply -f deploy/namespace.yaml -f deploy/crd-teamaccess.yaml -f deploy/controller.yaml >/dev/null
	"$kubectl" delete deployment,poddisruptionbudget kubeaccess-controller -n kubeaccess-system >/dev/null
	"$kubectl" wait --for condition=established crd/teamaccesses.kubeaccess.io >/dev/null
	local token server kc="$work/controller.kubeconfig"
	token=$("$kubectl" create token kubeaccess-controller -n kubeaccess-system --duration 2h)
	server=$("$kubectl" config view --minify -o jsonpath='{.clusters[0].cluster.server}')
	"$kubectl" config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$work/ca.crt"
	KUBECONFIG="$kc" "$kubectl" config set-cluster c --server "$server" --certificate-authority "$work/ca.crt" --embed-certs >/dev/null
	KUBECONFIG="$kc" "$kubectl" config set-credentials sa --token "$token" >/dev/null
	KUBECONFIG="$kc" "$kubectl" config set-context c --cluster c --user sa >/dev/null
	KUBECONFIG="$kc" "$kubectl" config use-context c >/dev/null
}
