package policy

import (
	"context"
	"fmt"
	"testing"
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
	for _, q := range []string{"data.rdsgate.ram.user", "data.ram.users[input.principal.subject]", "input.principal.subject"} {
		pq, err := rego.New(rego.Query(q), rego.Compiler(c), rego.Store(store)).PrepareForEval(ctx)
		if err != nil { t.Fatal(err) }
		start := time.Now()
		for range 10 { for _, in := range inputs {
			if _, err := pq.Eval(ctx, rego.EvalParsedInput(decideInput(in))); err != nil { t.Fatal(err) } }
		}
		fmt.Printf("%-40s %v\n", q, time.Since(start)/time.Duration(10*len(inputs)))
	}
}
