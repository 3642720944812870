package policy

import (
	"context"
	"fmt"
	"os"
	"strings"
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
		if _, err := rev.decide.Eval(ctx, rego.EvalParsedInput(decideInput(in)), rego.EvalInterQueryBuiltinValueCache(rev.cache), rego.EvalQueryTracer(p)); err != nil {
			t.Fatal(err)
		}
	}
	lines := map[string][]string{}
	for name, src := range rev.src.modules {
		lines[name] = strings.Split(string(src), "\n")
	}
	total := 0
	for _, r := range p.ReportTopNResults(200, []string{"total_time_ns"}) {
		total += r.NumEval
	}
	fmt.Fprintf(os.Stderr, "total evals per decision %.1f\n", float64(total)/float64(len(inputs)))
	for _, r := range p.ReportTopNResults(60, []string{"num_eval"}) {
		src := ""
		if l, ok := lines[r.Location.File]; ok && r.Location.Row-1 < len(l) {
			src = strings.TrimSpace(l[r.Location.Row-1])
		}
		fmt.Fprintf(os.Stderr, "%5.2f evals %5.2f redo %6.1fus %s:%d %s\n", float64(r.NumEval)/float64(len(inputs)), float64(r.NumRedo)/float64(len(inputs)), float64(r.ExprTimeNs)/float64(len(inputs))/1000, r.Location.File, r.Location.Row, src)
	}
}
