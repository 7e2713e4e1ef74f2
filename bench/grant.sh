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
default_ms=$(median <"$work/ka-ecdsa.ms")
rsa_ms=$(median <"$work/ka-rsa.ms")
manual_ms=$(median <"$work/manual.ms")

printf '%-42s %8s\n' "way (median per user)" "ms"
printf '%-42s %8s\n' "kubeaccess grant (ecdsa-p256, default)" "$default_ms"
printf '%-42s %8s\n' "kubeaccess grant --key-type rsa-4096" "$rsa_ms"
printf '%-42s %8s\n' "manual openssl + kubectl" "$manual_ms"
awk -v d="$default_ms" -v r="$rsa_ms" -v m="$manual_ms" 'BEGIN {
	printf "ratio manual / kubeaccess default:  %.1fx (target >= 20x)\n", m / d
	printf "ratio manual / kubeaccess rsa-4096: %.1fx\n", m / r
	printf "kubeaccess default median %d ms (target <= 150 ms): %s\n", d, (d <= 150 ? "met" : "NOT met")
}'
