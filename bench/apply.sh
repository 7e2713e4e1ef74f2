#!/usr/bin/env bash
# Applies a generated team file of N users (default 1000) in 10 groups over
# 5 namespaces, from nothing, on the real local control plane: through the
# CSR API (kube-controller-manager signs), and signed offline with the
# cluster CA key (--ca-cert/--ca-key). Prints each first apply's wall time
# and kubeaccess's peak RSS (/usr/bin/time -v), the time of a second,
# unchanged apply, and the ratios against N sequential "kubeaccess grant"
# runs (run one after another, all N of them by default) and the manual
# procedure (extrapolated from a measured sample). The offline apply is
# made twice: as kubeaccess makes it (privilege reviews by rules review
# where that is the whole answer) and with --full-privilege-review (one
# SubjectAccessReview per question), each with its requests per credential.
#   bench/apply.sh [N] [SAMPLE] [GRANTS]   (default 1000 users, a sample of 10, N grants)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=hack/local-cluster.sh
source hack/local-cluster.sh
# shellcheck source=bench/manual.sh
source bench/manual.sh
n=${1:-1000}
sample=${2:-10}
grants=${3:-$n}
[[ -x /usr/bin/time ]] || { echo "bench/apply.sh needs /usr/bin/time (Debian: apt-get install time)" >&2; exit 1; }

go build -o bin/kubeaccess ./cmd/kubeaccess
start_local_cluster apply-bench 2>/dev/null
kubeaccess="$root/bin/kubeaccess"
server=$("$kubectl" config view --minify -o jsonpath='{.clusters[0].cluster.server}')
"$kubectl" config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$work/ca.crt"
now_ms() { echo $(($(date +%s%N) / 1000000)); }

team_file() { # name user-prefix
	cat <<YAML
apiVersion: kubeaccess.io/v1alpha1
kind: TeamAccess
metadata:
  name: $1
spec:
  ttl: 720h
  renewBefore: 168h
  roles:
    deployer:
      rules:
      - verbs: [create, get, update, list, delete]
        resources: [pods, services, deployments]
    reader:
      clusterRole: view
  groups:
YAML
	for g in $(seq 0 9); do
		printf '    g%d:\n    - role: deployer\n      namespaces: [bench-ns%d, bench-ns%d]\n    - role: reader\n      namespaces: [bench-ns%d]\n' \
			"$g" $((g % 5)) $(((g + 1) % 5)) $(((g + 2) % 5))
	done
	echo "  users:"
	for i in $(seq 0 $((n - 1))); do
		printf '  - name: %s-%04d\n    groups: [g%d]\n' "$2" "$i" $((i % 10))
	done
}

# apply_measured NAME LABEL [FLAGS...]: a first apply, timed, with its peak
# RSS; then an unchanged one, timed.
apply_measured() {
	local name=$1 label=$2
	shift 2
	team_file "$name" "$name" >"$work/$name.yaml"
	local t0 first rss second
	t0=$(now_ms)
	/usr/bin/time -v -o "$work/$name.time" "$kubeaccess" apply -f "$work/$name.yaml" --out-dir "$work/$name" "$@" >"$work/$name.out" 2>"$work/$name.err" ||
		{ tail -20 "$work/$name.out" "$work/$name.err" >&2; exit 1; }
	first=$(($(now_ms) - t0))
	rss=$(awk -F': ' '/Maximum resident set size/ {print int($2 / 1024)}' "$work/$name.time")
	t0=$(now_ms)
	"$kubeaccess" apply -f "$work/$name.yaml" --out-dir "$work/$name" "$@" >"$work/$name.again" 2>&1
	second=$(($(now_ms) - t0))
	grep -q "No changes" "$work/$name.again" || { echo "the second apply of $name changed something:" >&2; head "$work/$name.again" >&2; exit 1; }
	local issued
	issued=$(find "$work/$name/users" -name '*.kubeconfig' | wc -l)
	[[ $issued -eq $n ]] || { echo "$name: $issued kubeconfigs, want $n" >&2; exit 1; }
	printf '%-34s first apply %6.1f s   peak RSS %4d MB   unchanged re-apply %5.2f s\n' "$label" \
		"$(awk -v m="$first" 'BEGIN {print m / 1000}')" "$rss" "$(awk -v m="$second" 'BEGIN {print m / 1000}')"
	echo "$first $rss $second" >"$work/$name.figures"
	# What each credential cost the API server, as apply counted it.
	sed -n 's/^\([0-9]* credentials, [0-9]* API requests: \)/    /p' "$work/$name.err"
}

