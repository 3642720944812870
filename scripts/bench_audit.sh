#!/usr/bin/env bash
# scripts/bench_audit.sh — the audit trail's figures (docs/BENCHMARKS.md,
# "Audit trail"): with AUDIT_BENCH_EVENTS (default 1,000,000) events made by
# cmd/auditload, the load generator, through audit.Append, it measures
#   - filtered search p50/p95 per filter, first page and a deep page
#     (go test -bench BenchmarkSearch ./internal/audit);
#   - export of the whole trail: time and maximum resident memory
#     (/usr/bin/time), JSON Lines and CSV;
#   - verification speed, online and offline (from the export);
#   - append throughput, 16 writers, against pgbench single-row inserts on
#     the same database, alternated over AUDIT_BENCH_ROUNDS rounds.
# It prints a Markdown report on stdout; progress goes to stderr.
#
# The server comes from DATABASE_URL, else TEST_DATABASE_URL, else the local
# PostgreSQL; the script drops and creates its own database,
# rdsgate_bench_audit, there. Needs psql, pgbench, openssl, /usr/bin/time, go.
set -euo pipefail
cd "$(dirname "$0")/.."

ADMIN_URL=${DATABASE_URL:-${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}}
EVENTS=${AUDIT_BENCH_EVENTS:-1000000}
ROUNDS=${AUDIT_BENCH_ROUNDS:-3}
SECONDS_PER_RUN=${AUDIT_BENCH_SECONDS:-10}
DB=rdsgate_bench_audit
BIN=${RDSGATE_BIN:-bin/rdsgate}
[ -x "$BIN" ] || go build -o "$BIN" ./cmd/rdsgate
LOAD=${AUDITLOAD_BIN:-bin/auditload}
[ -x "$LOAD" ] || go build -o "$LOAD" ./cmd/auditload
for tool in psql pgbench openssl /usr/bin/time; do
	command -v "$tool" >/dev/null || { echo "bench_audit: $tool is required" >&2; exit 1; }
done

