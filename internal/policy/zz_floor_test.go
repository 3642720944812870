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
		{"10exprs", `package x
d := {"allow": j} if {
	a := input.a + 1
	b := a + 1
	c := b + 1
	d := c + 1
	e := d + 1
	f := e + 1
	g := f + 1
	h := g + 1
	i := h + 1
	j := i + 1
}`, "data.x.d"},
		{"10rules", `package x
a := input.a + 1
b := a + 1
c := b + 1
d1 := c + 1
e := d1 + 1
f := e + 1
g := f + 1
h := g + 1
i := h + 1
j := i + 1
d := {"allow": j}`, "data.x.d"},
		{"10fn", `package x
f(x) := x + 1
d := {"allow": f(f(f(f(f(f(f(f(f(f(input.a))))))))))}`, "data.x.d"},
		{"10fn-idx", `package x
f("a", x) := x + 1
f("b", x) := x + 2
d := {"allow": f("a", f("a", f("a", f("a", f("a", f("a", f("a", f("a", f("a", f("a", input.a))))))))))}`, "data.x.d"},
		{"compr10", `package x
d := {"allow": [x | some x in input.l; x > 1]}`, "data.x.d"},
		{"10sprintf", `package x
d := {"allow": [sprintf("%s %d", ["a", 1]),sprintf("%s %d", ["a", 1]),sprintf("%s %d", ["a", 1]),sprintf("%s %d", ["a", 1]),sprintf("%s %d", ["a", 1]),sprintf("%s %d", ["a", 1]),sprintf("%s %d", ["a", 1]),sprintf("%s %d", ["a", 1]),sprintf("%s %d", ["a", input.a]),sprintf("%s %d", ["a", input.a])]}`, "data.x.d"},
		{"10glob", `package x
d := {"allow": [glob.match("a*", null, input.b),glob.match("a*", null, input.b),glob.match("a*", null, input.b),glob.match("a*", null, input.b),glob.match("a*", null, input.b),glob.match("a*", null, input.b),glob.match("a*", null, input.b),glob.match("a*", null, input.b),glob.match("a*", null, input.b),glob.match("a*", null, input.b)]}`, "data.x.d"},
		{"10else", `package x
a := 1 if input.a == 5 else := 2
b := 1 if input.a == 5 else := 2
c := 1 if input.a == 5 else := 2
d1 := 1 if input.a == 5 else := 2
e := 1 if input.a == 5 else := 2
f := 1 if input.a == 5 else := 2
g := 1 if input.a == 5 else := 2
h := 1 if input.a == 5 else := 2
i := 1 if input.a == 5 else := 2
j := 1 if input.a == 5 else := 2
d := {"allow": [a,b,c,d1,e,f,g,h,i,j]}`, "data.x.d"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			pq, err := rego.New(rego.Query(tc.q), rego.Module("x.rego", tc.mod), rego.Store(inmem.NewFromObject(map[string]any{}))).PrepareForEval(ctx)
			if err != nil {
				b.Fatal(err)
			}
			l := make([]*ast.Term, 10)
			for i := range l {
				l[i] = ast.IntNumberTerm(i)
			}
			in := ast.NewObject(ast.Item(ast.StringTerm("a"), ast.IntNumberTerm(1)), ast.Item(ast.StringTerm("b"), ast.StringTerm("zz")),
				ast.Item(ast.StringTerm("l"), ast.ArrayTerm(l...)))
			b.ReportAllocs()
			c := startCPU()
			defer c.report(b)
			for b.Loop() {
				rs, err := pq.Eval(ctx, rego.EvalParsedInput(in), rego.EvalExternalCancel(neverCancelled))
				if err != nil || len(rs) != 1 {
					b.Fatal(err)
				}
			}
		})
	}
}
