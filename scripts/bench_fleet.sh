#!/usr/bin/env bash
# scripts/bench_fleet.sh — many accounts, one bulk request (docs/BENCHMARKS.md,
# "Fleet"): a `rdsgate sim` fleet of ACCOUNTS accounts × 2 regions × PER
# instances, each account reached through STS AssumeRole over TLS; `rdsgate
# fleet scan` lists the public endpoints (timed); the ones in cn-hangzhou
# (ACCOUNTS × PER targets) are filed as ONE bulk request through the JSON
# API, approved once, and drained by REPLICAS `rdsgate serve` processes.
# From the simulator's call log it prints the drain (first to last release
# arrival + one slot) against the floor of PER/10 s (accounts drain in
# parallel), the most releases of one account in any sliding one-second
# window, the throttled answers, and checks that every release's RequestId
# is in the audit trail with its account. Fails when a guard is missed:
# drain ≤ 1.05 × floor, ≤ 10 per account per window, 0 throttled.
#
#   ./scripts/bench_fleet.sh                      # 5 accounts × 200, 3 replicas
#   ACCOUNTS=2 PER=50 REPLICAS=1 ./scripts/bench_fleet.sh
#
# Called by scripts/bench.sh (make bench); runs alone too. About 1.5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
ADMIN_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
ACCOUNTS=${ACCOUNTS:-5}
PER=${PER:-200}
REPLICAS=${REPLICAS:-3}
N=$((ACCOUNTS * PER))
DB=rdsgate_bench_fleet
URL=${ADMIN_URL/\/postgres\?//$DB?}
if [[ $URL == "$ADMIN_URL" ]]; then
  echo "bench_fleet: TEST_DATABASE_URL must name the database postgres (got $ADMIN_URL)" >&2
  exit 1
fi
for tool in jq curl psql; do
  command -v "$tool" >/dev/null || { echo "bench_fleet: $tool is needed" >&2; exit 1; }
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

# The accounts: 1000000000000001…, each with the role rdsgate-gateway that
# rdsgate assumes; alice may release in every account (one dba approval:
# the fleet's instances are dev).
mkdir -p "$dir/data"
jq -n --argjson n "$ACCOUNTS" '{accounts: ([range(1; $n + 1) | (1000000000000000 + . | tostring) as $id |
  {key: $id, value: {name: ("team-" + ($id[-2:])), role_arn: ("acs:ram::" + $id + ":role/rdsgate-gateway"),
   regions: ["cn-hangzhou", "cn-shanghai"]}}] | from_entries)}' > "$dir/data/accounts.json"
jq '.policies.ReleasePublicEndpoints.Statement[0].Resource = "acs:rds:*:*:dbinstance/*"' \
  policies/examples/ram.json > "$dir/data/ram.json"
jq '.max_pending_requests = 1073741824 | .environment_patterns = [{pattern: "rm-bp1a*", environment: "dev"}] + .environment_patterns' \
  policies/examples/org.json > "$dir/data/org.json"

sim_addr=127.0.0.1:${RDSGATE_BENCH_SIM_PORT:-19091}
"$dir/rdsgate" sim --addr "$sim_addr" --generate "accounts=$ACCOUNTS,regions=cn-hangzhou+cn-shanghai,per_region=$PER,roles=rdsgate-gateway" \
  --ca-out "$dir/ca.pem" --log-level warn 2>"$dir/sim.log" &
pids+=($!)
for _ in $(seq 200); do [[ -s $dir/ca.pem ]] && curl -sf "http://$sim_addr/_sim/accounts" >/dev/null && break; sleep 0.1; done

export ALIBABA_CLOUD_ACCESS_KEY_ID=LTAIsimdev00000000000000 ALIBABA_CLOUD_ACCESS_KEY_SECRET=sim-dev-secret
export RDSGATE_RDS_ENDPOINT=$sim_addr RDSGATE_RDS_PROTOCOL=http RDSGATE_STS_ENDPOINT=$sim_addr RDSGATE_ACTIONTRAIL_ENDPOINT=$sim_addr RDSGATE_CA_FILE=$dir/ca.pem
export RDSGATE_POLICY_DATA=$dir/data RDSGATE_LOG_LEVEL=warn

