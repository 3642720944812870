package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gobwas/glob"
	"github.com/google/go-cmp/cmp"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// TestWildcardIsGlobMatch checks the compiled wildcards against gobwas/glob
// on the escaped pattern, which glob.match in rdsgate.ram's lookup runs.
func TestWildcardIsGlobMatch(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 11))
	alphabet := []rune("ab:/*?[]{},!-\\é\ufffdZ") // Z: an invalid byte in a string
	word := func(n int, wild bool) string {
		var b strings.Builder
		for range rng.IntN(n + 1) {
			r := alphabet[rng.IntN(len(alphabet))]
			switch {
			case !wild && (r == '*' || r == '?'):
				r = 'a'
			case !wild && r == 'Z':
				b.WriteByte(0xff)
				continue
			}
			b.WriteRune(r)
		}
		return b.String()
	}
	fixed := [][2]string{
		{"*", ""}, {"?", ""}, {"?", "é"}, {"a*", "a"}, {"*a", "ba"}, {"a*b*c", "aXbYc"}, {"a*b*c", "acb"},
		{"acs:rds:*:1:dbinstance/rm-1", "acs:rds:cn:x:1:dbinstance/rm-1"}, {"**", "x"}, {"*?", ""}, {"a?c", "abbc"},
		{"[a]", "[a]"}, {"{a,b}", "a"}, {"\\", "\\"},
		// U+FFFD is a character like any other; an invalid byte in the
		// string is not it.
		{"rm-\ufffd?", "rm-\xffa"}, {"\ufffd*x", "\xffx"}, {"a?", "a\xff"}, {"*\ufffd", "\ufffd"}, {"?", "\xff"},
	}
	for range 20000 {
		fixed = append(fixed, [2]string{word(8, true), word(10, false)})
	}
	for _, c := range fixed {
		g, err := glob.Compile(globPattern(c[0]))
		if err != nil {
			t.Fatalf("compile %q: %v", c[0], err)
		}
		w := compileWildcard(c[0])
		if got, want := w.match(c[1]), g.Match(c[1]); got != want {
			t.Errorf("%q matches %q: %v, glob.match says %v", c[0], c[1], got, want)
		}
	}
}

// referenceQuery prepares query over e's full data document (Engine.Data)
// without the engine's index: the policies as an OPA server evaluates them.
func referenceQuery(t testing.TB, e *Engine, query string) rego.PreparedEvalQuery {
	t.Helper()
	data, err := e.Data()
	if err != nil {
		t.Fatal(err)
	}
	compiler, err := compileModules(e.Modules(), false)
	if err != nil {
		t.Fatal(err)
	}
	pq, err := rego.New(rego.Query(query), rego.Compiler(compiler), rego.Store(inmem.NewFromObject(data))).
		PrepareForEval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return pq
}

// TestLookupMatchesRego checks the index against rdsgate.ram's own lookup.
func TestLookupMatchesRego(t *testing.T) {
	t.Parallel()
	e := newLookupEngine(t)
	ref := referenceQuery(t, e, "x := data.rdsgate.ram.lookup(input.account, input.subject, input.arn)")
	index := e.cur.Load().index
	ctx := context.Background()
	subjects := append(e.Users(), "nobody")
	for _, account := range []string{"1234567890123456", "999", ""} {
		for _, subject := range subjects {
			for _, instance := range []string{"rm-1", "rm-2", "rm-prod-1", "rm-u1-app", "RM-1", "rm-bp1devexample01", "rm-bp1prodexample1", ""} {
				for _, region := range []string{"cn-hangzhou", "cn-shanghai"} {
					arn := fmt.Sprintf("acs:rds:%s:1234567890123456:dbinstance/%s", region, instance)
					rs, err := ref.Eval(ctx, rego.EvalInput(map[string]any{"account": account, "subject": subject, "arn": arn}))
					if err != nil || len(rs) != 1 {
						t.Fatalf("reference lookup: %v %v", rs, err)
					}
					want, err := ast.InterfaceToValue(rs[0].Bindings["x"])
					if err != nil {
						t.Fatal(err)
					}
					got, err := index.lookup(rego.BuiltinContext{}, ast.StringTerm(account), ast.StringTerm(subject), ast.StringTerm(arn))
					if err != nil {
						t.Fatal(err)
					}
					if ast.Compare(got.Value, want) != 0 {
						t.Errorf("lookup(%s, %s, %s):\nindex %v\nrego  %v", account, subject, arn, got, want)
					}
				}
			}
		}
	}
}

// TestEngineMatchesReferencePolicy checks that the engine decides as the
// policies do when evaluated as they are written, with the whole data.
func TestEngineMatchesReferencePolicy(t *testing.T) {
	t.Parallel()
	for name, e := range map[string]*Engine{"examples": newEngine(t), "generated": newLookupEngine(t)} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			checkMatchesReference(t, e, lookupInputs(e.Users()))
		})
	}
}

