#!/usr/bin/env bash
# Proves a release: builds dist/ (hack/dist.sh), validates access.yaml with
# krew's own validate-krew-manifest, installs the plugin with krew from this
# platform's archive into a temporary KREW_ROOT, and checks that
# "kubectl access version" prints the stamped version.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
hack/dist.sh >/dev/null
tools=$root/bin/krew-tools
(cd tools/krew && go build -o "$tools/" sigs.k8s.io/krew/cmd/krew sigs.k8s.io/krew/cmd/validate-krew-manifest)
# The download URIs are the release's, not yet published: validation
# checks the manifest, and the install below uses the local archive.
"$tools/validate-krew-manifest" -manifest dist/access.yaml -skip-install

krew_root=$(mktemp -d)
trap 'rm -rf "$krew_root"' EXIT
archive=$(ls dist/kubeaccess_*_"$(go env GOOS)_$(go env GOARCH)".tar.gz)
KREW_ROOT=$krew_root "$tools/krew" install --manifest=dist/access.yaml --archive="$archive"
kubectl=$(hack/control-plane-bins.sh)/kubectl
version=$(sed -n 's/^  version: //p' dist/access.yaml)
got=$(PATH="$krew_root/bin:$PATH" "$kubectl" access version)
echo "kubectl access version: $got"
if [[ $got != "kubeaccess $version (commit "* ]]; then
	echo "FAIL: kubectl access version does not print the stamped version $version" >&2
	exit 1
fi
echo "PASS: krew validated dist/access.yaml, installed $archive, and kubectl access prints $version"
