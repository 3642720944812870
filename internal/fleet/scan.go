package fleet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/request"
)

// OpDescribeInstances is the quota key of DescribeDBInstances, beside
// request.OpDescribe (DescribeDBInstanceNetInfo), the other operation a scan
// calls.
const OpDescribeInstances = aliyun.ActionDescribeDBInstances

// DefaultDescribeInstancesRate is the DescribeDBInstances quota assumed per
// account: Alibaba Cloud publishes no figure for it (its API page has no
// "Quotas Info" as ReleaseInstanceConnection's 10/1(s) has), so it gets the
// same conservative 10 calls per second as DescribeDBInstanceNetInfo
// (quota.DefaultLimits), which the simulator also enforces per action.
const DefaultDescribeInstancesRate = 10

// Defaults of Config.
const (
	DefaultPageSize = aliyun.MaxInstancesPageSize
	DefaultWorkers  = 8
	DefaultAttempts = 3
	// maxParallelAccounts bounds the accounts scanned at once.
	maxParallelAccounts = 32
)

// Account is one Alibaba Cloud account a scan covers: the fields of
// accounts.json's entries (policy.Account) the scan needs.
type Account struct {
	// ID is the account's UID.
	ID string
	// Name is what people call it.
	Name string
	// RoleARN is the role rdsgate assumes in it; empty: the base
	// credential's own account.
	RoleARN string
	// Regions are the regions scanned; empty: Config.DefaultRegion.
	Regions []string
}

// Directory says which accounts there are: the policy engine's
// accounts.json.
type Directory interface {
	// Accounts are the configured accounts; nil when there is no
	// accounts.json, and the scan covers DefaultAccountID alone.
	Accounts() []Account
	// DefaultAccountID is the account of the base credential
	// (RDSGATE_ACCOUNT_ID, ram.json's account_id).
	DefaultAccountID() string
	// EnvironmentOf names the environment of an instance ("" when none
	// matches), for Filter.Environment.
	EnvironmentOf(accountID, regionID, instanceID string) string
}

// API is the part of *aliyun.Client a scan calls.
type API interface {
	DescribeDBInstances(ctx context.Context, req aliyun.DescribeDBInstancesRequest) (*aliyun.DescribeDBInstancesResponse, error)
	DescribeDBInstanceNetInfo(ctx context.Context, req aliyun.DescribeDBInstanceNetInfoRequest) (*aliyun.DescribeDBInstanceNetInfoResponse, error)
}

// Config configures a Scanner.
type Config struct {
	Directory Directory
	// Client returns the client of an account in a region. A scan asks
	// once per account and region, before its first call there.
	Client func(accountID, regionID string) (API, error)
	// Limiter hands out the quota's slots; every call waits for one.
	Limiter Limiter
	// DefaultRegion is the region of the default account, and of accounts
	// that list none (RDSGATE_REGION_ID).
	DefaultRegion string
	// PageSize is DescribeDBInstances' page (30 to 100; DefaultPageSize).
	PageSize int
	// Workers is how many DescribeDBInstanceNetInfo calls of one account
	// may be in flight at once (DefaultWorkers): enough that the quota,
	// not the round trip, paces them.
	Workers int
	// Attempts bounds the attempts of a call that fails retryably
	// (throttled, no connection); DefaultAttempts.
	Attempts int
	// Logger receives a line per failure and per account scanned; nil
	// discards.
	Logger *slog.Logger
}

// Filter narrows a scan. Empty fields match everything.
type Filter struct {
	// AccountID scans only this account; it must be a configured one.
	AccountID string `json:"account_id,omitempty"`
	// RegionID scans only this region (of the accounts that list it; any
	// region for the default account without accounts.json).
	RegionID string `json:"region_id,omitempty"`
	// Environment keeps the instances Directory.EnvironmentOf places in it.
	Environment string `json:"environment,omitempty"`
}

// Failure is a part of a scan that failed: a whole account (InstanceID and
// RegionID empty, e.g. its role could not be assumed), one region's list,
// or one instance's endpoints.
type Failure struct {
	AccountID  string
	RegionID   string
	InstanceID string
	Err        error
}

