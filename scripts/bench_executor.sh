#!/usr/bin/env bash
# scripts/bench_executor.sh — drain 1,000 approved requests through the RDS
# simulator (docs/BENCHMARKS.md, "Execution"): wall time against the quota
# floor of 100 s, throttled calls, most calls in any one second, CPU time.
# Called by scripts/bench.sh (make bench); runs alone too. About two minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
export TEST_DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
echo "-- go test ./internal/executor -run '^\$' -bench Drain1000 -benchtime 1x -timeout 10m"
go test ./internal/executor -run '^$' -bench Drain1000 -benchtime 1x -timeout 10m 2>&1 | grep -Ev '^(goos|goarch|pkg|cpu|PASS)[: ]'
