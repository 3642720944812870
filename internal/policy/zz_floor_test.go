package policy

import (
	"context"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

func BenchmarkFloor(b *testing.B) {
	for _, tc := range []struct{ name, mod, q string }{
		{"const", `package x
d := {"allow": true}`, "data.x.d"},
		{"input", `package x
d := {"allow": input.a == 1}`, "data.x.d"},
		{"2rules", `package x
a := input.a == 1
c := input.b
d := {"allow": a, "c": c}`, "data.x.d"},
		{"1rule-sprintf", `package x
d := {"allow": true, "e": sprintf("%s x", [input.b])}`, "data.x.d"},
		{"1rule-concat", `package x
d := {"allow": true, "e": concat("", [input.b, " x"])}`, "data.x.d"},
		{"1rule-glob", `package x
d := {"allow": glob.match("z*", null, input.b)}`, "data.x.d"},
		{"1rule-compr", `package x
d := {"allow": [x | some x in input.l; x > 1]}`, "data.x.d"},
		{"fn-const", `package x
f("a", y) := y
f("b", y) := 2
d := {"allow": f("a", 1)}`, "data.x.d"},
		{"else", `package x
v := 1 if { input.a == 2 } else := 2 if { input.a == 3 } else := 3
d := {"allow": v}`, "data.x.d"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			pq, err := rego.New(rego.Query(tc.q), rego.Module("x.rego", tc.mod), rego.Store(inmem.NewFromObject(map[string]any{}))).PrepareForEval(ctx)
			if err != nil {
				b.Fatal(err)
			}
			in := ast.NewObject(ast.Item(ast.StringTerm("a"), ast.IntNumberTerm(1)), ast.Item(ast.StringTerm("b"), ast.StringTerm("zz")),
				ast.Item(ast.StringTerm("l"), ast.ArrayTerm(ast.IntNumberTerm(1), ast.IntNumberTerm(2), ast.IntNumberTerm(3))))
			b.ReportAllocs()
			for b.Loop() {
				rs, err := pq.Eval(ctx, rego.EvalParsedInput(in), rego.EvalExternalCancel(neverCancelled))
				if err != nil || len(rs) != 1 {
					b.Fatal(err)
				}
			}
		})
	}
}
