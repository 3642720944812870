#!/usr/bin/env bash
# scripts/bench_replicas.sh — the quota at the endpoint across replicas
# (docs/BENCHMARKS.md, "Replicas"): REPLICAS `rdsgate serve` processes
# (default 3) on one fresh database drain N approved releases (default 300)
# through one `rdsgate sim` process, the quota's judge: every release is
# filed and approved through the JSON API. Prints, from the simulator's call
# log, the drain (first to last release arrival + one slot) against the
# quota floor of N/10 s, the most releases that arrived in any sliding
# one-second window, and the Throttling answers; fails when the window held
# more than 10 or a call was throttled.
#
#   ./scripts/bench_replicas.sh            # 3 replicas, 300 releases
#   REPLICAS=1 ./scripts/bench_replicas.sh
#
# Called by scripts/bench.sh (make bench); runs alone too. About a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
ADMIN_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
REPLICAS=${REPLICAS:-3}
N=${N:-300}
DB=rdsgate_bench_replicas
URL=${ADMIN_URL/\/postgres\?//$DB?}
if [[ $URL == "$ADMIN_URL" ]]; then
  echo "bench_replicas: TEST_DATABASE_URL must name the database postgres (got $ADMIN_URL)" >&2
  exit 1
fi
for tool in jq curl psql; do
  command -v "$tool" >/dev/null || { echo "bench_replicas: $tool is needed" >&2; exit 1; }
done

dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ -n ${KEEP:-} ]]; then
    echo "kept $dir and the database $DB"
  else
    rm -rf "$dir"
    psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" 2>/dev/null || true
  fi
}
trap cleanup EXIT

go build -o "$dir/rdsgate" ./cmd/rdsgate
psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"

# N instances with a public endpoint, all in dev (one dba approval).
jq -n --argjson n "$N" '{instances: [range(0; $n) | ("rm-benchrepl" + (tostring | ("00000" + .)[-5:])) as $id |
  {id: $id, region_id: "cn-hangzhou", zone_id: "cn-hangzhou-h", engine: "MySQL", engine_version: "8.0",
   class: "mysql.n2.medium.1", status: "Running", network_type: "VPC", vpc_id: "vpc-bench", vswitch_id: "vsw-bench",
   endpoints: [{connection_string: ($id + ".mysql.rds.aliyuncs.com"), ip_address: "47.98.10.11", ip_type: "Public", port: "3306", type: "Normal"}]}]}' \
  > "$dir/instances.json"
cp policies/examples/ram.json "$dir/ram.json"
jq '.max_pending_requests = 1073741824 | .environment_patterns = [{pattern: "rm-benchrepl*", environment: "dev"}] + .environment_patterns' \
  policies/examples/org.json > "$dir/org.json"

sim_addr=127.0.0.1:${RDSGATE_BENCH_SIM_PORT:-19090}
"$dir/rdsgate" sim --addr "$sim_addr" --state "$dir/instances.json" --log-level warn 2>"$dir/sim.log" &
pids+=($!)

DATABASE_URL=$URL "$dir/rdsgate" migrate >/dev/null 2>&1
alice=$(DATABASE_URL=$URL "$dir/rdsgate" token create --subject alice --groups developers 2>/dev/null | tail -n 1)
bob=$(DATABASE_URL=$URL "$dir/rdsgate" token create --subject bob --groups dba 2>/dev/null | tail -n 1)

addrs=()
for i in $(seq "$REPLICAS"); do
  addr=127.0.0.1:$((18180 + i))
  addrs+=("$addr")
  DATABASE_URL=$URL ALIBABA_CLOUD_ACCESS_KEY_ID=LTAIsimdev00000000000000 ALIBABA_CLOUD_ACCESS_KEY_SECRET=sim-dev-secret \
    RDSGATE_RDS_ENDPOINT=$sim_addr RDSGATE_RDS_PROTOCOL=http RDSGATE_ACTIONTRAIL_ENDPOINT=$sim_addr RDSGATE_ACCOUNT_ID=1234567890123456 RDSGATE_LOG_LEVEL=warn \
    "$dir/rdsgate" serve --addr "$addr" --policy-data "$dir" 2>"$dir/serve$i.log" &
  pids+=($!)
