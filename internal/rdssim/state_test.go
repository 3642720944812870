package rdssim_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rdsgate/rdsgate/internal/rdssim"
)

// netInfos returns the connection strings DescribeDBInstanceNetInfo lists.
func netInfos(t *testing.T, b bundle, instance string) []string {
	t.Helper()
	ans := call(t, b, describeNetSpec(instance))
	if ans.status != http.StatusOK {
		t.Fatalf("DescribeDBInstanceNetInfo %s: %d %v", instance, ans.status, ans.body)
	}
	infos := ans.body["DBInstanceNetInfos"].(map[string]any)["DBInstanceNetInfo"].([]any)
	var out []string
	for _, i := range infos {
		m := i.(map[string]any)
		out = append(out, m["IPType"].(string)+" "+m["ConnectionString"].(string))
	}
	return out
}

func attribute(t *testing.T, b bundle, instance string) map[string]any {
	t.Helper()
	ans := call(t, b, signSpec{action: "DescribeDBInstanceAttribute", query: map[string]string{"DBInstanceId": instance}})
	if ans.status != http.StatusOK {
		t.Fatalf("DescribeDBInstanceAttribute %s: %d %v", instance, ans.status, ans.body)
	}
	return ans.body["Items"].(map[string]any)["DBInstanceAttribute"].([]any)[0].(map[string]any)
}

func TestReleaseChangesState(t *testing.T) {
	t.Parallel()
	b := setup(t, 100)

	before := []string{"Public rm-dev.mysql.rds.aliyuncs.com", "Private rm-dev-priv.mysql.rds.aliyuncs.com"}
	if diff := cmp.Diff(before, netInfos(t, b, "rm-dev")); diff != "" {
		t.Fatalf("net info before (-want +got):\n%s", diff)
	}
	if got := attribute(t, b, "rm-dev")["DBInstanceNetType"]; got != "Internet" {
		t.Fatalf("DBInstanceNetType before = %v, want Internet", got)
	}

	ans := call(t, b, releaseSpec("rm-dev", "RM-DEV.mysql.rds.aliyuncs.com", "0"))
	if ans.status != http.StatusOK || len(ans.body) != 1 || !requestIDPattern.MatchString(ans.requestID()) {
		t.Fatalf("release: %d %v, want 200 {RequestId}", ans.status, ans.body)
	}

	after := []string{"Private rm-dev-priv.mysql.rds.aliyuncs.com"}
	if diff := cmp.Diff(after, netInfos(t, b, "rm-dev")); diff != "" {
		t.Fatalf("net info after (-want +got):\n%s", diff)
	}
	attr := attribute(t, b, "rm-dev")
	if attr["DBInstanceNetType"] != "Intranet" || attr["ConnectionString"] != "rm-dev-priv.mysql.rds.aliyuncs.com" {
		t.Fatalf("attribute after release: %v", attr)
	}

	again := call(t, b, releaseSpec("rm-dev", "rm-dev.mysql.rds.aliyuncs.com", "0"))
	if again.status != http.StatusNotFound || again.code() != "Endpoint.NotFound" {
		t.Fatalf("second release: %d %v, want 404 Endpoint.NotFound", again.status, again.body)
	}
	if again.requestID() == ans.requestID() {
		t.Fatalf("request ids repeat: %s", ans.requestID())
	}

	// The Go view agrees, and other instances are untouched.
	for _, inst := range b.srv.Instances() {
		switch inst.ID {
		case "rm-dev":
			if len(inst.Endpoints) != 1 || inst.Endpoints[0].IPType != "Private" {
				t.Errorf("rm-dev endpoints = %+v", inst.Endpoints)
			}
		case "pgm-stage":
			if len(inst.Endpoints) != 1 {
				t.Errorf("pgm-stage endpoints = %+v", inst.Endpoints)
			}
		}
	}

	// The classic-network instance releases with InstanceNetworkType 1.
	if ans := call(t, b, releaseSpec("pgm-stage", "pgm-stage.pg.rds.aliyuncs.com", "1")); ans.status != http.StatusOK {
		t.Fatalf("release classic: %d %v", ans.status, ans.body)
	}
	if got := netInfos(t, b, "pgm-stage"); len(got) != 0 {
		t.Fatalf("pgm-stage after release: %v", got)
	}
}

func TestOperationErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		spec       signSpec
		wantStatus int
		wantCode   string
	}{
		{"missing DBInstanceId", signSpec{action: "ReleaseInstanceConnection", query: map[string]string{"CurrentConnectionString": "x", "InstanceNetworkType": "0"}}, 400, "RequiredParam.NotFound"},
		{"missing CurrentConnectionString", signSpec{action: "ReleaseInstanceConnection", query: map[string]string{"DBInstanceId": "rm-dev", "InstanceNetworkType": "0"}}, 400, "RequiredParam.NotFound"},
		{"missing InstanceNetworkType", signSpec{action: "ReleaseInstanceConnection", query: map[string]string{"DBInstanceId": "rm-dev", "CurrentConnectionString": "rm-dev.mysql.rds.aliyuncs.com"}}, 400, "RequiredParam.NotFound"},
		{"unknown instance", releaseSpec("rm-nope", "rm-nope.mysql.rds.aliyuncs.com", "0"), 400, "InvalidDBInstanceId.NotFound"},
		{"other account's instance", releaseSpec("rm-other", "rm-other.mysql.rds.aliyuncs.com", "0"), 400, "InvalidDBInstanceId.NotFound"},
		{"instance not running", releaseSpec("rm-stopped", "rm-stopped.mysql.rds.aliyuncs.com", "0"), 400, "InvalideStatus.Format"},
		{"classic network type for a VPC instance", releaseSpec("rm-dev", "rm-dev.mysql.rds.aliyuncs.com", "1"), 400, "Parameters.Invalid"},
		{"invalid network type", releaseSpec("rm-dev", "rm-dev.mysql.rds.aliyuncs.com", "VPC"), 400, "Parameters.Invalid"},
		{"private endpoint", releaseSpec("rm-dev", "rm-dev-priv.mysql.rds.aliyuncs.com", "0"), 404, "Endpoint.NotFound"},
		{"unknown endpoint", releaseSpec("rm-dev", "rm-elsewhere.mysql.rds.aliyuncs.com", "0"), 404, "Endpoint.NotFound"},
		{"net info without id", signSpec{action: "DescribeDBInstanceNetInfo", query: map[string]string{}}, 400, "RequiredParam.NotFound"},
		{"net info unknown instance", describeNetSpec("rm-nope"), 400, "InvalidDBInstanceId.NotFound"},
		{"attribute unknown instance", signSpec{action: "DescribeDBInstanceAttribute", query: map[string]string{"DBInstanceId": "rm-nope"}}, 400, "InvalidDBInstanceId.NotFound"},
		{"unknown action", signSpec{action: "DeleteDBInstance", query: map[string]string{"DBInstanceId": "rm-dev"}}, 404, "InvalidAction.NotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, 100)
			ans := call(t, b, tt.spec)
			if ans.status != tt.wantStatus || ans.code() != tt.wantCode {
				t.Fatalf("got %d %q, want %d %q (%v)", ans.status, ans.code(), tt.wantStatus, tt.wantCode, ans.body)
			}
			// Failed calls change nothing.
			if diff := cmp.Diff(setup(t, 100).srv.Instances(), b.srv.Instances()); diff != "" {
				t.Fatalf("state changed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDescribeNetInfoShape(t *testing.T) {
	t.Parallel()
	b := setup(t, 100)
	ans := call(t, b, describeNetSpec("rm-dev"))
	if ans.body["InstanceNetworkType"] != "VPC" {
		t.Fatalf("InstanceNetworkType = %v", ans.body["InstanceNetworkType"])
	}
	infos := ans.body["DBInstanceNetInfos"].(map[string]any)["DBInstanceNetInfo"].([]any)
	pub, priv := infos[0].(map[string]any), infos[1].(map[string]any)
	want := map[string]any{"Port": "3306", "ConnectionStringType": "Normal", "IPAddress": "47.0.0.1", "VPCId": ""}
	for k, v := range want {
		if pub[k] != v {
			t.Errorf("public %s = %v, want %v", k, pub[k], v)
		}
	}
	if priv["VPCId"] != "vpc-1" || priv["VSwitchId"] != "vsw-1" {
		t.Errorf("private endpoint lacks VPC ids: %v", priv)
	}
	if _, ok := pub["SecurityIPGroups"].(map[string]any)["securityIPGroup"]; !ok {
		t.Errorf("SecurityIPGroups.securityIPGroup missing: %v", pub)
	}
}

func TestThrottling(t *testing.T) {
	t.Parallel()
	b := setup(t, 10)
	t0 := b.clock.Now()
	describe := func() apiAnswer { return call(t, b, describeNetSpec("rm-dev")) }

	for i := range 10 {
		if ans := describe(); ans.status != http.StatusOK {
			t.Fatalf("call %d: %d %v", i+1, ans.status, ans.body)
		}
	}
	ans := describe()
	if ans.status != http.StatusBadRequest || ans.code() != "Throttling.User" ||
		ans.body["Message"] != "Request was denied due to user flow control." {
		t.Fatalf("11th call: %d %v, want 400 Throttling.User", ans.status, ans.body)
	}
	if got := ans.header.Get("x-ratelimit-user-api"); !strings.Contains(got, "TimeLeft:1000,") {
		t.Fatalf("x-ratelimit-user-api = %q, want TimeLeft:1000", got)
	}

	// Per operation and per account.
	if ans := call(t, b, signSpec{action: "DescribeDBInstanceAttribute", query: map[string]string{"DBInstanceId": "rm-dev"}}); ans.status != http.StatusOK {
		t.Fatalf("other action throttled: %v", ans.body)
	}
	other := describeNetSpec("rm-dev")
	other.ak, other.secret = otherAK, otherSecret
	if ans := call(t, b, other); ans.status != http.StatusOK {
		t.Fatalf("other account throttled: %v", ans.body)
	}

	// Throttled calls do not count: five more refusals at +500ms ...
	b.clock.Advance(500 * time.Millisecond)
	for range 5 {
		if ans := describe(); ans.code() != "Throttling.User" {
			t.Fatalf("at +500ms: %v", ans.body)
		}
	}
	// ... and at +999ms the window (t0-1ms, t0+999ms] is still full.
	b.clock.Advance(499 * time.Millisecond)
	if ans := describe(); ans.code() != "Throttling.User" {
		t.Fatalf("at +999ms: %v", ans.body)
	}
	// At +1s the first ten leave the window: ten more fit, not fewer.
	b.clock.Advance(time.Millisecond)
	if got := b.clock.Now().Sub(t0); got != time.Second {
		t.Fatalf("clock at %s", got)
	}
	for i := range 10 {
		if ans := describe(); ans.status != http.StatusOK {
			t.Fatalf("at +1s call %d: %v", i+1, ans.body)
		}
	}
	if ans := describe(); ans.code() != "Throttling.User" {
		t.Fatalf("at +1s 11th: %v", ans.body)
	}
}

func TestThrottlingSlidingWindow(t *testing.T) {
	t.Parallel()
	// Fixed one-second buckets would admit ten calls at +1.0s; a sliding
	// window admits only five, because five were made at +0.9s.
	b := setup(t, 10)
	describe := func() apiAnswer { return call(t, b, describeNetSpec("rm-dev")) }
	for range 5 {
		describe()
	}
	b.clock.Advance(900 * time.Millisecond)
	for range 5 {
		if ans := describe(); ans.status != http.StatusOK {
			t.Fatalf("at +0.9s: %v", ans.body)
		}
	}
	b.clock.Advance(100 * time.Millisecond)
	for i := range 5 {
		if ans := describe(); ans.status != http.StatusOK {
			t.Fatalf("at +1.0s call %d: %v", i+1, ans.body)
		}
	}
	ans := describe()
	if ans.code() != "Throttling.User" {
		t.Fatalf("at +1.0s 6th call: %v, want Throttling.User", ans.body)
	}
	if got := ans.header.Get("x-ratelimit-user-api"); !strings.Contains(got, "TimeLeft:900,") {
		t.Fatalf("x-ratelimit-user-api = %q, want TimeLeft:900", got)
	}
}

func TestThrottlingLongerWindow(t *testing.T) {
	t.Parallel()
	// One call per 3 s: the second call 2.5 s later is throttled with the
	// time left, the third at +3 s is admitted.
	b := setupWindow(t, 1, 3*time.Second)
	describe := func() apiAnswer { return call(t, b, describeNetSpec("rm-dev")) }
	if ans := describe(); ans.status != http.StatusOK {
		t.Fatalf("first call: %v", ans.body)
	}
	b.clock.Advance(2500 * time.Millisecond)
	ans := describe()
	if ans.code() != "Throttling.User" || !strings.Contains(ans.header.Get("x-ratelimit-user-api"), "TimeLeft:500,") {
		t.Fatalf("at +2.5s: %v %q, want Throttling.User with TimeLeft:500", ans.body, ans.header.Get("x-ratelimit-user-api"))
	}
	b.clock.Advance(500 * time.Millisecond)
	if ans := describe(); ans.status != http.StatusOK {
		t.Fatalf("at +3s: %v", ans.body)
	}
}

func TestLoadInstances(t *testing.T) {
	t.Parallel()
	insts, err := rdssim.LoadInstances(filepath.Join("testdata", "instances.json"))
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]rdssim.Instance{}
	for _, i := range insts {
		byID[i.ID] = i
	}
	for _, id := range []string{"rm-bp1devexample01", "rm-bp1prodexample1", "pgm-bp1stagexample", "rm-bp1demo00000001", "rm-bp1demo00000020"} {
		if _, ok := byID[id]; !ok {
			t.Errorf("instance %s missing", id)
		}
	}
	dev := byID["rm-bp1devexample01"]
	if dev.NetworkType != "VPC" || dev.Engine != "MySQL" || len(dev.Endpoints) != 2 ||
		dev.Endpoints[0].ConnectionString != "rm-bp1devexample01.mysql.rds.aliyuncs.com" ||
		dev.Endpoints[1].ConnectionString != "rm-bp1devexample01-priv.mysql.rds.aliyuncs.com" {
		t.Errorf("dev instance = %+v", dev)
	}
	if stage := byID["pgm-bp1stagexample"]; stage.NetworkType != "Classic" || stage.Engine != "PostgreSQL" {
		t.Errorf("stage instance = %+v", stage)
	}

	bad := []struct{ name, body, want string }{
		{"unknown field", `{"instances":[{"id":"a","network_type":"VPC","color":"red"}]}`, "unknown field"},
		{"no id", `{"instances":[{"network_type":"VPC"}]}`, "id is required"},
		{"bad network", `{"instances":[{"id":"a","network_type":"LAN"}]}`, "network_type"},
		{"bad ip type", `{"instances":[{"id":"a","network_type":"VPC","endpoints":[{"connection_string":"x","ip_type":"Elastic"}]}]}`, "ip_type"},
		{"duplicate id", `{"instances":[{"id":"a","network_type":"VPC"},{"id":"a","network_type":"VPC"}]}`, "duplicate id"},
		{"not json", `instances: []`, "decode json"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "state.json")
			if err := os.WriteFile(path, []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := rdssim.LoadInstances(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestNewValidation(t *testing.T) {
	t.Parallel()
	good := rdssim.Account{AccessKeyID: "ak", AccessKeySecret: "s", AccountID: "1"}
	tests := []struct {
		name string
		cfg  rdssim.Config
	}{
		{"no accounts", rdssim.Config{}},
		{"account without secret", rdssim.Config{Accounts: []rdssim.Account{{AccessKeyID: "ak", AccountID: "1"}}}},
		{"duplicate key", rdssim.Config{Accounts: []rdssim.Account{good, good}}},
		{"negative rate", rdssim.Config{Accounts: []rdssim.Account{good}, RatePerSecond: -1}},
		{"bad instance", rdssim.Config{Accounts: []rdssim.Account{good}, Instances: []rdssim.Instance{{ID: "x"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := rdssim.New(tt.cfg); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}