DATABASE_URL=$URL "$dir/rdsgate" migrate >/dev/null 2>&1
alice=$(DATABASE_URL=$URL "$dir/rdsgate" token create --subject alice --groups developers 2>/dev/null | tail -n 1)
bob=$(DATABASE_URL=$URL "$dir/rdsgate" token create --subject bob --groups dba 2>/dev/null | tail -n 1)

echo "-- scan: $ACCOUNTS accounts × 2 regions × $PER instances (DescribeDBInstances, then DescribeDBInstanceNetInfo per instance, within each account's quotas)"
start=$(date +%s.%N)
DATABASE_URL=$URL "$dir/rdsgate" fleet scan > "$dir/scan.jsonl" 2>"$dir/scan.err" || { cat "$dir/scan.err"; echo "FAIL: the scan failed"; exit 1; }
scan_s=$(echo "$(date +%s.%N) - $start" | bc)
found=$(wc -l <"$dir/scan.jsonl")
floor_scan=$(echo "2 * $PER / 10" | bc)
echo "scan: $found public endpoints in $(printf %.2f "$scan_s") s (the NetInfo quota's floor: $floor_scan s per account, accounts in parallel)"
((found == 2 * N)) || { echo "FAIL: scan found $found endpoints, want $((2 * N))"; exit 1; }
curl -sf "http://$sim_addr/_sim/calls" > "$dir/scan_calls.json"
curl -sf -X DELETE "http://$sim_addr/_sim/calls" >/dev/null
jq -r '
  def secs: (.[0:10] + "T00:00:00Z" | fromdateiso8601) + (capture("T(?<h>[0-9]+):(?<m>[0-9]+):(?<s>[0-9.]+)") | (.h | tonumber) * 3600 + (.m | tonumber) * 60 + (.s | tonumber));
  [.[] | select(.action == "DescribeDBInstanceNetInfo" or .action == "DescribeDBInstances")] as $d
  | ([$d | group_by([.account_id, .action])[] | [.[] | .time | secs] | sort as $t
       | [range(0; $t | length) as $i | [$t[] | select(. > $t[$i] - 1 and . <= $t[$i])] | length] | max] | max) as $most
  | ([$d[] | select(.code | startswith("Throttling"))] | length) as $thr
  | "scan calls: \($d | length) Describe calls; most of one account and API in any 1 s window \($most); throttled \($thr)",
    (if $most > 10 or $thr > 0 then "FAIL: the scan exceeded a quota" else empty end)' "$dir/scan_calls.json" | tee "$dir/scan_result"
! grep -q FAIL "$dir/scan_result"

addrs=()
for i in $(seq "$REPLICAS"); do
  addr=127.0.0.1:$((18280 + i))
  addrs+=("$addr")
  DATABASE_URL=$URL "$dir/rdsgate" serve --addr "$addr" 2>"$dir/serve$i.log" &
  pids+=($!)
done
for addr in "${addrs[@]}"; do
  for _ in $(seq 200); do curl -sf "http://$addr/readyz" >/dev/null && break; sleep 0.1; done
  curl -sf "http://$addr/readyz" >/dev/null || { echo "FAIL: $addr did not become ready"; cat "$dir"/serve*.log; exit 1; }
done

echo "-- one bulk request of $N targets (cn-hangzhou: $PER per account), approved once, drained by $REPLICAS replicas"
jq -s '{targets: [.[] | select(.region_id == "cn-hangzhou")], justification: "fleet benchmark: closing every public endpoint", ticket: "OPS-1"}' \
  "$dir/scan.jsonl" > "$dir/bulk.json"
t0=$(date +%s.%N)
curl -sf -H "Authorization: Bearer $alice" -H 'Content-Type: application/json' "http://${addrs[0]}/api/v1/requests" \
  -d @"$dir/bulk.json" > "$dir/filed.json" || { echo "FAIL: filing"; cat "$dir"/serve1.log; exit 1; }
