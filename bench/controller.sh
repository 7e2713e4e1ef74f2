#!/usr/bin/env bash
# The controller at scale, on a real local control plane: 50 TeamAccess
# objects totalling 5,000 members (service accounts, which the controller
# binds as they are) and 20,000 bindings. Measured: the time to the first
# full reconcile of all of them from nothing, the controller's peak and
# steady memory and idle CPU, the latency of reconciling one change (p50 and
# p99 of N changes, from kubectl apply to the status of the new
# generation), and the API requests the API server served per change.
# Then the invitation-based first reconcile: as many teams of users, none
# holding a credential yet, each invited (one invitation per user, its link
# written to the team's Secret), timed from kubectl apply to every team's
# status counting all its users invited.
#   bench/controller.sh [TEAMS] [MEMBERS_PER_TEAM] [CHANGES]   (default 50 100 20)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=hack/local-cluster.sh
source hack/local-cluster.sh
teams=${1:-50}
members=${2:-100}
changes=${3:-20}
namespaces=4

go build -o bin/kubeaccess ./cmd/kubeaccess
start_local_cluster bench-controller 2>/dev/null
kubeaccess="$root/bin/kubeaccess"
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# The controller as in the cluster: under its own service account's token.
install_controller_rbac
for n in $(seq 0 $((namespaces - 1))); do "$kubectl" create namespace "bench-$n" >/dev/null; done

# Written by the admin, who names themselves as the author (the admission
# policy asks it; the controller binds on their authority).
author=$("$kubectl" auth whoami -o jsonpath='{.status.userInfo.username}')
author_groups=$("$kubectl" auth whoami -o jsonpath='{.status.userInfo.groups}' | tr -d '[]"')
team_yaml() { # team members
	printf 'apiVersion: kubeaccess.io/v1alpha1\nkind: TeamAccess\nmetadata:\n  name: bench-%s\n  annotations:\n    kubeaccess.io/author: "%s"\n    kubeaccess.io/author-groups: "%s"\nspec:\n  roles:\n    reader:\n      rules:\n      - verbs: [get, list]\n        resources: [pods]\n  serviceAccounts:\n' "$1" "$author" "$author_groups"
	for m in $(seq 0 $(($2 - 1))); do
		printf '  - name: bench-team-%s/sa-%s\n    access:\n    - role: reader\n      namespaces: [%s]\n' "$1" "$m" "$(seq -s, 0 $((namespaces - 1)) | sed 's/[0-9]*/bench-&/g; s/,/, /g')"
	done
}
mkdir -p "$work/teams"
for i in $(seq 0 $((teams - 1))); do team_yaml "$i" "$members" >"$work/teams/bench-$i.yaml"; done

health=127.0.0.1:18581
metrics=127.0.0.1:18580
# Invitations' links are for a portal that this bench does not run: none
# is redeemed.
KUBECONFIG="$work/controller.kubeconfig" "$kubeaccess" controller --identity bench --health-addr "$health" --metrics-addr "$metrics" \
	--workers 4 --portal-url https://portal.bench.invalid >"$work/controller.log" 2>&1 &
ctl=$!
trap 'kill $ctl 2>/dev/null || true; wait $ctl 2>/dev/null || true; go run ./hack/localcluster down --dir "$work/cluster" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
until curl -sf "http://$metrics/metrics" | grep -q '^kubeaccess_leader 1'; do sleep 0.2; done
until curl -sf "http://$health/readyz" >/dev/null; do sleep 0.2; done

reconciled() { # how many TeamAccess objects have the status of their generation with every member bound
	"$kubectl" get teamaccess -o jsonpath='{range .items[*]}{.metadata.generation}={.status.observedGeneration}/{.status.bound}/{.status.members}{"\n"}{end}' |
		awk -F'[=/]' '$1==$2 && $3==$4 && $4>0 {n++} END {print n+0}'
}
start=$(now_ms)
"$kubectl" apply -f "$work/teams" >/dev/null
until [ "$(reconciled)" -eq "$teams" ]; do sleep 1; done
first=$(($(now_ms) - start))
bindings=$("$kubectl" get rolebindings -A -l kubeaccess.io/team --no-headers | wc -l)
peak=$(awk '/VmHWM/ {print $2}' /proc/$ctl/status)

# Idle: CPU over 20 s with nothing to do.
ticks=$(getconf CLK_TCK)
cpu0=$(awk '{print $14 + $15}' /proc/$ctl/stat)
sleep 20
cpu1=$(awk '{print $14 + $15}' /proc/$ctl/stat)
idle_cpu=$(awk -v a="$cpu0" -v b="$cpu1" -v t="$ticks" 'BEGIN {printf "%.1f", (b - a) / t / 20 * 100}')
steady=$(awk '/VmRSS/ {print $2}' /proc/$ctl/status)

# One change at a time: a member removed from one team, then put back.
api_total() { "$kubectl" get --raw /metrics | awk '/^apiserver_request_total\{/ {s += $NF} END {printf "%d", s}'; }
lat=()
requests=0
for c in $(seq 1 "$changes"); do
	i=$(((c - 1) / 2 % teams))
	file="$work/teams/bench-$i.yaml"
	if ((c % 2)); then
		team_yaml "$i" $((members - 1)) >"$file"
	else
		team_yaml "$i" "$members" >"$file"
	fi
	before=$(api_total)
	gen=$(($("$kubectl" get teamaccess "bench-$i" -o jsonpath='{.metadata.generation}') + 1))
	t0=$(now_ms)
	"$kubectl" apply -f "$file" >/dev/null
	until [ "$("$kubectl" get teamaccess "bench-$i" -o jsonpath='{.status.observedGeneration}')" = "$gen" ]; do sleep 0.05; done
	lat+=($(($(now_ms) - t0)))
	requests=$((requests + $(api_total) - before))
