package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/internal/rdssim"
	"github.com/rdsgate/rdsgate/internal/rdssim/simtest"
	"github.com/rdsgate/rdsgate/internal/request"
)

// fleetEnv serves a simulated fleet of 2 accounts × 2 regions × 5
// instances over TLS (STS on the same port) with a CA of its own, and
// points serve's configuration at it: accounts.json in a policy data
// directory, the endpoints, the CA file, the base keys. extra accounts are
// listed in accounts.json but unknown to STS.
func fleetEnv(t *testing.T, extra ...string) *rdssim.Server {
	t.Helper()
	regions := []string{"cn-hangzhou", "cn-shanghai"}
	state, err := rdssim.GenerateFleet(rdssim.FleetSpec{Accounts: 2, Regions: regions, PerRegion: 5, Roles: []string{"rdsgate-gateway"}})
	if err != nil {
		t.Fatal(err)
	}
	const ak, secret = "LTAIfleetcli000000000001", "fleet-cli-secret"
	sim, err := rdssim.New(rdssim.Config{
		Accounts:      []rdssim.Account{{AccessKeyID: ak, AccessKeySecret: secret, AccountID: "1999999999999999"}},
		Instances:     state.Instances,
		Roles:         state.RoleMap(),
		RatePerSecond: 50,
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := simtest.Start(t, sim)

	dir := t.TempDir()
	for _, f := range []string{"ram.json", "org.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "policies", "examples", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	accounts := map[string]any{}
	for _, id := range append([]string{rdssim.FleetAccountID(1), rdssim.FleetAccountID(2)}, extra...) {
		accounts[id] = map[string]any{"name": "acct " + id, "role_arn": "acs:ram::" + id + ":role/rdsgate-gateway", "regions": regions}
	}
	b, _ := json.Marshal(map[string]any{"accounts": accounts})
	if err := os.WriteFile(filepath.Join(dir, "accounts.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "sim-ca.pem")
	if err := os.WriteFile(caFile, sim.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"DATABASE_URL":                    "", // the in-process limiter
		"ALIBABA_CLOUD_ACCESS_KEY_ID":     ak,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret,
		"RDSGATE_POLICY_DATA":             dir,
		"RDSGATE_RDS_ENDPOINT":            addr,
		"RDSGATE_RDS_PROTOCOL":            "https",
		"RDSGATE_STS_ENDPOINT":            addr,
		"RDSGATE_CA_FILE":                 caFile,
		"RDSGATE_RDS_DESCRIBE_RATE":       "50",
		"RDSGATE_RDS_LIST_RATE":           "50",
		"RDSGATE_ACCOUNT_ID":              "",
	} {
		t.Setenv(k, v)
	}
	return sim
}

// TestCLIFleetScan runs `rdsgate fleet scan` against a simulated fleet
// reached over TLS with RDSGATE_CA_FILE: its JSON Lines are exactly the
// public endpoints, each object exactly a bulk request's target.
func TestCLIFleetScan(t *testing.T) {
	sim := fleetEnv(t)
	out, errOut, err := rdsgate(t, "fleet", "scan")
	if err != nil {
		t.Fatalf("fleet scan: %v\n%s", err, errOut)
	}
	var got []request.Target
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var keys map[string]any
		if err := json.Unmarshal([]byte(line), &keys); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if len(keys) != 5 {
			t.Fatalf("line %q: want exactly region_id, db_instance_id, connection_string, network_type, account_id", line)
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		var tg request.Target
		if err := dec.Decode(&tg); err != nil {
			t.Fatal(err)
		}
		got = append(got, tg)
	}
	// `jq -s .` of the output: one array of targets.
	var slurped []request.Target
	if err := json.Unmarshal([]byte("["+strings.Join(strings.Split(strings.TrimSpace(out), "\n"), ",")+"]"), &slurped); err != nil || len(slurped) != len(got) {
		t.Fatalf("slurped: %v", err)
	}
	var want []request.Target
	for _, in := range sim.Instances() {
		want = append(want, request.Target{RegionID: in.RegionID, DBInstanceID: in.ID,
			ConnectionString: in.ID + ".mysql.rds.aliyuncs.com", NetworkType: "0", AccountID: in.AccountID})
	}
	cmpTargets := func(a, b request.Target) int { return strings.Compare(a.ConnectionString, b.ConnectionString) }
	slices.SortFunc(got, cmpTargets)
	slices.SortFunc(want, cmpTargets)
	if !slices.Equal(got, want) || len(want) != 20 {
		t.Fatalf("scan:\n%s\nwant %d targets: %+v", out, len(want), want)
	}
	if !strings.Contains(errOut, "2 accounts, 4 regions, 20 instances listed (0 left out by --env), 20 public endpoints, 24 calls, 0 failures") {
		t.Fatalf("summary: %s", errOut)
	}
	assumes, tlsCalls := 0, 0
	for _, c := range sim.Calls() {
		if c.Action == rdssim.ActionAssumeRole {
			assumes++
		}
		if c.TLS {
			tlsCalls++
		}
	}
	if assumes != 2 || tlsCalls != len(sim.Calls()) {
		t.Fatalf("%d AssumeRole calls, %d of %d calls over TLS", assumes, tlsCalls, len(sim.Calls()))
	}

	// Filters and the table.
	out, errOut, err = rdsgate(t, "fleet", "scan", "--account", rdssim.FleetAccountID(2), "--region", "cn-shanghai", "--format", "table")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if f := strings.Fields(lines[len(lines)-1]); len(lines) != 6 || !strings.HasPrefix(lines[0], "ACCOUNT") || len(f) != 5 ||
		f[0] != rdssim.FleetAccountID(2) || f[1] != "cn-shanghai" || f[3] != "VPC" || f[4] != f[2]+".mysql.rds.aliyuncs.com" {
		t.Fatalf("table:\n%s", out)
	}
	if _, errOut, err = rdsgate(t, "fleet", "scan", "--account", "42"); err == nil || !strings.Contains(err.Error(), "account 42") {
		t.Fatalf("unknown account: %v %s", err, errOut)
	}
}

// An account whose role cannot be assumed is reported on stderr; the others
// are scanned and printed, and the exit status is 1.
func TestCLIFleetScanPartialFailure(t *testing.T) {
	bad := "1000000000000007"
	fleetEnv(t, bad)
	out, errOut, err := rdsgate(t, "fleet", "scan")
	var ee exitError
	if !errors.As(err, &ee) || ee != 1 {
		t.Fatalf("err %v, want exit status 1\n%s", err, errOut)
	}
	if n := strings.Count(strings.TrimSpace(out), "\n") + 1; n != 20 {
		t.Fatalf("%d targets printed, want the other accounts' 20", n)
	}
	if !strings.Contains(errOut, "rdsgate: fleet scan: account "+bad+": ") || !strings.Contains(errOut, "1 failures") {
		t.Fatalf("stderr: %s", errOut)
	}
}

func TestCLIFleetScanBadCAFile(t *testing.T) {
	fleetEnv(t)
	t.Setenv("RDSGATE_CA_FILE", filepath.Join(t.TempDir(), "missing.pem"))
	_, _, err := rdsgate(t, "fleet", "scan")
	if err == nil || !strings.Contains(err.Error(), "RDSGATE_CA_FILE") {
		t.Fatalf("err %v, want one naming RDSGATE_CA_FILE", err)
	}
	var buf bytes.Buffer
	if err := run(t.Context(), []string{"fleet", "scan", "--format", "xml"}, &buf, &buf); err == nil || !strings.Contains(fmt.Sprint(err), "--format") {
		t.Fatalf("bad format: %v", err)
	}
}
