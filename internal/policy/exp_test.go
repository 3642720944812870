package policy

import (
	"context"
	"fmt"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/util"
)

func TestExp(t *testing.T) {
	ctx := context.Background()
	var data map[string]any
	util.UnmarshalJSON([]byte(`{"sts": [
		{"actions": {"rds:releaseinstanceconnection": true}, "resources": ["acs:rds:*:1:dbinstance/rm-u1-*"]},
		{"actions": {"rds:releaseinstanceconnection": true}, "resources": ["acs:rds:*:1:dbinstance/rm-u1-prod*"]},
		{"actions": {"rds:releaseinstanceconnection": true}, "resources": ["acs:rds:cn:1:dbinstance/rm-u1-legacy"]},
		{"action_globs": ["rds:*"], "resources": ["acs:rds:cn-shanghai:1:dbinstance/*"]}
	]}`), &data)
	v, _ := ast.InterfaceToValue(data)
	store := inmem.NewFromASTObject(v.(ast.Object))
	mod := `package x
action := "rds:releaseinstanceconnection"
resource := "acs:rds:cn:1:dbinstance/rm-u1-app"
fn := [st | some st in data.sts; am(st); rm(st)]
am(st) if st.actions[action]
am(st) if { some p in st.action_globs; glob.match(p, null, action) }
rm(st) if { some p in st.resources; glob.match(p, null, resource) }
inline := [st | some st in data.sts; st.actions[action]; some p in st.resources; glob.match(p, null, resource)]
inline_noglob := [st | some st in data.sts; st.actions[action]]
one_glob := glob.match("acs:rds:*:1:dbinstance/rm-u1-*", null, resource)
two_glob := [glob.match("acs:rds:*:1:dbinstance/rm-u1-*", null, resource), glob.match("acs:rds:*:1:dbinstance/rm-u2-*", null, resource)]
sp := sprintf("RAM: allowed by policy %s statement %d", ["abc", 1])
sp2 := [sprintf("RAM: allowed by policy %s statement %d", ["abc", 1]), sprintf("RAM: allowed by policy %s statement %d", ["abcd", 1])]
local := [st | x := data.sts; some st in x; st.actions[action]]
local2 := [st | some st in sts; st.actions[action]]
sts := data.sts
local3 := [i | some i in [1,2,3,4]]
r1 := 1
r2 := r1 + 1
r3 := r2 + 1
r4 := r3 + 1
r5 := r4 + 1
r6 := r5 + 1
r7 := r6 + 1
r8 := r7 + 1
r9 := r8 + 1
r10 := r9 + 1
f(x) := x + 1
fc := f(f(f(f(f(f(f(f(f(f(1))))))))))
ex := y if { y := 1+1; z := y + 1; w := z + 1; v := w + 1 }
cc := concat("", ["acs:rds:", "cn", ":", "1", ":dbinstance/", "x"])
`
	for _, q := range []string{"true", "data.x.action", "data.x.fn", "data.x.inline", "data.x.inline_noglob", "data.x.one_glob", "data.x.two_glob", "data.x.sp", "data.x.sp2", "data.x.cc", "data.x.local", "data.x.local2", "data.x.local3", "data.sts", "data.x.r1", "data.x.r10", "data.x.fc", "data.x.ex"} {
		pq, err := rego.New(rego.Query(q), rego.Module("x.rego", mod), rego.Store(store)).PrepareForEval(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n := testing.AllocsPerRun(200, func() {
			pq.Eval(ctx, rego.EvalExternalCancel(neverCancelled))
		})
		fmt.Printf("%-25s %4.0f\n", q, n)
	}
}
