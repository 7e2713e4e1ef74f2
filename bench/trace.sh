#!/usr/bin/env bash
# Times "kubeaccess trace" over a generated API server audit log of SIZE MB
# (default 1024) against jq doing the same join (each event's credential
# ID looked up in the records, the attributed events printed as JSON), and
# prints each one's MB/s, peak memory, the events each attributed (which
# must be equal) and the ratio.
#   bench/trace.sh [SIZE-MB]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
size=${1:-1024}
for tool in jq /usr/bin/time; do
  command -v "$tool" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq time >/dev/null; }
done
go build -o bin/kubeaccess ./cmd/kubeaccess
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go run ./bench/trace -out "$dir" -size "$size"
bytes=$(stat -c %s "$dir/audit.log")
# Read once so that both runs find the log in the page cache.
cat "$dir/audit.log" >/dev/null

# time_run NAME OUTPUT CMD...: runs CMD with stdout to OUTPUT, prints and
# keeps its seconds and peak resident memory.
time_run() {
  local name=$1 out=$2
  shift 2
  /usr/bin/time -f "%e %M" -o "$dir/$name.time" "$@" >"$out" 2>"$dir/$name.err" || { cat "$dir/$name.err"; exit 1; }
  read -r secs kb <"$dir/$name.time"
  printf '%-10s %7.2f s  %7.1f MB/s  peak %6.1f MB\n' "$name" "$secs" "$(echo "$bytes / 1048576 / $secs" | bc -l)" "$(echo "$kb / 1024" | bc -l)"
}

echo "== trace over $((bytes >> 20)) MB of audit log (GOMAXPROCS $(nproc))"
time_run kubeaccess "$dir/kubeaccess.json" bin/kubeaccess trace --records "$dir/records.json" "$dir/audit.log" -o json
k_secs=$(cut -d' ' -f1 "$dir/kubeaccess.time")
time_run jq "$dir/jq.json" jq -c --slurpfile r "$dir/recmap.json" \
  '(.user.extra["authentication.kubernetes.io/credential-id"] // [])[0] as $id | ($r[0][$id // ""]) as $c
   | select($c != null) | {auditID, stage, verb, requestURI, user: .user.username, credentialID: $id, credential: $c}' "$dir/audit.log"
j_secs=$(cut -d' ' -f1 "$dir/jq.time")
k_events=$(grep -c '"kind":"TracedEvent"' "$dir/kubeaccess.json")
j_events=$(wc -l <"$dir/jq.json")
echo "attributed: kubeaccess $k_events events, jq $j_events"
[[ "$k_events" == "$j_events" ]] || { echo "the two joins differ"; exit 1; }
printf 'kubeaccess trace is %.1fx jq\n' "$(echo "$j_secs / $k_secs" | bc -l)"
