#!/usr/bin/env bash
# Builds the real control plane (kube-apiserver, kube-controller-manager,
# kubectl, etcd) from the tools module and prints the directory holding them.
#
# The binaries are cached outside the repository, keyed by the Kubernetes
# version and a hash of the tools module's go.mod and go.sum, so only the
# first run pays for the ~20 minute cold build. Progress goes to stderr;
# stdout is only the directory.
#   hack/control-plane-bins.sh [TOOLS-MODULE-DIR]   (default tools; tools/v1.31 for make test-compat)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/${1:-tools}"
version=$(cd "$tools" && go list -m -f '{{.Version}}' k8s.io/kubernetes)
sum=$(cat "$tools/go.mod" "$tools/go.sum" | sha256sum | cut -c1-12)
cache="${KUBEACCESS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubeaccess}"
dir="$cache/control-plane/$version-$sum"

binaries=(etcd kube-apiserver kube-controller-manager kubectl)
declare -A package=(
	[etcd]=go.etcd.io/etcd/server/v3
	[kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
	[kube-controller-manager]=k8s.io/kubernetes/cmd/kube-controller-manager
	[kubectl]=k8s.io/kubernetes/cmd/kubectl
)

cached=1
for b in "${binaries[@]}"; do [[ -x "$dir/$b" ]] || cached=0; done
if [[ $cached == 1 ]]; then
	echo "$dir"
	exit 0
fi

log() { printf '[control-plane %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

major=${version#v}; major=${major%%.*}
minor=${version#v*.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done

staging="$dir.partial.$$"
rm -rf "$staging"
mkdir -p "$staging"
trap 'rm -rf "$staging"; [[ -n "${ticker:-}" ]] && kill "$ticker" 2>/dev/null || true' EXIT

log "building Kubernetes $version control plane into $dir"
log "a cold build takes about 20 minutes on 2 cores; later runs reuse the cache"
(cd "$tools" && go mod download)
start=$SECONDS
for i in "${!binaries[@]}"; do
	b=${binaries[$i]}
	log "($((i + 1))/${#binaries[@]}) building $b from ${package[$b]}"
	( while sleep 60; do log "   still building $b ($(((SECONDS - start) / 60)) min elapsed)"; done ) &
	ticker=$!
	(cd "$tools" && CGO_ENABLED=0 go build -ldflags "$ldflags" -o "$staging/$b" "${package[$b]}")
	kill "$ticker" 2>/dev/null || true
	wait "$ticker" 2>/dev/null || true
	ticker=
done
rm -rf "$dir"
mv "$staging" "$dir"
log "done in $(((SECONDS - start) / 60)) min"
echo "$dir"
