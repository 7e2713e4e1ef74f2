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
