package policy

import (
	"context"
	"fmt"
	"os"
	"sort"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

type countTracer struct {
	ops   map[topdown.Op]int
	enter map[string]int
}

func (c *countTracer) Enabled() bool { return true }
func (c *countTracer) Config() topdown.TraceConfig {
	return topdown.TraceConfig{}
}
func (c *countTracer) TraceEvent(ev topdown.Event) {
	c.ops[ev.Op]++
	if ev.Op == topdown.EnterOp || ev.Op == topdown.IndexOp || ev.Op == topdown.EvalOp {
		k := string(ev.Op)
		if ev.Location != nil {
			k += fmt.Sprintf(" %s:%d", ev.Location.File, ev.Location.Row)
		}
		c.enter[k]++
	}
}

func TestZZCount(t *testing.T) {
	e := newBenchEngine(t)
	n := 400
	inputs := benchInputs(n)
	ctx := context.Background()
	rev := e.cur.Load()
	ct := &countTracer{ops: map[topdown.Op]int{}, enter: map[string]int{}}
	for _, in := range inputs {
		if _, err := rev.decide.Eval(ctx, rego.EvalParsedInput(decideInput(in)), rego.EvalInterQueryBuiltinValueCache(rev.cache), rego.EvalQueryTracer(ct)); err != nil {
			t.Fatal(err)
		}
	}
	for op, k := range ct.ops {
		fmt.Fprintf(os.Stderr, "%-10s %6.1f\n", op, float64(k)/float64(n))
	}
	type kv struct {
		k string
		v int
	}
	var l []kv
	for k, v := range ct.enter {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v })
	for _, x := range l[:min(90, len(l))] {
		fmt.Fprintf(os.Stderr, "%6.2f %s\n", float64(x.v)/float64(n), x.k)
	}
}