done
sorted=$(printf '%s\n' "${lat[@]}" | sort -n)
p50=$(echo "$sorted" | awk -v n="${#lat[@]}" 'NR == int((n + 1) / 2)')
p99=$(echo "$sorted" | awk -v n="${#lat[@]}" 'NR == (int(n * 0.99) > 0 ? int(n * 0.99) : 1)')
max=$(echo "$sorted" | tail -1)

# Invitation-based: TEAMS teams of MEMBERS users, invited through a Secret
# in a namespace where the admin let the controller write links.
"$kubectl" create namespace bench-links >/dev/null
"$kubectl" create rolebinding kubeaccess-invitation-links -n bench-links --clusterrole kubeaccess-controller-invitation-links \
	--serviceaccount kubeaccess-system:kubeaccess-controller >/dev/null
invited_yaml() { # team members
	printf 'apiVersion: kubeaccess.io/v1alpha1\nkind: TeamAccess\nmetadata:\n  name: invite-%s\n  annotations:\n    kubeaccess.io/author: "%s"\n    kubeaccess.io/author-groups: "%s"\nspec:\n  roles:\n    reader:\n      rules:\n      - verbs: [get, list]\n        resources: [pods]\n  groups:\n    dev:\n    - role: reader\n      namespaces: [%s]\n  invitations:\n    secret: {namespace: bench-links, name: invite-%s-links}\n  users:\n' \
		"$1" "$author" "$author_groups" "$(seq -s, 0 $((namespaces - 1)) | sed 's/[0-9]*/bench-&/g; s/,/, /g')" "$1"
	for m in $(seq 0 $(($2 - 1))); do
		printf '  - name: user-%s-%s@example.com\n    groups: [dev]\n' "$1" "$m"
	done
}
mkdir -p "$work/invited"
for i in $(seq 0 $((teams - 1))); do invited_yaml "$i" "$members" >"$work/invited/invite-$i.yaml"; done
all_invited() {
	"$kubectl" get teamaccess -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.generation}={.status.observedGeneration}={.status.invited}={.status.members}{"\n"}{end}' |
		awk -F= '$1 ~ /^invite-/ && $2==$3 && $4==$5 && $5>0 {n++} END {print n+0}'
}
before=$(api_total)
start=$(now_ms)
"$kubectl" apply -f "$work/invited" >/dev/null
until [ "$(all_invited)" -eq "$teams" ]; do sleep 1; done
invite_first=$(($(now_ms) - start))
invite_requests=$(($(api_total) - before))
invitations=$("$kubectl" get secrets -n kubeaccess-system -l kubeaccess.io/invite=true --no-headers | wc -l)
links=$("$kubectl" get secrets -n bench-links -o jsonpath='{range .items[*]}{.data}{"\n"}{end}' | grep -o '"user-[^"]*"' | wc -l)
invite_peak=$(awk '/VmHWM/ {print $2}' /proc/$ctl/status)
code=$(awk '/RssFile/ {print $2}' /proc/$ctl/status)

echo "kubeaccess controller: $teams TeamAccess objects, $((teams * members)) members, $bindings team bindings, on a local Kubernetes control plane"
printf 'first full reconcile from nothing         %6.1f s   (goal <= 60 s: %s)\n' "$(awk -v m="$first" 'BEGIN {print m / 1000}')" "$([ "$first" -le 60000 ] && echo met || echo NOT met)"
printf 'controller memory: peak %d MB, steady %d MB   (goal RSS <= 200 MB: %s)\n' $((peak / 1024)) $((steady / 1024)) "$([ $((peak / 1024)) -le 200 ] && echo met || echo NOT met)"
printf 'controller CPU when idle                  %6s %%\n' "$idle_cpu"
printf 'one change reconciled: p50 %d ms, p99 %d ms, slowest %d ms of %d   (goal p99 <= 1000 ms: %s)\n' "$p50" "$p99" "$max" "${#lat[@]}" "$([ "$p99" -le 1000 ] && echo met || echo NOT met)"
printf 'API requests served per change (all clients, kubectl apply and polling included): %d\n' $((requests / changes))
printf 'invitation-based first reconcile: %d users invited (%d invitations, %d links in their teams'"'"' Secrets) in %.1f s   (goal <= 60 s: %s)\n' \
	$((teams * members)) "$invitations" "$links" "$(awk -v m="$invite_first" 'BEGIN {print m / 1000}')" "$([ "$invite_first" -le 60000 ] && echo met || echo NOT met)"
printf '  API requests served: %d (%.1f per user, polling included); controller peak memory since start %d MB (goal <= 200 MB: %s)\n' \
	"$invite_requests" "$(awk -v r="$invite_requests" -v n=$((teams * members)) 'BEGIN {print r / n}')" $((invite_peak / 1024)) \
	"$([ $((invite_peak / 1024)) -le 200 ] && echo met || echo NOT met)"
printf '  (of its memory now, %d MB is the binary'"'"'s own code and data mapped from disk; the rest is its heap, under a 128 MiB soft limit)\n' $((code / 1024))
