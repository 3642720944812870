package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/fleet"
	"github.com/rdsgate/rdsgate/internal/quota"
	"github.com/rdsgate/rdsgate/internal/rdssim"
	"github.com/rdsgate/rdsgate/internal/rdssim/simtest"
	"github.com/rdsgate/rdsgate/internal/request"
)

// simCA signs every test simulator's certificate; TestMain trusts it as
// RDSGATE_CA_FILE would be (credentials-go's STS calls included).
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
	baseAK     = "LTAIfleettest00000000001"
	baseSecret = "fleet-test-secret"
	baseAcct   = "1999999999999999"
	// rate is the simulator's quota per account and action, and the
	// limiter's: the scan must never be throttled.
	rate = 20
)

var regions = []string{"cn-hangzhou", "cn-shanghai"}

// world is a simulated fleet of 3 accounts × 2 regions × 20 instances in
// which account 2's first five cn-hangzhou instances have no public
// endpoint and account 3's seventh cn-shanghai instance has two.
type world struct {
	sim     *rdssim.Server
	clients *aliyun.Clients
	dir     *directory
}

func newWorld(t *testing.T) world {
	t.Helper()
	state, err := rdssim.GenerateFleet(rdssim.FleetSpec{Accounts: 3, Regions: regions, PerRegion: 20, Roles: []string{"rdsgate-gateway"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range state.Instances {
		in := &state.Instances[i]
		for n := 1; n <= 5; n++ {
			if in.ID == rdssim.FleetInstanceID(2, 0, regions[0], n) {
				in.Endpoints = slices.DeleteFunc(in.Endpoints, func(e rdssim.Endpoint) bool { return e.IPType == rdssim.IPTypePublic })
			}
		}
		if in.ID == rdssim.FleetInstanceID(3, 1, regions[1], 7) {
			in.Endpoints = append(in.Endpoints, rdssim.Endpoint{ConnectionString: in.ID + "-rw.mysql.rds.aliyuncs.com",
				IPType: rdssim.IPTypePublic, Type: "ReadWriteSplitting"})
		}
	}
	sim, err := rdssim.New(rdssim.Config{
		Accounts:      []rdssim.Account{{AccessKeyID: baseAK, AccessKeySecret: baseSecret, AccountID: baseAcct}},
		Instances:     state.Instances,
		Roles:         state.RoleMap(),
		CA:            simCA,
		RatePerSecond: rate,
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := simtest.Start(t, sim)
	clients, err := aliyun.NewClients(aliyun.ClientsConfig{
		Base: aliyun.Config{Endpoint: addr, Protocol: "https", RegionID: "cn-hangzhou", Timeout: 10 * time.Second,
			AccessKeyID: baseAK, AccessKeySecret: baseSecret, RootCAs: simCA.CertPool()},
		STSEndpoint: addr,
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := &directory{def: rdssim.FleetAccountID(1)}
	for i := 1; i <= 3; i++ {
		id := rdssim.FleetAccountID(i)
		dir.accounts = append(dir.accounts, fleet.Account{ID: id, Name: fmt.Sprintf("account %d", i),
			RoleARN: "acs:ram::" + id + ":role/rdsgate-gateway", Regions: regions})
	}
	return world{sim: sim, clients: clients, dir: dir}
}

// directory is accounts.json as the policy engine gives it; instances whose
// number is odd are in "production", the others in "dev".
type directory struct {
	accounts []fleet.Account
	def      string
}

func (d *directory) Accounts() []fleet.Account { return d.accounts }
func (d *directory) DefaultAccountID() string  { return d.def }
func (d *directory) EnvironmentOf(_, _, instanceID string) string {
	if (instanceID[len(instanceID)-1]-'0')%2 == 1 {
		return "production"
	}
	return "dev"
}

// counting counts the slots each account took for each operation.
type counting struct {
	fleet.Limiter
	mu sync.Mutex
	n  map[[2]string]int
}

func (c *counting) Wait(ctx context.Context, account, op string) error {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[[2]string]int{}
	}
	c.n[[2]string{account, op}]++
	c.mu.Unlock()
	return c.Limiter.Wait(ctx, account, op)
}

func (w world) scanner(t *testing.T, lim fleet.Limiter) *fleet.Scanner {
	t.Helper()
	s, err := fleet.New(fleet.Config{
		Directory: w.dir,
		Client: func(accountID, regionID string) (fleet.API, error) {
			for _, a := range w.dir.accounts {
				if a.ID == accountID {
					return w.clients.Client(a.RoleARN, regionID, "rdsgate-fleet-scan")
				}
			}
			return nil, fmt.Errorf("account %s not configured", accountID)
		},
		Limiter:       lim,
		DefaultRegion: "cn-hangzhou",
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func localLimiter(t *testing.T) *counting {
	t.Helper()
	// A fifth under the simulator's quota: on a loaded machine a goroutine
	// late for its slot sends beside the next one, and the count of calls
	// below must not depend on a throttled retry.
	l, err := fleet.NewLocalLimiter(map[string]quota.Limit{
		request.OpDescribe:        {PerSecond: rate * 0.8},
		fleet.OpDescribeInstances: {PerSecond: rate * 0.8},
	}, quota.DefaultRateMargin)
	if err != nil {
		t.Fatal(err)
	}
	return &counting{Limiter: l}
}

// want is every public endpoint of the simulator's state, as targets.
func want(sim *rdssim.Server, keep func(rdssim.Instance) bool) []request.Target {
	var out []request.Target
	for _, in := range sim.Instances() {
		if keep != nil && !keep(in) {
			continue
		}
		for _, ep := range in.Endpoints {
			if ep.IPType == rdssim.IPTypePublic {
				out = append(out, request.Target{RegionID: in.RegionID, DBInstanceID: in.ID, ConnectionString: ep.ConnectionString,
					NetworkType: "0", AccountID: in.AccountID})
			}
		}
	}
	return sorted(out)
}

func sorted(ts []request.Target) []request.Target {
	slices.SortFunc(ts, func(a, b request.Target) int { return strings.Compare(a.ConnectionString, b.ConnectionString) })
	return ts
}

func TestScanFindsExactlyThePublicEndpointsWithinQuota(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	lim := localLimiter(t)
	s := w.scanner(t, lim)

	var mu sync.Mutex
	var got []request.Target
	start := time.Now()
	st, err := s.Run(context.Background(), fleet.Filter{}, fleet.Handlers{Target: func(tg request.Target) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, tg)
		return nil
	}})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	exp := want(w.sim, nil)
	if len(exp) != 3*2*20-5+1 {
		t.Fatalf("the fixture has %d public endpoints", len(exp))
	}
	if diff := slices.Compare(ids(sorted(got)), ids(exp)); diff != 0 || !slices.Equal(sorted(got), exp) {
		t.Fatalf("scan found %d endpoints, want %d:\n got %v\nwant %v", len(got), len(exp), ids(sorted(got)), ids(exp))
	}
	if st.Accounts != 3 || st.Regions != 6 || st.Instances != 120 || st.Endpoints != len(exp) || st.Failures != 0 || st.Calls != 126 {
		t.Fatalf("stats %+v", st)
	}
	// Every call waited for a slot of its account's quota: one page per
	// region (20 < 100), one DescribeDBInstanceNetInfo per instance.
	for i := 1; i <= 3; i++ {
		a := rdssim.FleetAccountID(i)
		if n := lim.n[[2]string{a, fleet.OpDescribeInstances}]; n != 2 {
			t.Errorf("account %s: %d DescribeDBInstances slots, want 2", a, n)
		}
		if n := lim.n[[2]string{a, request.OpDescribe}]; n != 40 {
			t.Errorf("account %s: %d DescribeDBInstanceNetInfo slots, want 40", a, n)
		}
	}
	// The simulator, which enforces the same quota, throttled nothing, and
	// each account's calls were its own.
	for _, as := range w.sim.Accounts() {
		if as.Throttled != 0 {
			t.Errorf("account %s throttled %d times", as.AccountID, as.Throttled)
		}
	}
	for _, c := range w.sim.Calls() {
		if c.Action == aliyun.ActionDescribeDBInstanceNetInfo && !strings.Contains(c.Instance, "1a00"+c.AccountID[len(c.AccountID)-1:]) {
			t.Fatalf("call outside its account: %+v", c)
		}
	}
	// Accounts went in parallel: 40 slots of one account at 20/s take about
	// 2 s; three accounts one after another would take 6.
	if elapsed > 4*time.Second {
		t.Errorf("scan took %s: accounts were not scanned in parallel", elapsed)
	}
	t.Logf("scanned %d instances (3 accounts × 2 regions × 20) at %d calls/s per account in %s: %d endpoints", st.Instances, rate, elapsed.Round(time.Millisecond), st.Endpoints)
}

func ids(ts []request.Target) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ConnectionString
	}
	return out
}

func TestScanFilters(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	s := w.scanner(t, localLimiter(t))
	collect := func(f fleet.Filter) ([]request.Target, error) {
		var got []request.Target
		err := s.Scan(context.Background(), f, func(tg request.Target) error { got = append(got, tg); return nil })
		return sorted(got), err
	}
	a2 := rdssim.FleetAccountID(2)
	got, err := collect(fleet.Filter{AccountID: a2, RegionID: "cn-hangzhou", Environment: "production"})
	if err != nil {
		t.Fatal(err)
	}
	exp := want(w.sim, func(in rdssim.Instance) bool {
		return in.AccountID == a2 && in.RegionID == "cn-hangzhou" && w.dir.EnvironmentOf(a2, in.RegionID, in.ID) == "production"
	})
	if !slices.Equal(got, exp) || len(exp) != 7 { // odd 7..19 of 20 (1, 3, 5 have no public endpoint)
		t.Fatalf("got %v\nwant %v", ids(got), ids(exp))
	}
	if _, err := collect(fleet.Filter{AccountID: "1234"}); !errors.Is(err, fleet.ErrUnknownAccount) {
		t.Fatalf("unknown account: %v", err)
	}
	got, err = collect(fleet.Filter{RegionID: "ap-southeast-1"})
	if err != nil || len(got) != 0 {
		t.Fatalf("a region no account lists: %v %v", got, err)
	}
}

// An account whose role cannot be assumed is reported, at once and in the
// *ScanError; the other accounts are scanned in full.
func TestScanReportsAFailedAccountAndScansTheOthers(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	bad := "1000000000000009"
	w.dir.accounts = append(w.dir.accounts, fleet.Account{ID: bad, RoleARN: "acs:ram::" + bad + ":role/rdsgate-gateway", Regions: regions})
	s := w.scanner(t, localLimiter(t))
	var got []request.Target
	var failures []fleet.Failure
	st, err := s.Run(context.Background(), fleet.Filter{}, fleet.Handlers{
		Target:  func(tg request.Target) error { got = append(got, tg); return nil },
		Failure: func(f fleet.Failure) { failures = append(failures, f) },
	})
	var se *fleet.ScanError
	if !errors.As(err, &se) || len(se.Failures) != 1 || len(failures) != 1 || failures[0].AccountID != bad || failures[0].RegionID != "" {
		t.Fatalf("err %v, failures %+v", err, failures)
	}
	var ae *aliyun.APIError
	if !errors.As(err, &ae) || ae.Code != aliyun.CodeInvalidCredentials {
		t.Fatalf("failure does not carry the API error: %v", err)
	}
	if !slices.Equal(sorted(got), want(w.sim, nil)) || st.Accounts != 4 || st.Failures != 1 {
		t.Fatalf("the other accounts: %d endpoints, stats %+v", len(got), st)
	}
}

// A Target handler's error stops the scan and is returned.
func TestScanStopsOnHandlerError(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	s := w.scanner(t, localLimiter(t))
	stop := errors.New("enough")
	n := 0
	err := s.Scan(context.Background(), fleet.Filter{}, func(request.Target) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("err %v after %d targets", err, n)
	}
}

func TestLocalLimiterSpacesSlotsPerAccountAndOperation(t *testing.T) {
	t.Parallel()
	l, err := fleet.NewLocalLimiter(map[string]quota.Limit{"Op": {PerSecond: 50}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	for range 11 { // 10 spacings of 20 ms
		if err := l.Wait(ctx, "a", "Op"); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("11 slots in %s, want at least 200ms", d)
	}
	// Another account's slots are its own: with half a second between two
	// of a's, b's first comes at once.
	slow, err := fleet.NewLocalLimiter(map[string]quota.Limit{"Op": {PerSecond: 2}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := slow.Wait(ctx, "a", "Op"); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := slow.Wait(ctx, "b", "Op"); err != nil || time.Since(start) > 250*time.Millisecond {
		t.Fatalf("account b waited %s for its first slot (%v)", time.Since(start), err)
	}
	if err := l.Wait(ctx, "a", "Unknown"); !errors.Is(err, quota.ErrUnknownOperation) {
		t.Fatalf("unknown op: %v", err)
	}
}
