package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/credentials-go/credentials"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/executor"
	"github.com/rdsgate/rdsgate/internal/fleet"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/rdssim"
	"github.com/rdsgate/rdsgate/internal/rdssim/simtest"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/testdb"
	"github.com/rdsgate/rdsgate/policies"
)

// simCA signs the certificates of the simulators these tests reach over
// TLS; TestMain trusts it for credentials-go's STS calls as cmd/rdsgate
// does with RDSGATE_CA_FILE.
var simCA *rdssim.CA

func TestMain(m *testing.M) {
	ca, err := rdssim.NewCA()
	if err == nil {
		err = aliyun.SetDefaultRootCAs(ca.CertPool())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	simCA = ca
	os.Exit(m.Run())
}

const (
	fleetAK     = "LTAIappfleet000000000001"
	fleetSecret = "app-fleet-secret"
)

// multiAccount serves 2 accounts × 2 regions × 5 instances over TLS (STS
// on the same port) and writes a policy data directory whose accounts.json
// lists the two accounts. rate is the simulator's quota (0: 10/s).
func multiAccount(t *testing.T, rate int) (*rdssim.Server, RDSConfig, string) {
	t.Helper()
	regions := []string{"cn-hangzhou", "cn-shanghai"}
	state, err := rdssim.GenerateFleet(rdssim.FleetSpec{Accounts: 2, Regions: regions, PerRegion: 5, Roles: []string{"rdsgate-gateway"}})
	if err != nil {
		t.Fatal(err)
	}
	sim, err := rdssim.New(rdssim.Config{
		Accounts:  []rdssim.Account{{AccessKeyID: fleetAK, AccessKeySecret: fleetSecret, AccountID: "1999999999999999"}},
		Instances: state.Instances, Roles: state.RoleMap(), CA: simCA, RatePerSecond: rate,
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := simtest.Start(t, sim)

	dir := t.TempDir()
	for _, name := range []string{"ram.json", "org.json"} {
		raw, err := policies.FS.ReadFile("examples/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	accounts := map[string]any{}
	for i := 1; i <= 2; i++ {
		id := rdssim.FleetAccountID(i)
		accounts[id] = map[string]any{"role_arn": "acs:ram::" + id + ":role/rdsgate-gateway", "regions": regions}
	}
	raw, _ := json.Marshal(map[string]any{"accounts": accounts})
	if err := os.WriteFile(filepath.Join(dir, "accounts.json"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	cred, err := credentials.NewCredential(&credentials.Config{Type: strPtr("access_key"),
		AccessKeyId: strPtr(fleetAK), AccessKeySecret: strPtr(fleetSecret)})
	if err != nil {
		t.Fatal(err)
	}
	return sim, RDSConfig{Endpoint: addr, Protocol: "https", Credential: cred, STSEndpoint: addr,
		RootCAs: simCA.CertPool(), CallTimeout: 10 * time.Second}, dir
}

// The executor's clients act in the request's account through its role,
// one AssumeRole per account and request however many calls; a request
// without an account uses the base credential; an account accounts.json
// does not list is refused.
func TestClientForAssumesTheAccountsRole(t *testing.T) {
	t.Parallel()
	sim, rds, dir := multiAccount(t, 1_000_000)
	engine, err := policy.New(context.Background(), policy.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	clients, err := newRDSClients(rds, nil)
	if err != nil {
		t.Fatal(err)
	}
	clients.accounts = engine
	ctx := context.Background()
	session := "rdsgate-5f0c7a52-96a3-4ad2-8e0b-1f9f1c3b7e11"
	for n := range 100 {
		i, r := n%2+1, n/2%2
		region := []string{"cn-hangzhou", "cn-shanghai"}[r]
		cl, err := clients.clientFor(executor.ClientKey{AccountID: rdssim.FleetAccountID(i), RegionID: region, Session: session})
		if err != nil {
			t.Fatal(err)
		}
		id := rdssim.FleetInstanceID(i, r, region, n%5+1)
		if _, err := cl.DescribeDBInstanceNetInfo(ctx, aliyun.DescribeDBInstanceNetInfoRequest{DBInstanceId: id}); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	base, err := clients.clientFor(executor.ClientKey{RegionID: "cn-hangzhou", Session: session})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := base.DescribeDBInstanceNetInfo(ctx, aliyun.DescribeDBInstanceNetInfoRequest{DBInstanceId: "rm-nowhere"}); err == nil {
		t.Fatal("the base account sees a fleet instance")
	}
	if _, err := clients.clientFor(executor.ClientKey{AccountID: "1000000000000003", RegionID: "cn-hangzhou"}); !errors.Is(err, ErrAccountNotConfigured) {
		t.Fatalf("unlisted account: %v", err)
	}
	perAccount := map[string]int{}
	for _, c := range sim.Calls() {
		switch {
		case c.Action == rdssim.ActionAssumeRole:
			perAccount[c.AccountID]++
		case c.Action == aliyun.ActionDescribeDBInstanceNetInfo && c.Instance == "rm-nowhere":
			if c.KeyKind != rdssim.KeyKindBase || c.AccountID != "1999999999999999" {
				t.Fatalf("base call: %+v", c)
			}
		case c.KeyKind != rdssim.KeyKindSTS || !strings.Contains(c.Instance, "1a00"+c.AccountID[len(c.AccountID)-1:]):
			t.Fatalf("call outside its account: %+v", c)
		}
	}
	if len(perAccount) != 2 || perAccount[rdssim.FleetAccountID(1)] != 1 || perAccount[rdssim.FleetAccountID(2)] != 1 {
		t.Fatalf("AssumeRole per account: %v", perAccount)
	}
}

// App.Fleet scans every account of accounts.json, taking each call's slot
// from the limiter all replicas share in PostgreSQL, per account and
// operation, DescribeDBInstances included.
func TestAppFleetScanUsesTheSharedQuota(t *testing.T) {
	t.Parallel()
	sim, rds, dir := multiAccount(t, 0) // the API's 10 calls/s, as the limiter's default
	// The trail's reads take LookupEvents slots of the same accounts: off,
	// so that the rows below are the scan's alone.
	a, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", DatabaseURL: testdb.NewURL(t), PolicyData: dir, RDS: rds,
		Web: WebConfig{DevLogin: true}, Trail: TrailConfig{Off: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	var scanner FleetScanner = a.Fleet
	var got []request.Target
	start := time.Now()
	if err := scanner.Scan(context.Background(), fleet.Filter{}, func(tg request.Target) error { got = append(got, tg); return nil }); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	var want []string
	for _, in := range sim.Instances() {
		want = append(want, in.AccountID+" "+in.RegionID+" "+in.ID+".mysql.rds.aliyuncs.com 0")
	}
	var have []string
	for _, tg := range got {
		have = append(have, tg.AccountID+" "+tg.RegionID+" "+tg.ConnectionString+" "+tg.NetworkType)
	}
	slices.Sort(want)
	slices.Sort(have)
	if !slices.Equal(have, want) {
		t.Fatalf("scan:\n%v\nwant\n%v", have, want)
	}
	rows, err := a.Pool.Query(context.Background(), `SELECT account_id || ' ' || operation FROM rate_limits ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var slots []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		slots = append(slots, s)
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	a1, a2 := rdssim.FleetAccountID(1), rdssim.FleetAccountID(2)
	if !slices.Equal(slots, []string{a1 + " DescribeDBInstanceNetInfo", a1 + " DescribeDBInstances", a2 + " DescribeDBInstanceNetInfo", a2 + " DescribeDBInstances"}) {
		t.Fatalf("rate limit rows: %v", slots)
	}
	for _, as := range sim.Accounts() {
		if as.Throttled != 0 {
			t.Fatalf("account %s throttled %d times", as.AccountID, as.Throttled)
		}
	}
	t.Logf("App.Fleet scanned 20 instances (2 accounts × 2 regions × 5) at the default 10 calls/s per account in %s", elapsed.Round(time.Millisecond))
}
