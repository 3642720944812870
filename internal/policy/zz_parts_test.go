package policy

import (
	"os"
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
	data, ramd, err := compiledData(rev.src)
	if err != nil {
		b.Fatal(err)
	}
	v, _ := ast.InterfaceToValue(data)
	store := inmem.NewFromASTObject(v.(ast.Object))
	mods := map[string][]byte{"zz.rego": []byte(zzModule)}
	for k, v := range rev.src.modules {
		mods[k] = v
	}
	compiler, err := compileModules(mods)
	if err != nil {
		b.Fatal(err)
	}
	inputs := benchInputs(20000)
	parsed := make([]ast.Value, len(inputs))
	for i, in := range inputs {
		parsed[i] = decideInput(in)
	}
	ctx := context.Background()
	for _, q := range []string{"x = count(data.rdsgate.ram.lookup(input.principal.subject, data.rdsgate.ram.resource))"} {
		b.Run(q, func(b *testing.B) {
			pq, err := rego.New(rego.Query(q+" with "+lookupRef+" as "+lookupBuiltin), rego.Compiler(compiler), rego.Store(store), rego.Function2(lookupDecl, ramd.index.lookup)).PrepareForEval(ctx)
			nm := metrics.NoOp()
			if err != nil {
				b.Fatal(err)
			}
			for i := range parsed {
				pq.Eval(ctx, rego.EvalParsedInput(parsed[i]), rego.EvalInterQueryBuiltinValueCache(rev.cache), rego.EvalExternalCancel(neverCancelled), rego.EvalMetrics(nm), rego.EvalRuleIndexing(os.Getenv("ZZIDX") != "off"), rego.EvalEarlyExit(os.Getenv("ZZEE") != "off"))
			}
			b.ReportAllocs()
			i := 0
			c := startCPU()
			defer c.report(b)
			for b.Loop() {
				if _, err := pq.Eval(ctx, rego.EvalParsedInput(parsed[i%len(parsed)]), rego.EvalInterQueryBuiltinValueCache(rev.cache), rego.EvalExternalCancel(neverCancelled), rego.EvalMetrics(nm), rego.EvalRuleIndexing(os.Getenv("ZZIDX") != "off"), rego.EvalEarlyExit(os.Getenv("ZZEE") != "off")); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

const zzModule = `package zz

import data.rdsgate.ram

c0 := ram.user.statements

c1 := [st | some st in ram.user.statements]

c2 := [st | some st in ram.user.statements; some p in st.resources]

c3 := [st | some st in ram.user.statements; some p in st.resources; glob.match(p, null, ram.resource)]

c4 := [st | some st in ram.user.statements; some p in st.resources; glob.match(p, null, ram.resource); some a in st.actions; glob.match(a, null, ram.action)]
`