echo "apply -f of $n users in 10 groups over 5 namespaces, from nothing, on a local Kubernetes $("$kubectl" version -o json | sed -n 's/.*"gitVersion": "\(v[^"]*\)".*/\1/p' | tail -1) control plane" >&2
apply_measured bench-api "CSR API (controller-manager signs)"
apply_measured bench-ca "signed offline (--ca-cert/--ca-key)" --ca-cert "$work/cluster/ca.crt" --ca-key "$work/cluster/ca.key"
apply_measured bench-full "offline, --full-privilege-review" --ca-cert "$work/cluster/ca.crt" --ca-key "$work/cluster/ca.key" --full-privilege-review

# The alternatives: every grant run one after another; the manual
# procedure on a sample, extrapolated.
t0=$(now_ms)
for i in $(seq 1 "$grants"); do
	"$kubeaccess" grant "seq-$i" -g g0 -n bench-ns0 --verb create,get,update,list,delete --resource pods,services,deployments \
		--out "$work/seq-$i.kubeconfig" -o json >/dev/null
done
grants_ms=$(($(now_ms) - t0))
for i in $(seq 1 "$sample"); do
	t0=$(now_ms)
	grant_by_hand "manual-$i"
	echo $(($(now_ms) - t0)) >>"$work/manual.ms"
done
grant_ms=$((grants_ms / grants))
manual_ms=$(median <"$work/manual.ms")
read -r api_ms api_rss api_again <"$work/bench-api.figures"
read -r ca_ms ca_rss ca_again <"$work/bench-ca.figures"
read -r full_ms _ _ <"$work/bench-full.figures"
awk -v n="$n" -v s="$sample" -v g="$grant_ms" -v gn="$grants" -v gt="$grants_ms" -v m="$manual_ms" -v a="$api_ms" -v c="$ca_ms" -v f="$full_ms" \
	-v ar="$api_rss" -v cr="$ca_rss" -v aa="$api_again" -v ca="$ca_again" 'BEGIN {
	if (gn == n) printf "%d sequential kubeaccess grant runs: %.1f s (%d ms each)\n", n, gt / 1000, g
	else printf "%d sequential kubeaccess grant runs: %.0f s (%d ran in %.1f s, %d ms each, times %d)\n", n, g * n / 1000, gn, gt / 1000, g, n
	printf "the manual procedure for %d users:   %.0f s (median %d ms of %d, times %d)\n", n, m * n / 1000, m, s, n
	printf "ratio grant runs / apply:  CSR API %.1fx, offline %.1fx\n", g * n / a, g * n / c
	printf "ratio manual / apply:      CSR API %.1fx, offline %.1fx\n", m * n / a, m * n / c
	printf "ratio offline --full-privilege-review / offline: %.1fx (%.1f s against %.1f s)\n", f / c, f / 1000, c / 1000
	printf "goal: offline first apply of 1,000 users <= 10 s: %s\n", (n < 1000 ? "not measured (fewer users)" : (c <= 10000 ? "met" : "NOT met"))
	printf "goals: first apply <= 15 s: CSR API %s, offline %s; peak RSS <= 150 MB: %s; unchanged re-apply <= 2 s: %s\n",
		(a <= 15000 ? "met" : "NOT met"), (c <= 15000 ? "met" : "NOT met"), (ar <= 150 && cr <= 150 ? "met" : "NOT met"), (aa <= 2000 && ca <= 2000 ? "met" : "NOT met")
}'
