package policy

import (
	"context"
	"os"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

func TestZZTrace(t *testing.T) {
	e := newBenchEngine(t)
	inputs := benchInputs(4)
	ctx := context.Background()
	rev := e.cur.Load()
	bt := topdown.NewBufferTracer()
	if _, err := rev.decide.Eval(ctx, rego.EvalParsedInput(decideInput(inputs[0])), rego.EvalInterQueryBuiltinValueCache(rev.cache), rego.EvalQueryTracer(bt)); err != nil {
		t.Fatal(err)
	}
	topdown.PrettyTraceWithLocation(os.Stderr, *bt)
}