func (f Failure) Error() string {
	var b strings.Builder
	b.WriteString("account " + f.AccountID)
	if f.RegionID != "" {
		b.WriteString(" region " + f.RegionID)
	}
	if f.InstanceID != "" {
		b.WriteString(" instance " + f.InstanceID)
	}
	b.WriteString(": " + f.Err.Error())
	return b.String()
}

func (f Failure) Unwrap() error { return f.Err }

// ScanError is what Scan returns when parts of the scan failed while the
// rest completed: every endpoint found was handed over.
type ScanError struct {
	Failures []Failure
}

func (e *ScanError) Error() string {
	if len(e.Failures) == 1 {
		return "fleet scan: " + e.Failures[0].Error()
	}
	return fmt.Sprintf("fleet scan: %d failures, the first: %s", len(e.Failures), e.Failures[0].Error())
}

// Unwrap returns the failures.
func (e *ScanError) Unwrap() []error {
	out := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		out[i] = f
	}
	return out
}

// ErrUnknownAccount is returned for a Filter.AccountID that is not
// configured.
var ErrUnknownAccount = errors.New("account not configured")

// Stats counts what a scan did.
type Stats struct {
	Accounts int `json:"accounts"`
	Regions  int `json:"regions"`
	// Instances are the instances listed; Skipped those the environment
	// filter left out (no DescribeDBInstanceNetInfo for them).
	Instances int `json:"instances"`
	Skipped   int `json:"skipped"`
	// Calls are the API calls made, retries included.
	Calls     int           `json:"calls"`
	Endpoints int           `json:"endpoints"`
	Failures  int           `json:"failures"`
	Elapsed   time.Duration `json:"elapsed_ns"`
}

// Handlers receive a scan's findings. Neither is called concurrently with
// itself or the other.
type Handlers struct {
	// Target receives each public endpoint as it is found; an error stops
	// the scan and is returned.
	Target func(request.Target) error
	// Failure, when set, hears of each failed part at once (a *ScanError at
	// the end lists them all again).
	Failure func(Failure)
}

// Scanner lists public endpoints across accounts and regions. It is safe
// for concurrent use; each Scan is independent.
type Scanner struct {
	cfg Config
	log *slog.Logger
}

// New validates cfg and returns a Scanner.
func New(cfg Config) (*Scanner, error) {
	switch {
	case cfg.Directory == nil:
		return nil, errors.New("fleet: a Directory is required")
	case cfg.Client == nil:
		return nil, errors.New("fleet: a Client func is required")
	case cfg.Limiter == nil:
		return nil, errors.New("fleet: a Limiter is required")
	}
	cfg.PageSize = cmp.Or(cfg.PageSize, DefaultPageSize)
	if cfg.PageSize < aliyun.MinInstancesPageSize || cfg.PageSize > aliyun.MaxInstancesPageSize {
		return nil, fmt.Errorf("fleet: page size %d: want %d to %d", cfg.PageSize, aliyun.MinInstancesPageSize, aliyun.MaxInstancesPageSize)
	}
	cfg.Workers = max(1, cmp.Or(cfg.Workers, DefaultWorkers))
	cfg.Attempts = max(1, cmp.Or(cfg.Attempts, DefaultAttempts))
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Scanner{cfg: cfg, log: log}, nil
}

// Scan hands every public endpoint that f matches to emit, as found, and
// returns nil, a *ScanError when parts failed (the rest was scanned), or
// the first error of emit or ctx (the scan stopped). emit is never called
// concurrently.
func (s *Scanner) Scan(ctx context.Context, f Filter, emit func(request.Target) error) error {
	_, err := s.Run(ctx, f, Handlers{Target: emit})
	return err
}

