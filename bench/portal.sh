#!/usr/bin/env bash
# N invitations (default 50) redeemed at once against one kubeaccess serve
# on the real local control plane; each must succeed within 2 s.
#   bench/portal.sh [N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
KUBEACCESS_CONTROL_PLANE_BIN=$(hack/control-plane-bins.sh)
export KUBEACCESS_CONTROL_PLANE_BIN
go build -o bin/kubeaccess ./cmd/kubeaccess
go run ./bench/portal -kubeaccess "$root/bin/kubeaccess" -n "${1:-50}"
