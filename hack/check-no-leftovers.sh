#!/usr/bin/env bash
# Fails when a process running a binary from BIN_DIR is still alive, except
# the ones recorded by "make cluster" in CLUSTER_DIR/cluster.json.
set -euo pipefail
bindir=${1:?usage: check-no-leftovers.sh BIN_DIR [CLUSTER_DIR]}
cluster_dir=${2:-.cluster}

kept=""
if [[ -f "$cluster_dir/cluster.json" ]]; then
	kept=$(grep -o '"pid": *[0-9]*' "$cluster_dir/cluster.json" | grep -o '[0-9]*$' || true)
fi

left=()
for proc in /proc/[0-9]*; do
	exe=$(readlink "$proc/exe" 2>/dev/null) || continue
	[[ "$exe" == "$bindir"/* ]] || continue
	pid=${proc#/proc/}
	grep -qx "$pid" <<<"$kept" && continue
	left+=("$pid $(tr '\0' ' ' <"$proc/cmdline" | cut -c1-120)")
done

if ((${#left[@]})); then
	echo "control-plane processes left running after the tests:" >&2
	printf '  %s\n' "${left[@]}" >&2
	exit 1
fi
echo "no control-plane process left running"