// Plan returns the accounts a scan with f covers, each with the regions
// scanned in it, or ErrUnknownAccount.
func (s *Scanner) Plan(f Filter) ([]Account, error) {
	accounts := s.cfg.Directory.Accounts()
	if accounts == nil {
		id := s.cfg.Directory.DefaultAccountID()
		if f.AccountID != "" && f.AccountID != id {
			return nil, fmt.Errorf("fleet: account %s: %w (no accounts.json; the default account is %s)", f.AccountID, ErrUnknownAccount, id)
		}
		return []Account{{ID: id, Regions: []string{cmp.Or(f.RegionID, s.cfg.DefaultRegion)}}}, nil
	}
	var out []Account
	for _, a := range accounts {
		if f.AccountID != "" && a.ID != f.AccountID {
			continue
		}
		regions := a.Regions
		if len(regions) == 0 {
			regions = []string{s.cfg.DefaultRegion}
		}
		if f.RegionID != "" {
			if !slices.Contains(regions, f.RegionID) {
				continue
			}
			regions = []string{f.RegionID}
		}
		a.Regions = slices.Clone(regions)
		out = append(out, a)
	}
	if f.AccountID != "" && len(out) == 0 && !slices.ContainsFunc(accounts, func(a Account) bool { return a.ID == f.AccountID }) {
		return nil, fmt.Errorf("fleet: account %s: %w in accounts.json", f.AccountID, ErrUnknownAccount)
	}
	return out, nil
}

// Run is Scan with a failure handler, and the scan's figures.
func (s *Scanner) Run(ctx context.Context, f Filter, h Handlers) (Stats, error) {
	start := time.Now()
	plan, err := s.Plan(f)
	if err != nil {
		return Stats{}, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r := &run{s: s, f: f, h: h, cancel: cancel}
	sem := make(chan struct{}, maxParallelAccounts)
	var wg sync.WaitGroup
	for _, a := range plan {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			r.account(ctx, a)
		})
	}
	wg.Wait()
	st := Stats{Accounts: len(plan), Regions: int(r.regions.Load()), Instances: int(r.instances.Load()),
		Skipped: int(r.skipped.Load()), Calls: int(r.calls.Load()), Endpoints: r.endpoints, Elapsed: time.Since(start)}
	st.Failures = len(r.failures)
	if err := context.Cause(ctx); err != nil {
		return st, err
	}
	if len(r.failures) > 0 {
		return st, &ScanError{Failures: r.failures}
	}
	return st, nil
}

// run is one scan's state.
type run struct {
	s      *Scanner
	f      Filter
	h      Handlers
	cancel context.CancelCauseFunc

	regions, instances, skipped, calls atomic.Int64

	mu        sync.Mutex // serialises the handlers and guards below
	endpoints int
	stopped   bool // Target failed: hand over nothing more
	failures  []Failure
	seen      map[[2]string]bool
}

func (r *run) fail(fl Failure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, fl)
	r.s.log.Warn("fleet scan failure", slog.String("account_id", fl.AccountID), slog.String("region_id", fl.RegionID),
		slog.String("instance", fl.InstanceID), slog.Any("err", fl.Err))
	if r.h.Failure != nil {
		r.h.Failure(fl)
	}
}

func (r *run) emit(t request.Target) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[[2]string]bool{}
	}
	k := [2]string{t.AccountID, t.ConnectionString}
	if r.stopped || r.seen[k] {
		return
	}
	r.seen[k] = true
	if r.h.Target != nil {
		if err := r.h.Target(t); err != nil {
			r.stopped = true
			r.cancel(err)
			return
		}
	}
	r.endpoints++
}

// instance is one listed instance waiting for its endpoints.
type instance struct {
	regionID    string
	client      API
	id          string
	networkType string // DescribeDBInstances' InstanceNetworkType
}

// account scans one account: its regions' pages one after another, and
// the instances they list by Workers at once.
func (r *run) account(ctx context.Context, a Account) {
	work := make(chan instance)
	var wg sync.WaitGroup
	for range r.s.cfg.Workers {
		wg.Go(func() {
			for in := range work {
				r.netInfo(ctx, a, in)
			}
		})
	}
	defer wg.Wait()
	defer close(work)
	for _, region := range a.Regions {
		if ctx.Err() != nil {
			return
		}
		r.regions.Add(1)
		if stop := r.region(ctx, a, region, work); stop {
			return
		}
	}
}

