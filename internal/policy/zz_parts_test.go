package policy

import (
	"context"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/ast"
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
	for _, q := range []string{"x = data.rdsgate.ram.resource"} {
		b.Run(q, func(b *testing.B) {
			pq, err := rego.New(rego.Query(q), rego.Compiler(compiler), rego.Store(store)).PrepareForEval(ctx)
			if err != nil {
				b.Fatal(err)
			}
			for i := range parsed {
				pq.Eval(ctx, rego.EvalParsedInput(parsed[i]), rego.EvalInterQueryBuiltinValueCache(rev.cache), rego.EvalExternalCancel(neverCancelled))
			}
			b.ReportAllocs()
			i := 0
			c := startCPU()
			defer c.report(b)
			for b.Loop() {
				if _, err := pq.Eval(ctx, rego.EvalParsedInput(parsed[i%len(parsed)]), rego.EvalInterQueryBuiltinValueCache(rev.cache), rego.EvalExternalCancel(neverCancelled)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
