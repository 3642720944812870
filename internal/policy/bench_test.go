package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/policies"
)

// benchUsers and benchStatements size the generated RAM data: 10,000 users
// with 10 statements each, mostly with patterns of their own so that nothing
// is shared between users' lookups.
const (
	benchUsers      = 10000
	benchStatements = 10
	benchAccount    = "1234567890123456"
)

// writeBenchData writes a data directory with benchUsers users, each with one
// custom policy of benchStatements statements, and the example org.json.
func writeBenchData(tb testing.TB, dir string) {
	tb.Helper()
	type stmt = map[string]any
	arn := func(region, id string) string {
		return fmt.Sprintf("acs:rds:%s:%s:dbinstance/%s", region, benchAccount, id)
	}
	pols := make(map[string]any, benchUsers)
	users := make(map[string]any, benchUsers)
	groups := []string{"developers", "dba", "security"}
	for i := range benchUsers {
		u := fmt.Sprintf("user%05d", i)
		own := fmt.Sprintf("rm-u%05d-*", i)
		team := fmt.Sprintf("rm-t%03d*", i%100)
		pols[u+"-policy"] = map[string]any{"Version": "1", "Statement": []stmt{
			{"Effect": "Allow", "Action": "rds:Describe*", "Resource": "*"},
			{"Effect": "Allow", "Action": []string{"rds:CreateBackup", "rds:DescribeBackups"}, "Resource": arn("*", team)},
			{"Effect": "Allow", "Action": "ecs:*", "Resource": "*"},
			{"Effect": "Deny", "Action": "rds:DeleteDBInstance", "Resource": "*"},
			{"Effect": "Allow", "Action": "rds:ModifySecurityIps", "Resource": arn("cn-hangzhou", own)},
			{"Effect": "Allow", "Action": "rds:ReleaseInstanceConnection", "Resource": arn("*", own),
				"Condition": map[string]any{"IpAddress": map[string]any{"acs:SourceIp": "10.0.0.0/8"}, "Bool": map[string]any{"acs:SecureTransport": "true"}}},
			{"Effect": "Deny", "Action": "rds:Release*", "Resource": arn("*", fmt.Sprintf("rm-u%05d-prod*", i)),
				"Condition": map[string]any{"Bool": map[string]any{"acs:MFAPresent": "false"}}},
			{"Effect": "Allow", "Action": "rds:ReleaseInstanceConnection", "Resource": arn("cn-hangzhou", fmt.Sprintf("rm-u%05d-legacy", i))},
			{"Effect": "Allow", "NotAction": []string{"rds:Delete*", "rds:Release*"}, "Resource": arn("*", own)},
			{"Effect": "Allow", "Action": "rds:*", "Resource": arn("cn-shanghai", "*"),
				"Condition": map[string]any{"DateLessThan": map[string]any{"acs:CurrentTime": "2030-01-01T00:00:00Z"}}},
		}}
		users[u] = map[string]any{"groups": []string{groups[i%3]}, "policies": []string{u + "-policy"}}
	}
	ram, err := json.Marshal(map[string]any{"account_id": benchAccount, "policies": pols, "users": users})
	if err != nil {
		tb.Fatal(err)
	}
	org, err := policies.FS.ReadFile("examples/org.json")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ram.json"), ram, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "org.json"), org, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// benchInputs returns n decisions over random users and instances: their own
// instance (allowed), their production instance (explicit deny without MFA),
// their legacy instance (allowed by an exact ARN) and another team's
// instance (implicit deny).
func benchInputs(n int) []Input {
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	out := make([]Input, n)
	for k := range out {
		i := rng.IntN(benchUsers)
		var instance string
		switch k % 4 {
		case 0:
			instance = fmt.Sprintf("rm-u%05d-app", i)
		case 1:
			instance = fmt.Sprintf("rm-u%05d-prod1", i)
		case 2:
			instance = fmt.Sprintf("rm-u%05d-legacy", i)
		default:
			instance = fmt.Sprintf("rm-u%05d-app", rng.IntN(benchUsers))
		}
		out[k] = Input{
			Principal: Principal{Subject: fmt.Sprintf("user%05d", i)},
			Request: RequestInput{
				RegionID: "cn-hangzhou", DBInstanceID: instance,
				ConnectionString: instance + ".mysql.rds.aliyuncs.com", NetworkType: "0",
				Justification: "moving the application to the VPC endpoint", Ticket: "OPS-42",
			},
			Context:         Context{SourceIP: "10.1.2.3", CurrentTime: now, SecureTransport: true},
			PendingRequests: k % 3,
		}
	}
	return out
}

func newBenchEngine(tb testing.TB) *Engine { return newBenchEngineWith(tb, Options{}) }

func newBenchEngineWith(tb testing.TB, opts Options) *Engine {
	tb.Helper()
	dir := tb.TempDir()
	writeBenchData(tb, dir)
	opts.Dir = dir
	e, err := New(context.Background(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// BenchmarkDecide measures one decision over the 10,000-user data: the
// Rego as written, with the index answering rdsgate.ram.lookup.
func BenchmarkDecide(b *testing.B) { benchmarkDecide(b, newBenchEngine(b)) }

func benchmarkDecide(b *testing.B, e *Engine) {
	inputs := benchInputs(20000)
	ctx := context.Background()
	for _, in := range inputs { // warm the pattern cache
		if _, err := e.Decide(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := e.Decide(ctx, inputs[i%len(inputs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// latencies runs decide over inputs and returns each call's duration, sorted.
func latencies(tb testing.TB, inputs []Input, decide func(Input) error) []time.Duration {
	tb.Helper()
	out := make([]time.Duration, len(inputs))
	for i, in := range inputs {
		start := time.Now()
		if err := decide(in); err != nil {
			tb.Fatal(err)
		}
		out[i] = time.Since(start)
	}
	slices.Sort(out)
	return out
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	return sorted[int(float64(len(sorted)-1)*p)]
}
