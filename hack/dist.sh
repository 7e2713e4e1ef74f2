#!/usr/bin/env bash
# Builds the release into dist/: kubeaccess for linux, darwin and windows on
# amd64 and arm64, with version, commit and date stamped; one .tar.gz per
# platform holding the binary, LICENSE and README.md; SHA256SUMS; and the
# krew plugin manifest access.yaml (users run "kubectl access").
#   VERSION=v0.1.0 hack/dist.sh   (default: v0.0.0-DATE-COMMIT)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
commit=$(git rev-parse --short=12 HEAD)
date=$(git log -1 --format=%cd --date=format:%Y-%m-%dT%H:%M:%SZ)
version=${VERSION:-v0.0.0-$(git log -1 --format=%cd --date=format:%Y%m%d%H%M%S)-$commit}
repo=github.com/kubeaccess/kubeaccess
pkg=$repo/internal/version
ldflags="-s -w -X $pkg.gitVersion=$version -X $pkg.gitCommit=$commit -X $pkg.buildDate=$date"

out=$root/dist
rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

platforms=(linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64)
for p in "${platforms[@]}"; do
	os=${p%/*} arch=${p#*/}
	bin=kubeaccess
	[[ $os == windows ]] && bin=kubeaccess.exe
	dir=$work/$os-$arch
	mkdir -p "$dir"
	echo "building $version for $os/$arch" >&2
	CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -ldflags "$ldflags" -o "$dir/$bin" ./cmd/kubeaccess
	cp LICENSE README.md "$dir/"
	# Reproducible archives: fixed owner, order and times.
	tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="$date" -C "$dir" -czf "$out/kubeaccess_${version}_${os}_${arch}.tar.gz" "$bin" LICENSE README.md
done
(cd "$out" && sha256sum ./*.tar.gz | sed 's| \./| |' >SHA256SUMS)

# The krew manifest, from the archives just written.
{
	cat <<YAML
apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: access
spec:
  version: $version
  homepage: https://$repo
  shortDescription: Give people and bots safe, tracked access to a cluster
  description: |
    kubeaccess issues client certificates (through the CSR API or a CA key)
    and service-account tokens with exactly the RBAC asked for, refuses
    anything that would escalate privilege, writes a verified kubeconfig,
    and keeps a record of every credential to list, renew, revoke and audit.
    It also answers what a subject can do, and who can do something.
  platforms:
YAML
	for p in "${platforms[@]}"; do
		os=${p%/*} arch=${p#*/}
		bin=kubeaccess
		[[ $os == windows ]] && bin=kubeaccess.exe
		archive=kubeaccess_${version}_${os}_${arch}.tar.gz
		cat <<YAML
  - selector:
      matchLabels:
        os: $os
        arch: $arch
    uri: https://$repo/releases/download/$version/$archive
    sha256: $(cd "$out" && sha256sum "$archive" | cut -d' ' -f1)
    bin: $bin
    files:
    - from: $bin
      to: .
    - from: LICENSE
      to: .
YAML
	done
} >"$out/access.yaml"
echo "$out"