# bench_url replaces the database of ADMIN_URL (URL form) with $DB.
bench_url() {
	local base=${ADMIN_URL%%\?*} query=""
	[[ $ADMIN_URL == *\?* ]] && query="?${ADMIN_URL#*\?}"
	local hostpart=${base#*://}
	hostpart=${hostpart%%/*}
	echo "${base%%://*}://${hostpart}/${DB}${query}"
}
URL=$(bench_url)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
log() { echo "bench_audit: $*" >&2; }
json() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p" "$2" | head -1; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

log "database $DB on ${ADMIN_URL%%\?*}"
psql -qX "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
"$BIN" migrate --database-url "$URL" >/dev/null
openssl genpkey -algorithm ed25519 -out "$WORK/audit.pem" 2>/dev/null
openssl pkey -in "$WORK/audit.pem" -pubout -out "$WORK/audit.pub"

log "generating $EVENTS events (16 writers, 50 per transaction, sealer running)"
"$LOAD" --database-url "$URL" --count "$EVENTS" --writers 16 --batch 50 --json >"$WORK/gen.json"
gen_s=$(awk -v ms="$(json took_ms "$WORK/gen.json")" 'BEGIN {printf "%.1f", ms/1000}')
seal_s=$(awk -v ms="$(json seal_rest_ms "$WORK/gen.json")" 'BEGIN {printf "%.1f", ms/1000}')
# What autovacuum does to a table after a bulk load; the sealer's updates
# leave one dead version per event.
psql -qX "$URL" -c "VACUUM (ANALYZE) audit_events" >/dev/null
RDSGATE_AUDIT_SIGNING_KEY="$WORK/audit.pem" "$BIN" audit checkpoint --database-url "$URL" --checkpoint-dir "$WORK/checkpoints" >/dev/null 2>&1
size=$(psql -qXAt "$URL" -c "SELECT pg_size_pretty(pg_total_relation_size('audit_events'))")

log "verifying online (3 runs)"
for _ in 1 2 3; do
	"$BIN" audit verify --database-url "$URL" --public-key "$WORK/audit.pub" --checkpoint-dir "$WORK/checkpoints" --json >"$WORK/verify.json"
	awk -v n="$(json checked "$WORK/verify.json")" -v ms="$(json took_ms "$WORK/verify.json")" 'BEGIN {printf "%.0f\n", n/(ms/1000)}'
done >"$WORK/verify_rates"
verify_online=$(median <"$WORK/verify_rates")
checked=$(json checked "$WORK/verify.json")

log "exporting"
/usr/bin/time -f "%M %e" -o "$WORK/export.time" "$BIN" audit export --database-url "$URL" --out "$WORK/export.jsonl" 2>/dev/null
read -r export_kb export_s <"$WORK/export.time"
/usr/bin/time -f "%M %e" -o "$WORK/export_csv.time" "$BIN" audit export --database-url "$URL" --format csv --out "$WORK/export.csv" 2>/dev/null
read -r csv_kb csv_s <"$WORK/export_csv.time"
export_mb=$(du -m "$WORK/export.jsonl" | cut -f1)

log "verifying the export offline"
/usr/bin/time -f "%M %e" -o "$WORK/offline.time" "$BIN" audit verify --file "$WORK/export.jsonl" --public-key "$WORK/audit.pub" --json >"$WORK/offline.json"
read -r offline_kb _ <"$WORK/offline.time"
verify_offline=$(awk -v n="$(json checked "$WORK/offline.json")" -v ms="$(json took_ms "$WORK/offline.json")" 'BEGIN {printf "%.0f", n/(ms/1000)}')
"$BIN" audit verify --file "$WORK/export.csv" --public-key "$WORK/audit.pub" --json >"$WORK/offline_csv.json"
verify_csv=$(awk -v n="$(json checked "$WORK/offline_csv.json")" -v ms="$(json took_ms "$WORK/offline_csv.json")" 'BEGIN {printf "%.0f", n/(ms/1000)}')

log "searching (go test -bench BenchmarkSearch)"
RDSGATE_AUDIT_BENCH_URL="$URL" go test -run '^$' -bench 'BenchmarkSearch' -benchtime 200x ./internal/audit/ >"$WORK/search.txt"

log "append throughput: $ROUNDS rounds of ${SECONDS_PER_RUN}s each, alternating"
psql -qX "$URL" -c "CREATE TABLE bench_inserts (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), payload text NOT NULL)" >/dev/null
echo "INSERT INTO bench_inserts (payload) VALUES ('{\"decision\":\"approve\",\"comment\":\"ok\"}');" >"$WORK/insert.sql"
printf 'BEGIN;\n%s\nCOMMIT;\n' "$(cat "$WORK/insert.sql")" >"$WORK/insert_tx.sql"
printf 'BEGIN;\nSELECT pg_advisory_xact_lock(42);\n%s\nCOMMIT;\n' "$(cat "$WORK/insert.sql")" >"$WORK/insert_locked.sql"
pgb() { pgbench -n -c 16 -j 2 -T "$SECONDS_PER_RUN" -f "$1" "$URL" 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p'; }
gen() { "$LOAD" --database-url "$URL" --duration "${SECONDS_PER_RUN}s" --writers 16 --batch 1 "$@" --json | sed -n 's/.*"events_per_sec":\([0-9.]*\).*/\1/p'; }
: >"$WORK/rounds"
for r in $(seq "$ROUNDS"); do
	p=$(pgb "$WORK/insert.sql")
	a=$(gen)
	pt=$(pgb "$WORK/insert_tx.sql")
	at=$(gen --explicit-tx)
	pl=$(pgb "$WORK/insert_locked.sql")
	printf '%s %s %s %s %s\n' "$p" "$a" "$pt" "$at" "$pl" >>"$WORK/rounds"
	log "round $r: pgbench $p/s, audit.Append $a/s; in BEGIN…COMMIT: pgbench $pt/s, audit.Append $at/s; locked head $pl/s"
done
col() { awk -v c="$1" '{print $c}' "$WORK/rounds" | median; }
pg_med=$(col 1); ap_med=$(col 2); pgt_med=$(col 3); apt_med=$(col 4); lock_med=$(col 5)
unsealed=$(psql -qXAt "$URL" -c "SELECT count(*) FROM audit_events WHERE seq IS NULL")

fmt() { printf "%'.0f" "$1"; }
cat <<EOF
### Run of $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) CPUs, PostgreSQL $(psql -qXAt "$URL" -c "SHOW server_version")

Trail: $(fmt "$EVENTS") events generated in ${gen_s}s (sealing the rest took ${seal_s}s after the writers stopped); audit_events with its indexes: $size.

| measure | result | target |
|---|---|---|
| verify online, $(fmt "$checked") events + checkpoints (median of 3) | **$(fmt "$verify_online") events/s** | ≥ 400,000/s |
| verify offline, JSON Lines export | $(fmt "$verify_offline") events/s, max RSS $((offline_kb / 1024)) MB | |
| verify offline, CSV export | $(fmt "$verify_csv") events/s | |
| export JSON Lines ($export_mb MB) | ${export_s}s, **max RSS $((export_kb / 1024)) MB** | < 100 MB |
| export CSV | ${csv_s}s, max RSS $((csv_kb / 1024)) MB | < 100 MB |
| append, 16 writers, one event per statement (median of $ROUNDS) | **$(fmt "$ap_med") events/s** = $(awk -v a="$ap_med" -v p="$pg_med" 'BEGIN {printf "%.0f%%", 100*a/p}') of pgbench | ≥ 50% |
| pgbench single-row INSERT, 16 clients, same database | $(fmt "$pg_med") rows/s | |
| append in BEGIN … COMMIT (3 round trips) | $(fmt "$apt_med") events/s = $(awk -v a="$apt_med" -v p="$pgt_med" 'BEGIN {printf "%.0f%%", 100*a/p}') of pgbench's BEGIN; INSERT; COMMIT ($(fmt "$pgt_med")/s) | |
| for comparison: head locked in every transaction (advisory lock + INSERT) | $(fmt "$lock_med") rows/s | |

Rounds (pgbench, Append; pgbench in tx, Append in tx; locked head), rows or events per second:

\`\`\`
$(cat "$WORK/rounds")
\`\`\`
Events still unsealed at the end: $unsealed.

Search, one page of 50 newest first (\`go test -bench BenchmarkSearch -benchtime 200x\`); depth = events before the deep page's cursor:

| filter | page | depth | p50 ms | p95 ms | p99 ms |
|---|---|---|---|---|---|
$(awk '/^BenchmarkSearch\// {
	split($1, n, "/"); sub(/-[0-9]+$/, "", n[3]);
	for (i = 3; i < NF; i += 2) v[$(i+1)] = $i;
	printf "| %s | %s | %d | %.2f | **%.2f** | %.2f |\n", n[2], n[3], v["depth"], v["p50-ms"], v["p95-ms"], v["p99-ms"] }' "$WORK/search.txt")
EOF
