#!/usr/bin/env bash
# The onboarding scenario against a real local control plane: give dave of
# team dev deployment rights in namespace development, then use his
# kubeconfig with the real kubectl. Every step's outcome is checked; the
# cluster is stopped on exit, however the script ends.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=hack/local-cluster.sh
source hack/local-cluster.sh

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; }
expect_ok() { show "$*"; "$@"; }
expect_forbidden() {
	show "$*"
	local out
	if out=$("$@" 2>&1); then
		echo "UNEXPECTED: this should have been forbidden" >&2
		echo "$out" >&2
		exit 1
	fi
	echo "$out"
	grep -qi forbidden <<<"$out" || { echo "UNEXPECTED: failed, but not with Forbidden" >&2; exit 1; }
}

bold "building kubeaccess and the control plane (cached after the first run)"
go build -o bin/kubeaccess ./cmd/kubeaccess

bold "starting a real kube-apiserver, etcd and kube-controller-manager on loopback"
start_local_cluster demo
kubeaccess="$root/bin/kubeaccess"
dave="$work/dave.kubeconfig"

bold "the admin grants dave (team dev) deployment rights in namespace development"
expect_ok "$kubeaccess" grant dave --group dev --namespace development \
	--verb create,get,update,list,delete --resource pods,services,deployments --out "$dave"
ls -l "$dave"

bold "dave checks who the cluster thinks he is"
expect_ok "$kubectl" --kubeconfig "$dave" auth whoami

bold "dave deploys nginx in development (allowed)"
cat >"$work/nginx.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: nginx}
spec:
  replicas: 1
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec: {containers: [{name: nginx, image: "nginx:1.27"}]}
---
apiVersion: v1
kind: Service
metadata: {name: nginx}
spec:
  selector: {app: nginx}
  ports: [{port: 80}]
YAML
expect_ok "$kubectl" --kubeconfig "$dave" apply -f "$work/nginx.yaml"
expect_ok "$kubectl" --kubeconfig "$dave" get deployments,services

bold "and nothing else (each of these is Forbidden)"
expect_forbidden "$kubectl" --kubeconfig "$dave" get pods --namespace default
expect_forbidden "$kubectl" --kubeconfig "$dave" get nodes
expect_forbidden "$kubectl" --kubeconfig "$dave" create secret generic dave-secret --from-literal=password=hunter2

bold "demo complete: stopping the control plane"
