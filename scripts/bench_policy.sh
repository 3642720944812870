#!/usr/bin/env bash
# scripts/bench_policy.sh — the policy engine's figures (docs/BENCHMARKS.md, "Policy decisions"):
# decision latency p50/p99 over 10,000 RAM users x 10 statements each, embedded (Engine.Decide)
# and through a standalone OPA server (`opa run --server`, the OPA version of go.mod, same Rego
# and data) over loopback HTTP, in the same run, with the ratio; then ns/op and allocations of one
# embedded decision. Called by scripts/bench.sh (make bench); runs alone too.
#
#   POLICY_BENCH_ROUNDS  latency runs (default 3; each takes about a minute)
#   OPA_BIN              an opa binary to use instead of building one
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${POLICY_BENCH_ROUNDS:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

opa=${OPA_BIN:-}
if [[ -z $opa ]]; then
  version=$(go list -m -f '{{.Version}}' github.com/open-policy-agent/opa)
  echo "-- go build -o \$tmp/opa github.com/open-policy-agent/opa   # $version, as in go.mod"
  go build -o "$tmp/opa" github.com/open-policy-agent/opa
  opa=$tmp/opa
fi

echo "-- OPA_BIN=$opa go test ./internal/policy -run '^\$' -bench BenchmarkDecisionLatency -benchtime 1x -count $rounds"
OPA_BIN=$opa go test ./internal/policy -run '^$' -bench BenchmarkDecisionLatency -benchtime 1x \
  -count "$rounds" -timeout 60m 2>&1 | grep -Ev '^(goos|goarch|pkg|cpu|PASS|ok)[: ]'

echo "-- go test ./internal/policy -run '^\$' -bench 'BenchmarkDecide\$' -benchmem -count 5"
go test ./internal/policy -run '^$' -bench 'BenchmarkDecide$' -benchmem -count 5 | grep -E '^Benchmark'
