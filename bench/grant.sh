#!/usr/bin/env bash
# Times onboarding N users one after another against the real local control
# plane: "kubeaccess grant" (default key, and rsa-4096) versus the documented
# manual way (openssl genrsa/req, a CSR object, kubectl get csr and
# kubectl certificate approve,
# fetching the certificate, namespace, role, rolebinding, kubectl config,
# kubectl auth whoami, and a request that must be forbidden). Prints the
# median per user of each and the ratios.
#   bench/grant.sh [N]   (default 15)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=hack/local-cluster.sh
source hack/local-cluster.sh
# shellcheck source=bench/manual.sh
source bench/manual.sh
n=${1:-15}

go build -o bin/kubeaccess ./cmd/kubeaccess
start_local_cluster bench 2>/dev/null
kubeaccess="$root/bin/kubeaccess"
server=$("$kubectl" config view --minify -o jsonpath='{.clusters[0].cluster.server}')
"$kubectl" config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$work/ca.crt"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

grant_with_kubeaccess() { # key-type user
	"$kubeaccess" grant "$2" -g dev -n "bench-$1" --key-type "$1" \
		--verb create,get,update,list,delete --resource pods,services,deployments \
		--out "$work/$2.kubeconfig" -o json >/dev/null
}


# The ways take turns, user by user, so that background work in the young
# control plane (controllers settling, caches filling) weighs on each alike;
# one unmeasured round first fills the discovery caches of each.
ways=(ka-ecdsa ka-rsa manual)
run_way() { # way user
	case $1 in
	ka-ecdsa) grant_with_kubeaccess ecdsa-p256 "$2" ;;
	ka-rsa) grant_with_kubeaccess rsa-4096 "$2" ;;
	manual) grant_by_hand "$2" ;;
	esac
}
echo "onboarding $n users one after another on a local Kubernetes $("$kubectl" version -o json | sed -n 's/.*"gitVersion": "\(v[^"]*\)".*/\1/p' | tail -1) control plane" >&2
for way in "${ways[@]}"; do run_way "$way" "$way-warmup"; done
for i in $(seq 1 "$n"); do
	for way in "${ways[@]}"; do
		t0=$(now_ms)
		run_way "$way" "$way-$i"
		echo $(($(now_ms) - t0)) >>"$work/$way.ms"
	done
done
# Where one grant's time goes, from client-go's request log (-v=6, each
# response with its latency): before its first request (process start,
# flags, kubeconfig, clients, key), its requests (the API server's own
# latency, of which the wait for kube-controller-manager to sign), and
# after its last response (output, exit). The median of 5.
breakdown() {
	for i in 1 2 3 4 5; do
		local start end
		start=$(date +%s%N)
		TZ=UTC "$kubeaccess" grant "breakdown-$i" -g dev -n bench-ecdsa-p256 --key-type ecdsa-p256 \
			--verb create,get,update,list,delete --resource pods,services,deployments \
			--out "$work/breakdown-$i.kubeconfig" -o json -v=6 2>"$work/breakdown-$i.log" >/dev/null
		end=$(date +%s%N)
		awk -v s="$start" -v e="$end" '
			function ms(hms,   p) { split(hms, p, ":"); return (p[1] * 3600 + p[2] * 60 + p[3]) * 1000 }
			BEGIN { s0 = (s / 1e6) % 86400000; e0 = (e / 1e6) % 86400000; first = -1 }
			/"Response" verb=/ {
				match($0, /milliseconds=[0-9]+/); lat = substr($0, RSTART + 13, RLENGTH - 13)
				done = ms($2); begun = done - lat
				if (first < 0 || begun < first) first = begun
				if (done > last) last = done
				if ($0 ~ /\/approval/) approved = done
				else { n++; b[n] = begun }
			}
			END {
				for (j = 1; j <= n; j++) if (b[j] >= approved && (!signed_at || b[j] < signed_at)) signed_at = b[j]
				printf "%d %d %d %d %d\n", e0 - s0, first - s0, last - first, signed_at - approved, e0 - last }' "$work/breakdown-$i.log"
	done | sort -n | sed -n 3p
}
read -r b_total b_before b_api b_signer b_after < <(breakdown)

default_ms=$(median <"$work/ka-ecdsa.ms")
rsa_ms=$(median <"$work/ka-rsa.ms")
manual_ms=$(median <"$work/manual.ms")

printf '%-42s %8s\n' "way (median per user)" "ms"
printf '%-42s %8s\n' "kubeaccess grant (ecdsa-p256, default)" "$default_ms"
printf '%-42s %8s\n' "kubeaccess grant --key-type rsa-4096" "$rsa_ms"
printf '%-42s %8s\n' "manual openssl + kubectl" "$manual_ms"
printf 'one grant, where its %d ms go: %d before its first request (process start, flags, clients, key), %d in requests (the API server'"'"'s latency, %d of them waiting for the signer), %d after its last response\n' \
	"$b_total" "$b_before" "$b_api" "$b_signer" "$b_after"
awk -v d="$default_ms" -v r="$rsa_ms" -v m="$manual_ms" 'BEGIN {
	printf "ratio manual / kubeaccess default:  %.1fx (target >= 40x: %s)\n", m / d, (m / d >= 40 ? "met" : "NOT met")
	printf "ratio manual / kubeaccess rsa-4096: %.1fx\n", m / r
	printf "kubeaccess default median %d ms (target <= 150 ms): %s\n", d, (d <= 150 ? "met" : "NOT met")
}'