// region pages through one region's instances; it reports whether the
// account's other regions are not worth trying (its credential failed).
func (r *run) region(ctx context.Context, a Account, region string, work chan<- instance) (stopAccount bool) {
	client, err := r.s.cfg.Client(a.ID, region)
	if err != nil {
		r.fail(Failure{AccountID: a.ID, Err: err})
		return true
	}
	size := int32(r.s.cfg.PageSize)
	listed := 0
	for page := int32(1); ; page++ {
		var resp *aliyun.DescribeDBInstancesResponse
		err := r.call(ctx, a.ID, OpDescribeInstances, func() error {
			var err error
			resp, err = client.DescribeDBInstances(ctx, aliyun.DescribeDBInstancesRequest{RegionId: region, PageSize: size, PageNumber: page})
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return true
			}
			var ae *aliyun.APIError
			if errors.As(err, &ae) && ae.Code == aliyun.CodeInvalidCredentials {
				r.fail(Failure{AccountID: a.ID, Err: err})
				return true
			}
			r.fail(Failure{AccountID: a.ID, RegionID: region, Err: err})
			return false
		}
		items := resp.Items.DBInstance
		for _, it := range items {
			listed++
			r.instances.Add(1)
			if r.f.Environment != "" && r.s.cfg.Directory.EnvironmentOf(a.ID, cmp.Or(it.RegionId, region), it.DBInstanceId) != r.f.Environment {
				r.skipped.Add(1)
				continue
			}
			select {
			case work <- instance{regionID: cmp.Or(it.RegionId, region), client: client, id: it.DBInstanceId, networkType: it.InstanceNetworkType}:
			case <-ctx.Done():
				return true
			}
		}
		if len(items) == 0 || len(items) < int(size) || (resp.TotalRecordCount > 0 && listed >= int(resp.TotalRecordCount)) {
			return false
		}
	}
}

// netInfo asks for one instance's endpoints and hands over the public ones.
func (r *run) netInfo(ctx context.Context, a Account, in instance) {
	if ctx.Err() != nil {
		return
	}
	var resp *aliyun.DescribeDBInstanceNetInfoResponse
	err := r.call(ctx, a.ID, request.OpDescribe, func() error {
		var err error
		resp, err = in.client.DescribeDBInstanceNetInfo(ctx, aliyun.DescribeDBInstanceNetInfoRequest{DBInstanceId: in.id})
		return err
	})
	var ae *aliyun.APIError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return
	case errors.As(err, &ae) && ae.Code == aliyun.CodeInvalidDBInstanceIDNotFound:
		return // released since it was listed
	default:
		r.fail(Failure{AccountID: a.ID, RegionID: in.regionID, InstanceID: in.id, Err: err})
		return
	}
	nt, nerr := aliyun.ReleaseNetworkType(cmp.Or(resp.InstanceNetworkType, in.networkType))
	for _, n := range resp.DBInstanceNetInfos.DBInstanceNetInfo {
		if n.IPType != "Public" || n.ConnectionString == "" {
			continue
		}
		if nerr != nil {
			r.fail(Failure{AccountID: a.ID, RegionID: in.regionID, InstanceID: in.id, Err: nerr})
			return
		}
		r.emit(request.Target{RegionID: in.regionID, DBInstanceID: in.id, ConnectionString: n.ConnectionString,
			NetworkType: nt, AccountID: a.ID})
	}
}

// call makes one call, each attempt in a slot of op's quota, trying again
// after a retryable failure (throttled, no connection) up to Attempts.
func (r *run) call(ctx context.Context, account, op string, fn func() error) error {
	var err error
	for attempt := range r.s.cfg.Attempts {
		if werr := r.s.cfg.Limiter.Wait(ctx, account, op); werr != nil {
			return fmt.Errorf("wait for a %s slot: %w", op, werr)
		}
		r.calls.Add(1)
		err = fn()
		var ae *aliyun.APIError
		if err == nil || !errors.As(err, &ae) || ae.Class != aliyun.ClassRetryable || attempt+1 == r.s.cfg.Attempts {
			return err
		}
		// Back off beyond the next slot: what the API asked for, else a
		// growing pause.
		pause := max(ae.RetryAfter, time.Duration(100<<attempt)*time.Millisecond)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
	return err
}
