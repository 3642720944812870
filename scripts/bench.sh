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

if [[ $only == all || $only == requests ]]; then
  section "POST /api/v1/requests at 16 clients vs pgbench single-row inserts (same database, same run)"
  fresh_db
  echo "-- baseline: pgbench -n -c 16 -j 2 -T 10 (single-row INSERT)"
  pgbench_inserts 10
  echo "-- rdsgate: go test -run '^\$' -bench BenchmarkCreateRequest16 -benchtime 20000x ./internal/web"
  RDSGATE_BENCH_DATABASE_URL=$BENCH_URL go test -run '^$' -bench BenchmarkCreateRequest16 -benchtime 20000x ./internal/web | grep -E 'Benchmark|ok'
  echo "-- ceiling: the same clients against a bare Echo handler that inserts the JSON as one row"
  RDSGATE_BENCH_DATABASE_URL=$BENCH_URL go test -run '^$' -bench BenchmarkInsertOverHTTP16 -benchtime 20000x ./internal/web | grep -E 'Benchmark|ok'
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
