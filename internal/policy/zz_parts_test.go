package policy

import (
	"context"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
)

func BenchmarkZZParts(b *testing.B) {
	e := newBenchEngine(b)
	rev := e.cur.Load()
	data, _, err := compiledData(rev.src)
	if err != nil {
		b.Fatal(err)
	}
	v, _ := ast.InterfaceToValue(data)
	store := inmem.NewFromASTObject(v.(ast.Object))
	compiler, err := compileModules(rev.src.modules)
	if err != nil {
		b.Fatal(err)
	}
	inputs := benchInputs(20000)
	parsed := make([]ast.Value, len(inputs))
	for i, in := range inputs {
		parsed[i] = decideInput(in)
	}
	ctx := context.Background()
	for _, q := range []string{"x = 1", "x = data.rdsgate.release.decision", "x = data.rdsgate.ram.result", "x = count(data.rdsgate.ram.candidates)", "x = data.rdsgate.ram.resource",  "x = data.rdsgate.ram.reasons", "x = data.rdsgate.org.clean", "x = data.rdsgate.org.approval.note", "x = data.rdsgate.org.environment", "x = data.rdsgate.org.notes"} {
		b.Run(q, func(b *testing.B) {
			pq, err := rego.New(rego.Query(q), rego.Compiler(compiler), rego.Store(store)).PrepareForEval(ctx)
			nm := metrics.NoOp()
			if err != nil {
				b.Fatal(err)
			}
			for i := range parsed {
				pq.Eval(ctx, rego.EvalParsedInput(parsed[i]), rego.EvalInterQueryBuiltinValueCache(rev.cache), rego.EvalExternalCancel(neverCancelled), rego.EvalMetrics(nm))
			}
			b.ReportAllocs()
			i := 0
			c := startCPU()
			defer c.report(b)
			for b.Loop() {
				if _, err := pq.Eval(ctx, rego.EvalParsedInput(parsed[i%len(parsed)]), rego.EvalInterQueryBuiltinValueCache(rev.cache), rego.EvalExternalCancel(neverCancelled), rego.EvalMetrics(nm)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
