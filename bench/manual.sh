# Sourced by the benchmarks: the documented manual procedure for one user
# (grant_by_hand USER: openssl genrsa/req, a CSR object, kubectl get csr
# and kubectl certificate approve, fetching the certificate, namespace,
# role, rolebinding, kubectl config, kubectl auth whoami, and a request that
# must be forbidden), and median. Needs $kubectl, $server and $work, and
# $work/ca.crt.

grant_by_hand() { # user: the steps of the manual procedure, as documented
	local u=$1 d="$work/manual"
	mkdir -p "$d"
	openssl genrsa -out "$d/$u.key" 2048 2>/dev/null
	openssl req -new -key "$d/$u.key" -out "$d/$u.csr" -subj "/CN=$u/O=dev" 2>/dev/null
	cat <<YAML | "$kubectl" apply -f - >/dev/null
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: $u
spec:
  request: $(base64 -w0 <"$d/$u.csr")
  signerName: kubernetes.io/kube-apiserver-client
  expirationSeconds: 86400
  usages: [client auth]
YAML
	"$kubectl" get csr "$u" >/dev/null # see it pending, as the documentation does
	"$kubectl" certificate approve "$u" >/dev/null
	until "$kubectl" get csr "$u" -o jsonpath='{.status.certificate}' | base64 -d >"$d/$u.crt" && [[ -s "$d/$u.crt" ]]; do sleep 0.1; done
	"$kubectl" create namespace bench-manual --dry-run=client -o yaml | "$kubectl" apply -f - >/dev/null
	"$kubectl" create role "$u" -n bench-manual --verb=create,get,update,list,delete --resource=pods,services,deployments >/dev/null
	"$kubectl" create rolebinding "$u" -n bench-manual --role="$u" --user="$u" >/dev/null
	local kc="$d/$u.kubeconfig"
	"$kubectl" config set-cluster bench --server="$server" --certificate-authority="$work/ca.crt" --embed-certs --kubeconfig="$kc" >/dev/null
	"$kubectl" config set-credentials "$u" --client-certificate="$d/$u.crt" --client-key="$d/$u.key" --embed-certs --kubeconfig="$kc" >/dev/null
	"$kubectl" config set-context "$u@bench" --cluster=bench --user="$u" --namespace=bench-manual --kubeconfig="$kc" >/dev/null
	"$kubectl" config use-context "$u@bench" --kubeconfig="$kc" >/dev/null
	"$kubectl" auth whoami --kubeconfig="$kc" >/dev/null
	# ...and by being forbidden where he should be.
	if "$kubectl" get pods -n default --kubeconfig="$kc" >/dev/null 2>&1; then
		echo "manual grant: $u may list pods in default" >&2
		exit 1
	fi
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
