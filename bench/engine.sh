#!/usr/bin/env bash
# Issues N certificates concurrently through the issuance engine in one
# process, against the real local control plane, next to N sequential
# "kubeaccess grant" runs; prints throughput, median and p95 per
# credential, where the engine's time goes, and the ratio.
#   bench/engine.sh [N]   (default 200)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
KUBEACCESS_CONTROL_PLANE_BIN=$(hack/control-plane-bins.sh)
export KUBEACCESS_CONTROL_PLANE_BIN
go build -o bin/kubeaccess ./cmd/kubeaccess
go run ./bench/engine -kubeaccess "$root/bin/kubeaccess" -n "${1:-200}"