done
for addr in "${addrs[@]}"; do
  for _ in $(seq 200); do curl -sf "http://$addr/readyz" >/dev/null && break; sleep 0.1; done
  curl -sf "http://$addr/readyz" >/dev/null || { echo "FAIL: $addr did not become ready"; cat "$dir"/serve*.log; exit 1; }
done
curl -sf -X DELETE "http://$sim_addr/_sim/calls" >/dev/null

echo "-- $REPLICAS replicas, $N releases filed, then approved, through the API (round robin over the replicas, 8 at a time), drained through rdsgate sim"
# File every request first, then approve them all at once: the drain is then
# paced by the quota alone, not by how fast approvals arrive.
file_one() {
  local i=$1 addr id
  addr=${ADDRS[$((i % ${#ADDRS[@]}))]}
  id=$(printf 'rm-benchrepl%05d' "$i")
  curl -sf -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' "http://$addr/api/v1/requests" \
    -d "{\"region_id\":\"cn-hangzhou\",\"db_instance_id\":\"$id\",\"connection_string\":\"$id.mysql.rds.aliyuncs.com\",\"network_type\":\"0\",\"justification\":\"replica quota benchmark\",\"ticket\":\"OPS-1\"}" |
    jq -c --arg addr "$addr" '{addr: $addr, id, payload_hash}'
}
approve_one() {
  local addr rid hash
  addr=$(jq -r .addr <<<"$1"); rid=$(jq -r .id <<<"$1"); hash=$(jq -r .payload_hash <<<"$1")
  curl -sf -o /dev/null -H "Authorization: Bearer $BOB" -H 'Content-Type: application/json' "http://$addr/api/v1/requests/$rid/approvals" \
    -d "{\"decision\":\"approve\",\"payload_hash\":\"$hash\"}"
}
export -f file_one approve_one
export ALICE=$alice BOB=$bob
ADDRS_LIST="${addrs[*]}"
export ADDRS_LIST
seq 0 $((N - 1)) | xargs -P 8 -I{} bash -c 'ADDRS=($ADDRS_LIST); file_one {}' > "$dir/filed"
(($(wc -l <"$dir/filed") == N)) || { echo "FAIL: $(wc -l <"$dir/filed") of $N requests filed"; exit 1; }
tr '\n' '\0' <"$dir/filed" | xargs -0 -P 8 -I{} bash -c 'approve_one "$1"' _ {}

# Until every release arrived at the simulator.
for _ in $(seq 1200); do
  got=$(curl -sf "http://$sim_addr/_sim/calls" | jq '[.[] | select(.action == "ReleaseInstanceConnection" and .code == "")] | length')
  ((got >= N)) && break
  sleep 0.1
done
curl -sf "http://$sim_addr/_sim/calls" > "$dir/calls.json"
jq -r --argjson n "$N" '
  def secs: (.[0:10] + "T00:00:00Z" | fromdateiso8601) + (capture("T(?<h>[0-9]+):(?<m>[0-9]+):(?<s>[0-9.]+)") | (.h | tonumber) * 3600 + (.m | tonumber) * 60 + (.s | tonumber));
  [.[] | select(.action == "ReleaseInstanceConnection")] as $rel
  | [$rel[] | .time | secs] | sort as $t
  | ([range(0; $t | length) as $i | [$t[] | select(. > $t[$i] - 1 and . <= $t[$i])] | length] | max) as $most
  | ($t[-1] - $t[0] + 0.1) as $wall
  | ([$rel[] | select(.code | startswith("Throttling"))] | length) as $thr
  | ([$rel[] | select(.code == "")] | length) as $ok
  | "releases \($ok)/\($n); drain \($wall * 100 | round / 100) s vs floor \($n / 10) s = \(($wall / ($n / 10)) * 1000 | round / 1000)x; most in any 1 s window \($most); throttled \($thr)",
    (if $most > 10 or $thr > 0 or $ok < $n then "FAIL: the quota was not kept" else empty end)' "$dir/calls.json" | tee "$dir/result"
psql "$URL" -Atc "SELECT 'approvals: ' || count(*) || ' in ' || round(extract(epoch FROM max(occurred_at) - min(occurred_at))::numeric, 2) || ' s' FROM audit_events WHERE kind = 'request.approved'"
! grep -q FAIL "$dir/result"
