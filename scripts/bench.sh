#!/usr/bin/env bash
# make bench: every benchmark of the project, each next to a baseline measured
# in the same run on the same machine. Figures and commands are recorded in
# docs/BENCHMARKS.md by hand from this output (the machine is shared and noisy;
# ratios matter more than absolute numbers).
set -euo pipefail
cd "$(dirname "$0")/.."
ADMIN_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
DB=rdsgate_bench
BENCH_URL=${ADMIN_URL/\/postgres\?//$DB?}
# The benchmark databases are named by replacing the admin URL's database;
# without one to replace they would be the admin database itself.
if [[ $BENCH_URL == "$ADMIN_URL" ]]; then
  echo "bench: TEST_DATABASE_URL must name the database postgres, as in postgres://user@host:5432/postgres?sslmode=disable (got $ADMIN_URL)" >&2
  exit 1
fi
only=${1:-all}

section() { printf '\n== %s ==\n' "$*"; }

fresh_db() {
  psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
}

# Installs what a run needs from Debian's packages when it is missing.
need() {
  local missing=()
  for tool in "$@"; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  if ((${#missing[@]})); then
    echo "-- installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# Baseline: pgbench-style single-row inserts, 16 clients, on the same database.
# Prints pgbench's lines and leaves the rate in $BASELINE_TPS.
pgbench_inserts() {
  psql "$BENCH_URL" -qc "CREATE TABLE IF NOT EXISTS bench_insert (id bigserial PRIMARY KEY, payload text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
  local f out; f=$(mktemp)
  echo "INSERT INTO bench_insert (payload) VALUES (md5(random()::text));" > "$f"
  out=$(pgbench -n -c 16 -j 2 -T "${1:-10}" -f "$f" "$BENCH_URL" 2>&1 | grep -E '^(tps|latency average|number of transactions actually)')
  echo "$out"
  BASELINE_TPS=$(awk '/^tps/ {print $3}' <<<"$out")
  rm -f "$f"
}

# CPU time (user + system, in clock ticks) of the given processes, summed;
# a process that exits in between is not counted.
cpu_ticks() {
  local p sum=0
  for p in "$@"; do
    [[ -r /proc/$p/stat ]] || continue
    sum=$((sum + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$sum"
}

# The headline: POST /api/v1/requests to `rdsgate serve`, the binary users
# run, from wrk, a load generator in its own process as pgbench is: 16
# connections (2 threads) for 10 s, each call as the next of 800 requesters
# (copies of the example's alice, pending limit lifted, as the Go benchmark
# has them). Prints wrk's figures, the CPU time per request of the server and
# of PostgreSQL's processes, and the ratio to $BASELINE_TPS; fails on any
# answer but 201.
wrk_filings() {
  need wrk jq
  local dir addr=${RDSGATE_BENCH_ADDR:-127.0.0.1:18089}
  dir=$(mktemp -d)
  go build -o "$dir/rdsgate" ./cmd/rdsgate
  jq '.users.alice as $a | .users += ([range(0; 800) | {key: "bench\(.)", value: $a}] | from_entries)' \
    policies/examples/ram.json > "$dir/ram.json"
  jq '.max_pending_requests = 1073741824' policies/examples/org.json > "$dir/org.json"
  DATABASE_URL=$BENCH_URL "$dir/rdsgate" migrate >/dev/null 2>&1
  seq 0 799 | DATABASE_URL=$BENCH_URL xargs -P 4 -I{} sh -c \
    '"$0" token create --subject "bench$1" --groups developers 2>/dev/null | tail -n 1' "$dir/rdsgate" {} > "$dir/tokens"
  # No approvals happen, so the executor never calls out: any credentials do.
  DATABASE_URL=$BENCH_URL ALIBABA_CLOUD_ACCESS_KEY_ID=bench ALIBABA_CLOUD_ACCESS_KEY_SECRET=bench \
    RDSGATE_RDS_ENDPOINT=127.0.0.1:9 RDSGATE_RDS_PROTOCOL=http RDSGATE_TRAIL_INTERVAL=off RDSGATE_LOG_LEVEL=warn \
    "$dir/rdsgate" serve --addr "$addr" --policy-data "$dir" 2>"$dir/serve.log" &
  local pid=$!
  for _ in $(seq 100); do curl -sf "http://$addr/readyz" >/dev/null && break; sleep 0.1; done
  local t0 t1 pg0 pg1 out
  t0=$(cpu_ticks "$pid")
  pg0=$(cpu_ticks $(pgrep -u postgres))
  out=$(RDSGATE_BENCH_TOKENS=$dir/tokens wrk -t2 -c16 -d10s --latency -s scripts/wrk/file_request.lua "http://$addr" 2>&1)
  t1=$(cpu_ticks "$pid")
  pg1=$(cpu_ticks $(pgrep -u postgres))
  kill "$pid"; wait "$pid" || true
  grep -E 'requests in|Requests/sec|^ +(50|99)%|Non-2xx|Socket errors' <<<"$out"
  local n rps
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  awk -v t=$((t1 - t0)) -v p=$((pg1 - pg0)) -v n="$n" -v hz="$(getconf CLK_TCK)" -v r="$rps" -v b="$BASELINE_TPS" \
    'BEGIN { pg = p > 0 ? sprintf("%.3f ms", p / hz / n * 1000) : "n/a (no postgres process here)"
             printf "CPU per request: server %.3f ms, PostgreSQL %s; ratio to the baseline: %.3f\n", t / hz / n * 1000, pg, r / b }'
  if grep -q Non-2xx <<<"$out"; then echo "FAIL: answers other than 201 ($dir/serve.log)"; return 1; fi
  rm -rf "$dir"
}

# The filing's SQL alone: the statements of store.FileForRequester with audit.Append's two events,
# as pgx sends them (prepared, in two pipelined round trips), with payloads of the benchmark's
# sizes, 20,000 filings over 800 requesters as the HTTP benchmark makes, on a fresh migrated
# database: what PostgreSQL allows for this transaction with no Go in the way. (The JSON has a
# space after each colon: pgbench would read ":name" as one of its variables.)
pgbench_filing() {
  local url=${ADMIN_URL/\/postgres\?//${DB}_sql?}
  psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS ${DB}_sql WITH (FORCE)" -c "CREATE DATABASE ${DB}_sql"
  DATABASE_URL=$url go run ./cmd/rdsgate migrate >/dev/null 2>&1
  local f; f=$(mktemp)
  local dec='{"allow": true, "reasons": ["RAM: allowed by policy ReleaseOwnInstances statement 1", "org: rm-bp1devexample01 is in environment dev (by tag env)", "org: dev needs 1 approval(s): 1 from dba"], "required_approvals": 1, "approver_requirements": [{"group": "dba", "count": 1}], "ram": {"effect": "Allow", "policy": "ReleaseOwnInstances", "statement": 1}, "environment": "dev", "revision": "0000000000000000000000000000000000000000000000000000000000000000", "decision_id": "00000000-0000-0000-0000-000000000000"}'
  local pay="{\"decision\": $dec, \"input\": {\"principal\": {\"subject\": \"bench\", \"groups\": [\"developers\"]}, \"request\": {\"region_id\": \"cn-hangzhou\", \"db_instance_id\": \"rm-bp1devexample01\", \"connection_string\": \"rm-bp1devexample01.mysql.rds.aliyuncs.com\", \"network_type\": \"0\", \"justification\": \"benchmark retiring the public endpoint\", \"ticket\": \"OPS-1\"}}}"
  cat > "$f" <<SQL
\set r random(1, 800)
\startpipeline
BEGIN;
SELECT pg_advisory_xact_lock(hashtextextended('bench' || :r, 7));
SELECT count(*) FROM requests WHERE requester = 'bench' || :r AND status = 'pending';
\endpipeline
\startpipeline
INSERT INTO requests (id, requester, region_id, db_instance_id, connection_string, network_type, justification, ticket, status, payload_hash, required_approvals, approver_requirements, environment, decision, policy_revision, created_at, updated_at) VALUES (gen_random_uuid(), 'bench' || :r, 'cn-hangzhou', 'rm-bp1devexample01', 'rm-bp1devexample01.mysql.rds.aliyuncs.com', '0', 'benchmark retiring the public endpoint', 'OPS-1', 'pending', sha256('x'::bytea), 1, '[{"group": "dba", "count": 1}]', 'dev', '$dec', 'rev', now(), now());
INSERT INTO audit_events (occurred_at, kind, actor, request_id, db_instance_id, payload) VALUES (now(), 'policy.decided', 'bench' || :r, gen_random_uuid(), 'rm-bp1devexample01', '$pay'::json), (now(), 'request.created', 'bench' || :r, gen_random_uuid(), 'rm-bp1devexample01', '$dec'::json);
COMMIT;
\endpipeline
SQL
  pgbench -n -c 16 -j 2 -t 1250 -M prepared -f "$f" "$url" 2>&1 | grep -E '^(tps|number of transactions actually|pgbench: error)'
  rm -f "$f"
  psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS ${DB}_sql WITH (FORCE)"
}

if [[ $only == all || $only == requests ]]; then
  section "POST /api/v1/requests at 16 clients vs pgbench single-row inserts (same database, same run)"
  fresh_db
  echo "-- baseline: pgbench -n -c 16 -j 2 -T 10 (single-row INSERT)"
  pgbench_inserts 10
  echo "-- rdsgate serve, driven by wrk -t2 -c16 -d10s (scripts/wrk/file_request.lua)"
  wrk_filings
  echo "-- the same through the in-process Go clients of go test -run '^\$' -bench BenchmarkCreateRequest16 -benchtime 20000x ./internal/web"
  RDSGATE_BENCH_DATABASE_URL=$BENCH_URL go test -run '^$' -bench BenchmarkCreateRequest16 -benchtime 20000x ./internal/web | grep -E 'Benchmark|ok'
  echo "-- ceiling: the same clients against a bare Echo handler that inserts the JSON as one row"
  RDSGATE_BENCH_DATABASE_URL=$BENCH_URL go test -run '^$' -bench BenchmarkInsertOverHTTP16 -benchtime 20000x ./internal/web | grep -E 'Benchmark|ok'
  echo "-- the filing's SQL alone: pgbench -n -c 16 -j 2 -t 1250 -M prepared, pipelined (fresh database ${DB}_sql)"
  pgbench_filing
  echo "-- baseline again (drift check)"
  pgbench_inserts 10
fi

if [[ $only == all || $only == approvals ]]; then
  section "Approve-to-call latency: 200 approvals one at a time, quota free, simulator (guards p50 <= 20 ms, p99 <= 150 ms)"
  echo "-- go test -run '^\$' -bench BenchmarkApproveToCall -benchtime 200x ./internal/app"
  go test -run '^$' -bench BenchmarkApproveToCall -benchtime 200x ./internal/app | grep -E 'Benchmark|ok|FAIL|guards'
fi

for extra in scripts/bench_*.sh; do
  [[ -e $extra ]] || continue
  name=$(basename "$extra" .sh); name=${name#bench_}
  if [[ $only == all || $only == "$name" ]]; then
    section "$name ($extra)"
    TEST_DATABASE_URL=$ADMIN_URL bash "$extra"
  fi
done