// lookupInputs are requests of every user (and an unknown one) on a mix of
// instances, contexts and request fields.
func lookupInputs(users []string) []Input {
	var out []Input
	ctxs := []Context{
		{SourceIP: "10.1.2.3", CurrentTime: demoTime, SecureTransport: true},
		{SourceIP: "203.0.113.10", CurrentTime: demoTime, SecureTransport: true, MFAPresent: true},
		{CurrentTime: demoTime.AddDate(4, 0, 0)},
	}
	for i, u := range append(users, "zed") {
		for j, instance := range []string{"rm-1", "rm-prod-1", "rm-u1-app", "rm-bp1devexample01", "rm-bp1prodexample1", "rm-bp1demo00000017", "pgm-bp1stagexample"} {
			in := request(u, instance)
			in.Context = ctxs[(i+j)%len(ctxs)]
			if (i+j)%5 == 0 {
				in.Request.Justification = "short"
			}
			out = append(out, in)
		}
	}
	return out
}

// newLookupEngine is an engine on generated data: users with statements of
// every kind (exact, wildcard and NotAction actions, several resources,
// conditions known and unknown) in shared and own policies.
func newLookupEngine(t *testing.T) *Engine {
	t.Helper()
	ram := `{"account_id":"1234567890123456",
	"policies":{
	  "Shared":{"Version":"1","Statement":[
	    {"Effect":"Allow","Action":["rds:Describe*","rds:ReleaseInstanceConnection"],"Resource":["acs:rds:*:*:dbinstance/rm-?","acs:rds:cn-hangzhou:*:dbinstance/*"]},
	    {"Effect":"Deny","Action":"rds:Release*","Resource":"*prod*","Condition":{"Bool":{"acs:MFAPresent":"false"}}},
	    {"Effect":"Allow","NotAction":"ecs:*","Resource":"acs:rds:cn-shanghai:*","Condition":{"IpAddress":{"acs:SourceIp":"10.0.0.0/8"}}}]},
	  "Own":{"Version":"1","Statement":[
	    {"Effect":"Deny","NotAction":["rds:Release*"],"Resource":"*"},
	    {"Effect":"Allow","Action":"rds:ReleaseInstanceConnectio?","Resource":"acs:rds:*:1234567890123456:dbinstance/rm-u1-*","Condition":{"DateLessThan":{"acs:CurrentTime":"2028-01-01T00:00:00Z"},"StringEqualsAnyCase":{"acs:SourceIp":"x"}}},
	    {"Effect":"Allow","Action":"*","Resource":["acs:rds:cn-hangzhou:1234567890123456:dbinstance/RM-1","*rm-1"],"Condition":{"StringEquals":{"acs:SourceVpc":"v"}}},
	    {"Effect":"Deny","Action":"rds:releaseinstanceconnection","Resource":"acs:rds:cn-hangzhou:1234567890123456:dbinstance/rm-prod-1","Condition":{"NotIpAddress":{"acs:SourceIp":"203.0.113.0/24"}}}]}},
	"groups":{"g":{"policies":["Shared"]}},
	"users":{"u1":{"groups":["g"],"policies":["Own"]},"u2":{"groups":["g"]},"u3":{"policies":["Own","AliyunRDSReadOnlyAccess"]},"u4":{"policies":["AliyunRDSFullAccess","Own"]}}}`
	e, err := New(context.Background(), Options{Dir: writeData(t, ram, exampleOrg(t))})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// checkMatchesReference decides every input with e and with the policies
// evaluated as written over e's full data (referenceQuery: no index)
// and fails on any difference. It returns the engine's decisions.
func checkMatchesReference(t *testing.T, e *Engine, inputs []Input) []Decision {
	t.Helper()
	ref := referenceQuery(t, e, decideQuery)
	ctx := context.Background()
	out := make([]Decision, 0, len(inputs))
	for _, in := range inputs {
		d, err := e.Decide(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := ref.Eval(ctx, rego.EvalParsedInput(decideInput(in)), rego.EvalGenerateJSON(keepAST))
		if err != nil {
			t.Fatal(err)
		}
		want, err := decisionOf(rs)
		if err != nil {
			t.Fatal(err)
		}
		got := d
		got.Revision, got.DecisionID, got.Path, got.Timestamp = "", "", "", want.Timestamp
		if diff := cmp.Diff(want, got); diff != "" {
			in, _ := json.Marshal(in)
			t.Fatalf("engine differs from the policy as written on %s (-policy +engine):\n%s", in, diff)
		}
		out = append(out, d)
	}
	return out
}
