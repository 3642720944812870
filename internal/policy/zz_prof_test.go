package policy

import (
	"context"
	"fmt"
	"testing"

	"github.com/open-policy-agent/opa/v1/profiler"
	"github.com/open-policy-agent/opa/v1/rego"
)

func TestZZProfile(t *testing.T) {
	e := newBenchEngine(t)
	inputs := benchInputs(4000)
	ctx := context.Background()
	rev := e.cur.Load()
	p := profiler.New()
	for _, in := range inputs {
		in := in
		if _, err := rev.decide.Eval(ctx, rego.EvalParsedInput(decideInput(in)), rego.EvalInterQueryBuiltinValueCache(rev.cache), rego.EvalQueryTracer(p)); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range p.ReportTopNResults(40, []string{"total_time_ns"}) {
		fmt.Printf("%8.1fus %6d evals %s:%d\n", float64(r.ExprTimeNs)/float64(len(inputs))/1000, r.NumEval/len(inputs), r.Location.File, r.Location.Row)
	}
}
