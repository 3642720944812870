package app

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/executor"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/quota"
	"github.com/rdsgate/rdsgate/internal/trail"
)

// TrailConfig configures the reconciliation with ActionTrail: every
// Interval the leader reads each account's trail in each of its regions,
// Lookback before the previous read's end, for releases made around the
// gate (package trail).
type TrailConfig struct {
	// Off turns the reconciliation off (RDSGATE_TRAIL_INTERVAL=off).
	Off bool
	// Interval is RDSGATE_TRAIL_INTERVAL (trail.DefaultInterval).
	Interval time.Duration
	// Lookback is RDSGATE_TRAIL_LOOKBACK (trail.DefaultLookback).
	Lookback time.Duration
	// Endpoint is ActionTrail's host[:port] (RDSGATE_ACTIONTRAIL_ENDPOINT);
	// empty: the region's. The scheme is the RDS API's.
	Endpoint string
}

// TrailRate is the LookupEvents calls per second the reconciliation takes
// of each account (its quota key aliyun.ActionLookupEvents), the API's
// documented quota: a page of up to 50 events each, so a quiet trail costs
// two calls per region and run.
const TrailRate = aliyun.TrailRatePerSecond

// withTrailLimits adds LookupEvents' quota to limits when it has none.
func withTrailLimits(limits map[string]quota.Limit) map[string]quota.Limit {
	out := maps.Clone(limits)
	if out == nil {
		out = map[string]quota.Limit{}
	}
	if _, ok := out[aliyun.ActionLookupEvents]; !ok {
		out[aliyun.ActionLookupEvents] = quota.Limit{PerSecond: TrailRate}
	}
	return out
}

// trailSource is trail.Source over ActionTrail's LookupEvents: each
// account's trail client (its role, as the RDS calls), every page, each
// call within the account's LookupEvents quota.
type trailSource struct {
	clients *rdsClients
	limiter *quota.Limiter
}

func (s trailSource) Events(ctx context.Context, accountID, regionID, name string, from, to time.Time) ([]lifecycle.TrailEvent, error) {
	role, err := s.clients.roleOf(accountID)
	if err != nil {
		return nil, err
	}
	tc, err := s.clients.set.Trail(role, regionID)
	if err != nil {
		return nil, err
	}
	var out []lifecycle.TrailEvent
	token := ""
	for range 1000 { // 50,000 events: a window that holds more is read again from the same cursor
		if err := s.limiter.For(accountID).Wait(ctx, aliyun.ActionLookupEvents); err != nil {
			return nil, err
		}
		resp, err := tc.LookupEvents(ctx, aliyun.LookupEventsRequest{
			LookupAttributes: []aliyun.LookupAttribute{{Key: aliyun.LookupKeyEventName, Value: name}},
			StartTime:        from, EndTime: to, NextToken: token, MaxResults: aliyun.MaxLookupResults})
		if err != nil {
			return nil, err
		}
		for _, e := range resp.Events {
			if e.EventName != name || (e.AcsRegion != "" && e.AcsRegion != regionID) {
				continue // an endpoint serving several regions answers for all of them
			}
			at, err := e.Time()
			if err != nil {
				return nil, err
			}
			u := e.UserIdentity
			out = append(out, lifecycle.TrailEvent{AccountID: cmp.Or(u.AccountID, accountID), RegionID: cmp.Or(e.AcsRegion, regionID),
				EventID: e.EventID, EventName: e.EventName, EventTime: at, AlibabaRequestID: e.RequestID,
				DBInstanceID: e.DBInstanceID(), ConnectionString: e.CurrentConnectionString(),
				UserType: u.Type, UserName: u.UserName, PrincipalID: u.PrincipalID, AccessKeyID: maskKeyID(u.AccessKeyID),
				SourceIP: e.SourceIPAddress, ErrorCode: e.ErrorCode})
		}
		if resp.NextToken == "" {
			return out, nil
		}
		token = resp.NextToken
	}
	return nil, fmt.Errorf("lookup events of account %s in %s: more than 1000 pages", accountID, regionID)
}

// maskKeyID keeps enough of an AccessKey id to tell keys apart.
func maskKeyID(id string) string {
	if len(id) <= 8 {
		return strings.Repeat("*", len(id))
	}
	return id[:4] + "****" + id[len(id)-3:]
}

// trailScopes lists the accounts and regions whose trails are read:
// accounts.json's, or the one configured account in the default region.
func trailScopes(accounts AccountDirectory, defaultAccount, defaultRegion string) func() []trail.Scope {
	return func() []trail.Scope {
		if accs := accounts.Accounts(); accs != nil {
			out := make([]trail.Scope, 0, len(accs))
			for _, a := range accs {
				out = append(out, trail.Scope{AccountID: a.ID, Regions: a.Regions})
			}
			return out
		}
		return []trail.Scope{{AccountID: cmp.Or(accounts.DefaultAccountID(), defaultAccount), Regions: []string{defaultRegion}}}
	}
}

// newTrail builds the reconciliation and registers its worker and its
// periodic job with the executor's queue (ec), run by the leader.
func newTrail(cfg TrailConfig, requests *lifecycle.Service, clients *rdsClients, limiter func() *quota.Limiter,
	scopes func() []trail.Scope, ec *executor.Config, log *slog.Logger) error {
	if cfg.Off {
		return nil
	}
	r, err := trail.New(trail.Config{Requests: requests, Scopes: scopes, Interval: cfg.Interval, Lookback: cfg.Lookback,
		Source: lazyTrailSource{clients: clients, limiter: limiter}, Logger: log.With(slog.String("component", "trail"))})
	if err != nil {
		return err
	}
	extra := ec.Extra
	ec.Extra = func(w *river.Workers) error {
		if extra != nil {
			if err := extra(w); err != nil {
				return err
			}
		}
		return river.AddWorkerSafely(w, &trail.Worker{R: r})
	}
	ec.ExtraPeriodic = append(ec.ExtraPeriodic, river.NewPeriodicJob(river.PeriodicInterval(r.Interval()),
		func() (river.JobArgs, *river.InsertOpts) {
			// One read at a time: a run slower than the interval (LookupEvents'
			// quota is 2/s) must not pile up runs behind it.
			return trail.Args{}, &river.InsertOpts{Queue: lifecycle.ReleaseQueue, MaxAttempts: 1,
				UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{rivertype.JobStateAvailable,
					rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled, rivertype.JobStateRetryable}}}
		}, &river.PeriodicJobOpts{RunOnStart: true}))
	return nil
}

// lazyTrailSource takes the executor's limiter when it exists: the
// reconciliation is configured before the executor is built.
type lazyTrailSource struct {
	clients *rdsClients
	limiter func() *quota.Limiter
}

func (s lazyTrailSource) Events(ctx context.Context, accountID, regionID, name string, from, to time.Time) ([]lifecycle.TrailEvent, error) {
	return trailSource{clients: s.clients, limiter: s.limiter()}.Events(ctx, accountID, regionID, name, from, to)
}
