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
only=${1:-all}

section() { printf '\n== %s ==\n' "$*"; }

fresh_db() {
  psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
}

# Baseline: pgbench-style single-row inserts, 16 clients, on the same database.
pgbench_inserts() {
  psql "$BENCH_URL" -qc "CREATE TABLE IF NOT EXISTS bench_insert (id bigserial PRIMARY KEY, payload text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
  local f; f=$(mktemp)
  echo "INSERT INTO bench_insert (payload) VALUES (md5(random()::text));" > "$f"
  pgbench -n -c 16 -j 2 -T "${1:-10}" -f "$f" "$BENCH_URL" 2>&1 | grep -E '^(tps|latency average|number of transactions actually)'
  rm -f "$f"
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
  echo "-- rdsgate: go test -run '^\$' -bench BenchmarkCreateRequest16 -benchtime 20000x ./internal/web"
  RDSGATE_BENCH_DATABASE_URL=$BENCH_URL go test -run '^$' -bench BenchmarkCreateRequest16 -benchtime 20000x ./internal/web | grep -E 'Benchmark|ok'
  echo "-- ceiling: the same clients against a bare Echo handler that inserts the JSON as one row"
  RDSGATE_BENCH_DATABASE_URL=$BENCH_URL go test -run '^$' -bench BenchmarkInsertOverHTTP16 -benchtime 20000x ./internal/web | grep -E 'Benchmark|ok'
  echo "-- the filing's SQL alone: pgbench -n -c 16 -j 2 -t 1250 -M prepared, pipelined (fresh database ${DB}_sql)"
  pgbench_filing
  echo "-- baseline again (drift check)"
  pgbench_inserts 10
fi

for extra in scripts/bench_*.sh; do
  [[ -e $extra ]] || continue
  name=$(basename "$extra" .sh); name=${name#bench_}
  if [[ $only == all || $only == "$name" ]]; then
    section "$name ($extra)"
    TEST_DATABASE_URL=$ADMIN_URL bash "$extra"
  fi
done
