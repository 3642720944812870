package policy

import (
	"context"
	"fmt"
	"testing"
	"runtime"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

func TestProbe(t *testing.T) {
	dir := t.TempDir()
	writeBenchData(t, dir)
	s, err := readSources("", dir)
	if err != nil { t.Fatal(err) }
	data, _, err := compiledData(s)
	if err != nil { t.Fatal(err) }
	v, _ := ast.InterfaceToValue(data)
	store := inmem.NewFromASTObject(v.(ast.Object))
	c, err := compileModules(s.modules)
	if err != nil { t.Fatal(err) }
	inputs := benchInputs(2000)
	ctx := context.Background()
	for _, q := range []string{"input.principal.subject", "data.rdsgate.ram.user", "data.rdsgate.ram.denies", "data.rdsgate.ram.allows", "data.rdsgate.ram.unsupported", "data.rdsgate.ram.result", "data.rdsgate.ram.reasons", "data.rdsgate.org.environment", "data.rdsgate.org.deny", "data.rdsgate.org.notes", "data.rdsgate.org.requirements", "data.rdsgate.release.decision"} {
		pq, err := rego.New(rego.Query(q), rego.Compiler(c), rego.Store(store)).PrepareForEval(ctx)
		if err != nil { t.Fatal(err) }
		start := time.Now()
		for range 10 { for _, in := range inputs {
			if _, err := pq.Eval(ctx, rego.EvalParsedInput(decideInput(in))); err != nil { t.Fatal(err) } }
		}
		fmt.Printf("%-40s %v\n", q, time.Since(start)/time.Duration(10*len(inputs)))
	}
}

func TestProbeLatency(t *testing.T) {
	e := newBenchEngine(t)
	inputs := benchInputs(20000)
	ctx := context.Background()
	for _, in := range inputs {
		e.Decide(ctx, in)
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	fmt.Println("heap", ms.HeapAlloc>>20, "MiB; gc", ms.NumGC)
	l := latencies(t, inputs, func(in Input) error { _, err := e.Decide(ctx, in); return err })
	runtime.ReadMemStats(&ms)
	fmt.Println("heap", ms.HeapAlloc>>20, "MiB; gc", ms.NumGC, "pause", time.Duration(ms.PauseTotalNs))
	fmt.Println("p50", percentile(l, 0.5), "p90", percentile(l, 0.9), "p99", percentile(l, 0.99))
}

func BenchmarkProbeDecide(b *testing.B) {
	e := newBenchEngine(b)
	inputs := benchInputs(2000)
	ctx := context.Background()
	for _, in := range inputs {
		e.Decide(ctx, in)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.Decide(ctx, inputs[i%len(inputs)])
	}
}