filed_s=$(echo "$(date +%s.%N) - $t0" | bc)
id=$(jq -r .id "$dir/filed.json")
hash=$(jq -r .payload_hash "$dir/filed.json")
echo "filed $id with $(jq '.progress.total' "$dir/filed.json") targets allowed in $(printf %.2f "$filed_s") s"
curl -sf -o /dev/null -H "Authorization: Bearer $bob" -H 'Content-Type: application/json' \
  "http://${addrs[1 % REPLICAS]}/api/v1/requests/$id/approvals" -d "{\"decision\":\"approve\",\"payload_hash\":\"$hash\"}"

# Watched in the database: the API's answer lists all 1,000 targets, and
# polling it would load the machine that is being measured.
for _ in $(seq 1200); do
  st=$(psql "$URL" -Atc "SELECT status FROM requests WHERE id = '$id'")
  [[ $st == succeeded || $st == failed || $st == cancelled ]] && break
  sleep 0.5
done
echo "bulk request: $st; progress $(curl -sf -H "Authorization: Bearer $alice" "http://${addrs[0]}/api/v1/requests/$id" | jq -c .progress)"
curl -sf "http://$sim_addr/_sim/calls" > "$dir/calls.json"
jq -r --argjson n "$N" --argjson per "$PER" '
  def secs: (.[0:10] + "T00:00:00Z" | fromdateiso8601) + (capture("T(?<h>[0-9]+):(?<m>[0-9]+):(?<s>[0-9.]+)") | (.h | tonumber) * 3600 + (.m | tonumber) * 60 + (.s | tonumber));
  [.[] | select(.action == "ReleaseInstanceConnection")] as $rel
  | [$rel[] | .time | secs] | sort as $all
  | ([$rel | group_by(.account_id)[] | [.[] | .time | secs] | sort as $t
       | [range(0; $t | length) as $i | [$t[] | select(. > $t[$i] - 1 and . <= $t[$i])] | length] | max] | max) as $most
  | ($all[-1] - $all[0] + 0.1) as $wall
  | ([$rel[] | select(.code | startswith("Throttling"))] | length) as $thr
  | ([$rel[] | select(.code == "")] | length) as $ok
  | ([$rel[] | .account_id] | unique | length) as $accs
  | "releases \($ok)/\($n) over \($accs) accounts; drain \($wall * 100 | round / 100) s vs floor \($per / 10) s = \(($wall / ($per / 10)) * 1000 | round / 1000)x; most of one account in any 1 s window \($most); throttled \($thr)",
    (if $most > 10 or $thr > 0 or $ok < $n or ($wall / ($per / 10)) > 1.05 then "FAIL: a guard was missed" else empty end)' \
  "$dir/calls.json" | tee "$dir/result"

# Every release the simulator answered is in the audit trail, with its
# RequestId and the account it was made in.
jq -r '.[] | select(.action == "ReleaseInstanceConnection" and .code == "") | [.request_id, .account_id] | @tsv' "$dir/calls.json" | sort > "$dir/sim_ids"
psql "$URL" -Atc "SELECT alibaba_request_id || E'\t' || (payload->>'account_id') FROM audit_events
  WHERE kind = 'execution.succeeded' AND alibaba_request_id <> ''" | sort > "$dir/audit_ids"
if cmp -s "$dir/sim_ids" "$dir/audit_ids"; then
  echo "audit: all $(wc -l <"$dir/sim_ids") RequestIds recorded with their account"
else
  echo "FAIL: the audit trail's RequestIds and accounts differ from the simulator's ($(wc -l <"$dir/sim_ids") vs $(wc -l <"$dir/audit_ids"))"
  diff "$dir/sim_ids" "$dir/audit_ids" | head -5
  echo FAIL >> "$dir/result"
fi
[[ $st == succeeded ]] || echo "FAIL: the bulk request ended $st" >> "$dir/result"
! grep -q FAIL "$dir/result"
