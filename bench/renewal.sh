#!/usr/bin/env bash
# Renewals answered in the cluster, on a real local control plane: 2N
# users (default N 1000) get certificates from a team file signed offline;
# N of them each ask, authenticated by their own certificate, for their
# renewal, the requests spread over SPREAD seconds (default 60), and
# kubeaccess controller (as in the cluster: under its service account, with
# the privilege checks of every issuance) approves them; then the other N
# ask all at once, for the controller's most approvals per second. Printed
# for each: renewals issued, request-to-certificate latency p50/p99,
# approvals per second. In the same run, the alternative: up to 200
# requests approved by kubectl certificate approve (in batches of 100, no
# checks), and the ratio of approvals per second.
#   bench/renewal.sh [N] [SPREAD]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=hack/local-cluster.sh
source hack/local-cluster.sh
n=${1:-1000}
spread=${2:-60}

go build -o bin/kubeaccess ./cmd/kubeaccess
go build -o bin/bench-renewal ./bench/renewal
start_local_cluster renewal-bench 2>/dev/null
kubeaccess="$root/bin/kubeaccess"
now_ms() { echo $(($(date +%s%N) / 1000000)); }
admin_kubeconfig="$KUBECONFIG"

# The controller as in the cluster: under its own service account's token.
install_controller_rbac
ctlkc="$work/controller.kubeconfig"

# N users of one group, reading pods in one namespace, signed offline.
{
	printf 'apiVersion: kubeaccess.io/v1alpha1\nkind: TeamAccess\nmetadata:\n  name: renewal-bench\nspec:\n  ttl: 24h\n  roles:\n    reader:\n      rules:\n      - verbs: [get, list]\n        resources: [pods]\n  groups:\n    dev:\n    - role: reader\n      namespaces: [renewal-bench]\n  users:\n'
	for i in $(seq 0 $((2 * n - 1))); do printf '  - name: user-%04d\n    groups: [dev]\n' "$i"; done
} >"$work/team.yaml"
"$kubeaccess" apply -f "$work/team.yaml" --out-dir "$work/out" --ca-cert "$work/cluster/ca.crt" --ca-key "$work/cluster/ca.key" >/dev/null 2>&1
# They may ask for their renewals (grant --renewing binds this to each
# credential; here the team's group has it).
"$kubectl" create clusterrolebinding renewal-bench-renewer --clusterrole kubeaccess-renewer --group dev >/dev/null

metrics=127.0.0.1:18680
KUBECONFIG="$ctlkc" "$kubeaccess" controller --identity bench --health-addr 127.0.0.1:18681 --metrics-addr "$metrics" --workers 4 >"$work/controller.log" 2>&1 &
ctl=$!
trap 'kill $ctl 2>/dev/null || true; wait $ctl 2>/dev/null || true; go run ./hack/localcluster down --dir "$work/cluster" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
until curl -sf "http://$metrics/metrics" | grep -q '^kubeaccess_leader 1'; do sleep 0.2; done

echo "renewals answered in the cluster: $((2 * n)) credentials, on a local Kubernetes control plane"
"$root/bin/bench-renewal" -dir "$work/out/users" -admin "$admin_kubeconfig" -n "$n" -spread "${spread}s" -label "kubeaccess controller, $n renewals over ${spread}s"
"$root/bin/bench-renewal" -dir "$work/out/users" -admin "$admin_kubeconfig" -first "$n" -n "$n" -spread 0s -label "kubeaccess controller, $n renewals at once" | tee "$work/burst.out"
refused=$(curl -sf "http://$metrics/metrics" | awk '/^kubeaccess_renewals_total\{result="refused"\}/ {print $2}')
echo "  refused by the controller: ${refused:-0}"

# The alternative: the same number of requests (from the same, now renewed,
# certificates, which the controller leaves alone) approved blindly.
m=$((n < 200 ? n : 200))
"$root/bin/bench-renewal" -dir "$work/out/users" -admin "$admin_kubeconfig" -n "$m" -spread 0s -names "$work/manual.names"
t0=$(now_ms)
xargs -n 100 "$kubectl" certificate approve <"$work/manual.names" >/dev/null
until [ "$("$kubectl" get csr -o jsonpath='{range .items[*]}{.metadata.name} {.status.certificate}{"\n"}{end}' | grep -Ff "$work/manual.names" | awk 'NF == 2' | wc -l)" -ge "$m" ]; do sleep 0.5; done
manual=$(($(now_ms) - t0))
rate=$(awk -v ms="$manual" -v n="$m" 'BEGIN {printf "%.1f", n / (ms / 1000)}')
printf 'kubectl certificate approve (batches of 100, no checks): %d issued in %.1f s: %s approvals/s\n' "$m" "$(awk -v ms="$manual" 'BEGIN {print ms / 1000}')" "$rate"
burst=$(grep -o '[0-9.]* approvals/s' "$work/burst.out" | awk '{print $1}')
printf 'ratio: the controller approves %.1fx as many renewals per second as kubectl certificate approve, with the checks of every issuance\n' "$(awk -v a="$burst" -v b="$rate" 'BEGIN {print a / b}')"
