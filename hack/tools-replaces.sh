#!/usr/bin/env bash
# Prints the replace block for tools/go.mod: k8s.io/kubernetes requires its
# staging modules at v0.0.0, so each of those (and only those) is pinned to
# the v0.N.M release matching Kubernetes v1.N.M.
#   hack/tools-replaces.sh v1.37.2
set -euo pipefail
version=${1:?usage: tools-replaces.sh v1.N.M}
staging="v0.${version#v1.}"
gomod=$(cd "$(dirname "$0")/../tools" && go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
echo "replace ("
awk '$2 == "v0.0.0" && $1 ~ /^k8s\.io\// { print $1 }' "$gomod" | sort -u | while read -r m; do
	printf '\t%s => %s %s\n' "$m" "$m" "$staging"
done
echo ")"
