#!/usr/bin/env bash
# Runs every Go test against the cached control plane, then checks that no
# control-plane process the tests started is still running. The check runs
# even when tests fail, and either failure fails the script.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools=${KUBEACCESS_TOOLS:-tools}
bindir=$(hack/control-plane-bins.sh "$tools") || exit 1
export KUBEACCESS_CONTROL_PLANE_BIN=$bindir
KUBEACCESS_KUBERNETES_VERSION=$(cd "$tools" && go list -m -f '{{.Version}}' k8s.io/kubernetes)
export KUBEACCESS_KUBERNETES_VERSION
echo "control plane: Kubernetes $KUBEACCESS_KUBERNETES_VERSION ($bindir)"

# The RBAC property test draws its cluster and questions from a seed:
# printed here, so that a failure can be replayed with the same seed.
export KUBEACCESS_RBAC_SEED=${KUBEACCESS_RBAC_SEED:-$(( $(date +%s%N) % 1000000000 ))}
echo "RBAC property test seed: KUBEACCESS_RBAC_SEED=$KUBEACCESS_RBAC_SEED"
go test -count=1 -timeout 30m "${KUBEACCESS_TEST_PACKAGES:-./...}"
status=$?

# The lifecycle libraries a long-running caller drives concurrently (issue,
# renew, revoke, invitations, the portal, the controller) are run again under the race
# detector.
if [[ -z "${KUBEACCESS_TEST_PACKAGES:-}" ]]; then
  go test -race -count=1 -timeout 10m ./internal/issue/... ./internal/renew/ ./internal/revoke/ ./internal/invite/ ./internal/portal/ ./internal/team/ ./internal/controller/ || status=1
fi

hack/check-no-leftovers.sh "$bindir" "$root/.cluster" || status=1
exit $status
