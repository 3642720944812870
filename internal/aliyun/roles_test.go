package aliyun_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/rdssim"
	"github.com/rdsgate/rdsgate/internal/rdssim/simtest"
)

// simCA signs the serving certificate of every simulator these tests reach
// over TLS. TestMain trusts it the way rdsgate trusts RDSGATE_CA_FILE:
// LoadRootCAs of its PEM file, then SetDefaultRootCAs for credentials-go's
// STS calls; the RDS clients get the same pool as Config.RootCAs.
var (
	simCA    *rdssim.CA
	simRoots = struct{ file string }{}
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	ca, err := rdssim.NewCA()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	simCA = ca
	dir, err := os.MkdirTemp("", "aliyun-test-ca")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	simRoots.file = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(simRoots.file, ca.CertPEM(), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	pool, err := aliyun.LoadRootCAs(simRoots.file)
	if err == nil {
		err = aliyun.SetDefaultRootCAs(pool)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

const (
	baseAK      = "LTAIrolestest00000000001"
	baseSecret  = "roles-test-secret"
	baseAccount = "1999999999999999"
)

// fleetSim serves a generated fleet (roles "rdsgate-gateway" only) over TLS
// and plain HTTP on one port, with a quota of rate calls per second.
func fleetSim(t testing.TB, spec rdssim.FleetSpec, rate int) (*rdssim.Server, string) {
	t.Helper()
	spec.Roles = []string{"rdsgate-gateway"}
	state, err := rdssim.GenerateFleet(spec)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := rdssim.New(rdssim.Config{
		Accounts:      []rdssim.Account{{AccessKeyID: baseAK, AccessKeySecret: baseSecret, AccountID: baseAccount}},
		Instances:     state.Instances,
		Roles:         state.RoleMap(),
		CA:            simCA,
		RatePerSecond: rate,
	})
	if err != nil {
		t.Fatal(err)
	}
	return sim, simtest.Start(t, sim)
}

func roleOf(account string) string { return "acs:ram::" + account + ":role/rdsgate-gateway" }

func newClients(t testing.TB, addr string, mod func(*aliyun.ClientsConfig)) *aliyun.Clients {
	t.Helper()
	pool, err := aliyun.LoadRootCAs(simRoots.file)
	if err != nil {
		t.Fatal(err)
	}
	cfg := aliyun.ClientsConfig{
		Base: aliyun.Config{Endpoint: addr, Protocol: "https", RegionID: "cn-hangzhou", Timeout: 10 * time.Second,
			AccessKeyID: baseAK, AccessKeySecret: baseSecret, RootCAs: pool},
		STSEndpoint: addr,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := aliyun.NewClients(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A bulk request's 1,000 calls over 5 accounts, 50 at a time, assume each
// account's role once: 5 AssumeRole calls, over TLS, and every RDS call
// acts as its account with the temporary key.
func TestClientsAssumeEachRoleOncePerSession(t *testing.T) {
	t.Parallel()
	spec := rdssim.FleetSpec{Accounts: 5, Regions: []string{"cn-hangzhou", "cn-shanghai"}, PerRegion: 2}
	sim, addr := fleetSim(t, spec, 1_000_000)
	clients := newClients(t, addr, nil)
	session := "rdsgate-0b5a4c1e-7f1d-4c8e-9f63-2f1b2a3c4d5e"
	ctx := context.Background()

	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	sem := make(chan struct{}, 50) // the executor's workers, and more
	for n := range 1000 {
		i := n%5 + 1
		r := n / 5 % 2
		region := spec.Regions[r]
		account := rdssim.FleetAccountID(i)
		id := rdssim.FleetInstanceID(i, r, region, 1)
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			cl, err := clients.Client(roleOf(account), region, session)
			if err != nil {
				errs <- err
				return
			}
			resp, err := cl.DescribeDBInstanceNetInfo(ctx, aliyun.DescribeDBInstanceNetInfoRequest{DBInstanceId: id})
			if err != nil {
				errs <- fmt.Errorf("%s as %s: %w", id, account, err)
				return
			}
			if pub, ok := resp.PublicEndpoint(); !ok || pub.ConnectionString != id+".mysql.rds.aliyuncs.com" {
				errs <- fmt.Errorf("%s: public endpoint %+v", id, pub)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := clients.AssumeRoleCalls(); got != 5 {
		t.Fatalf("AssumeRoleCalls = %d, want 5", got)
	}
	assumed := map[string]int{}
	rds := 0
	for _, c := range sim.Calls() {
		if !c.TLS {
			t.Fatalf("call over plain HTTP: %+v", c)
		}
		switch c.Action {
		case rdssim.ActionAssumeRole:
			if c.Status != 200 || c.KeyKind != rdssim.KeyKindBase {
				t.Fatalf("AssumeRole: %+v", c)
			}
			assumed[c.AccountID]++
		case aliyun.ActionDescribeDBInstanceNetInfo:
			rds++
			if c.Status != 200 || c.KeyKind != rdssim.KeyKindSTS || c.Role != roleOf(c.AccountID) ||
				!strings.HasPrefix(c.Instance, "rm-") || !strings.Contains(c.Instance, fmt.Sprintf("1a%03d", int(c.AccountID[len(c.AccountID)-1]-'0'))) {
				t.Fatalf("RDS call not in its account: %+v", c)
			}
		}
	}
	if rds != 1000 || len(assumed) != 5 {
		t.Fatalf("%d RDS calls, AssumeRole per account %v", rds, assumed)
	}
	for acct, n := range assumed {
		if n != 1 {
			t.Fatalf("account %s assumed %d times", acct, n)
		}
	}

	// Another session (another request) is another AssumeRole per account;
	// the base credential assumes none.
	for i := 1; i <= 5; i++ {
		cl, err := clients.Client(roleOf(rdssim.FleetAccountID(i)), "cn-hangzhou", "rdsgate-another-request")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.DescribeDBInstances(ctx, aliyun.DescribeDBInstancesRequest{RegionId: "cn-hangzhou"}); err != nil {
			t.Fatal(err)
		}
	}
	base, err := clients.Client("", "cn-hangzhou", "ignored")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := base.DescribeDBInstances(ctx, aliyun.DescribeDBInstancesRequest{RegionId: "cn-hangzhou"}); err != nil {
		t.Fatal(err)
	}
	if got := clients.AssumeRoleCalls(); got != 10 {
		t.Fatalf("AssumeRoleCalls = %d after a second session, want 10", got)
	}
}

// An account's instances are not another's: a role sees its own account.
func TestClientsCallsLandInTheRolesAccount(t *testing.T) {
	t.Parallel()
	spec := rdssim.FleetSpec{Accounts: 2, Regions: []string{"cn-hangzhou"}, PerRegion: 35}
	_, addr := fleetSim(t, spec, 1_000_000)
	clients := newClients(t, addr, nil)
	ctx := context.Background()
	a, err := clients.Client(roleOf(rdssim.FleetAccountID(1)), "cn-hangzhou", "")
	if err != nil {
		t.Fatal(err)
	}
	other := rdssim.FleetInstanceID(2, 0, "cn-hangzhou", 1)
	_, err = a.DescribeDBInstanceNetInfo(ctx, aliyun.DescribeDBInstanceNetInfoRequest{DBInstanceId: other})
	if e := asAPIError(t, err); e.Code != aliyun.CodeInvalidDBInstanceIDNotFound || e.Class != aliyun.ClassPermanent {
		t.Fatalf("account 1 describing account 2's instance: %+v", e)
	}

	// DescribeDBInstances pages through the account's 35 instances: 30 + 5.
	var ids []string
	for page := int32(1); ; page++ {
		resp, err := a.DescribeDBInstances(ctx, aliyun.DescribeDBInstancesRequest{RegionId: "cn-hangzhou", PageSize: 30, PageNumber: page})
		if err != nil {
			t.Fatal(err)
		}
		if resp.TotalRecordCount != 35 || resp.PageNumber != page || int(resp.PageRecordCount) != len(resp.Items.DBInstance) || resp.RequestId == "" {
			t.Fatalf("page %d: total %d, page %d, count %d of %d", page, resp.TotalRecordCount, resp.PageNumber, resp.PageRecordCount, len(resp.Items.DBInstance))
		}
		for _, it := range resp.Items.DBInstance {
			if it.RegionId != "cn-hangzhou" || it.InstanceNetworkType != "VPC" || it.DBInstanceNetType != "Internet" || it.Engine != "MySQL" || it.DBInstanceStatus != "Running" {
				t.Fatalf("item %+v", it)
			}
			ids = append(ids, it.DBInstanceId)
		}
		if len(resp.Items.DBInstance) < 30 {
			break
		}
	}
	if len(ids) != 35 || ids[0] != rdssim.FleetInstanceID(1, 0, "cn-hangzhou", 1) || ids[34] != rdssim.FleetInstanceID(1, 0, "cn-hangzhou", 35) {
		t.Fatalf("listed %d: %v", len(ids), ids)
	}
	_, err = a.DescribeDBInstances(ctx, aliyun.DescribeDBInstancesRequest{RegionId: "cn-hangzhou", PageSize: 500})
	if e := asAPIError(t, err); e.HTTPStatus != 400 || e.Class != aliyun.ClassPermanent || e.Action != aliyun.ActionDescribeDBInstances {
		t.Fatalf("page size 500: %+v", e)
	}
}

// A role STS refuses is a permanent failure, STS out of reach a retryable
// one; neither sends anything to RDS.
func TestClientsAssumeRoleFailures(t *testing.T) {
	t.Parallel()
	sim, addr := fleetSim(t, rdssim.FleetSpec{Accounts: 1, Regions: []string{"cn-hangzhou"}, PerRegion: 1}, 1_000_000)
	clients := newClients(t, addr, nil)
	ctx := context.Background()
	cl, err := clients.Client("acs:ram::"+rdssim.FleetAccountID(1)+":role/not-allowed", "cn-hangzhou", "s1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.DescribeDBInstances(ctx, aliyun.DescribeDBInstancesRequest{RegionId: "cn-hangzhou"})
	if e := asAPIError(t, err); e.Code != aliyun.CodeInvalidCredentials || e.Class != aliyun.ClassPermanent ||
		!strings.Contains(e.Message, "role/not-allowed") {
		t.Fatalf("refused role: %+v", e)
	}
	for _, c := range sim.Calls() {
		if c.Action != rdssim.ActionAssumeRole {
			t.Fatalf("a call reached RDS: %+v", c)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	down := newClients(t, addr, func(c *aliyun.ClientsConfig) { c.STSEndpoint = closed })
	cl, err = down.Client(roleOf(rdssim.FleetAccountID(1)), "cn-hangzhou", "s1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.DescribeDBInstances(ctx, aliyun.DescribeDBInstancesRequest{RegionId: "cn-hangzhou"})
	if e := asAPIError(t, err); e.Code != aliyun.CodeInvalidCredentials || e.Class != aliyun.ClassRetryable {
		t.Fatalf("STS down: %+v", e)
	}
}

// Without the CA the TLS handshake with the simulator fails: the trust
// comes from the CA file, not from anything lax.
func TestClientsWithoutTheCAFailTLS(t *testing.T) {
	t.Parallel()
	_, addr := fleetSim(t, rdssim.FleetSpec{Accounts: 1, Regions: []string{"cn-hangzhou"}, PerRegion: 1}, 1_000_000)
	cl, err := aliyun.New(aliyun.Config{Endpoint: addr, Protocol: "https", RegionID: "cn-hangzhou",
		AccessKeyID: baseAK, AccessKeySecret: baseSecret, Transport: aliyun.NewTransport(nil)})
	if err != nil {
		t.Fatal(err)
	}
	// NewTransport(nil) clones http.DefaultTransport, which TestMain made
	// trust the CA: that works ...
	if _, err := cl.DescribeDBInstances(context.Background(), aliyun.DescribeDBInstancesRequest{RegionId: "cn-hangzhou"}); err != nil {
		t.Fatal(err)
	}
	// ... and a pool without it does not.
	other, err := rdssim.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	cl, err = aliyun.New(aliyun.Config{Endpoint: addr, Protocol: "https", RegionID: "cn-hangzhou",
		AccessKeyID: baseAK, AccessKeySecret: baseSecret, RootCAs: other.CertPool()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.DescribeDBInstances(context.Background(), aliyun.DescribeDBInstancesRequest{RegionId: "cn-hangzhou"})
	if e := asAPIError(t, err); e.Class != aliyun.ClassRetryable || !strings.Contains(e.Message, "certificate") {
		t.Fatalf("untrusted server: %+v", e)
	}
}

func TestClientsCacheIsBounded(t *testing.T) {
	t.Parallel()
	_, addr := fleetSim(t, rdssim.FleetSpec{Accounts: 1, Regions: []string{"cn-hangzhou"}, PerRegion: 1}, 1_000_000)
	clients := newClients(t, addr, func(c *aliyun.ClientsConfig) { c.MaxClients, c.MaxRoleSessions = 3, 2 })
	first, err := clients.Client(roleOf(rdssim.FleetAccountID(1)), "cn-hangzhou", "s0")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := clients.Client(roleOf(rdssim.FleetAccountID(1)), "cn-hangzhou", fmt.Sprintf("s%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if c, s := clients.Cached(); c != 3 || s != 2 {
		t.Fatalf("cached %d clients, %d sessions; want 3, 2", c, s)
	}
	again, err := clients.Client(roleOf(rdssim.FleetAccountID(1)), "cn-hangzhou", "s9")
	if err != nil {
		t.Fatal(err)
	}
	evicted, err := clients.Client(roleOf(rdssim.FleetAccountID(1)), "cn-hangzhou", "s0")
	if err != nil {
		t.Fatal(err)
	}
	if again == nil || evicted == first {
		t.Fatal("s0's client survived eviction")
	}
}

func TestRoleSessionName(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 70)
	for in, want := range map[string]string{
		"": aliyun.DefaultRoleSessionName,
		"rdsgate-0b5a4c1e-7f1d-4c8e-9f63-2f1b2a3c4d5e": "rdsgate-0b5a4c1e-7f1d-4c8e-9f63-2f1b2a3c4d5e",
		"x":             "rdsgate-x",
		"alice@corp.io": "alice@corp.io",
		"a b/c:d_e":     "a-b-c-d_e",
		"日本":            "------",
		long:            long[:64],
	} {
		if got := aliyun.RoleSessionName(in); got != want {
			t.Errorf("RoleSessionName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLoadRootCAs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := aliyun.LoadRootCAs(simRoots.file); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{
		"missing":  filepath.Join(dir, "nope.pem"),
		"empty":    write("empty.pem", ""),
		"not pem":  write("text.pem", "hello"),
		"a key":    write("key.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
		"bad cert": write("bad.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
	} {
		if _, err := aliyun.LoadRootCAs(path); err == nil {
			t.Errorf("%s: no error", name)
		} else if errors.Is(err, os.ErrNotExist) != (name == "missing") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
