#!/usr/bin/env bash
# Times "kubeaccess can" (the full matrix for one user in one namespace)
# against one SubjectAccessReview per cell with 8 in flight, both through a
# proxy adding 25 ms per round trip, with 100 CRDs installed; and
# "kubeaccess who-can" on a cluster seeded with 2,000 bindings. Prints the
# medians and the ratio.
#   bench/can.sh [RUNS]   (default 5)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
KUBEACCESS_CONTROL_PLANE_BIN=$(hack/control-plane-bins.sh)
export KUBEACCESS_CONTROL_PLANE_BIN
go build -o bin/kubeaccess ./cmd/kubeaccess
go run ./bench/can -kubeaccess "$root/bin/kubeaccess" -runs "${1:-5}"
