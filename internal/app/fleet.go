package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"

	"github.com/rdsgate/rdsgate/internal/fleet"
	"github.com/rdsgate/rdsgate/internal/quota"
	"github.com/rdsgate/rdsgate/internal/request"
	"github.com/rdsgate/rdsgate/internal/web"
)

// FleetScanner lists public endpoints across the configured accounts and
// regions: *fleet.Scanner, as App.Fleet, for the web layer.
type FleetScanner interface {
	Scan(ctx context.Context, f fleet.Filter, emit func(request.Target) error) error
}

// webFleet adapts *fleet.Scanner to the pages' web.FleetScanner: the
// endpoints found, and each account's, region's or instance's failure
// beside them.
type webFleet struct{ s *fleet.Scanner }

func (w webFleet) Scan(ctx context.Context, f web.FleetFilter) (web.FleetScan, error) {
	var out web.FleetScan
	_, err := w.s.Run(ctx, fleet.Filter{AccountID: f.AccountID, RegionID: f.RegionID, Environment: f.Environment},
		fleet.Handlers{Target: func(t request.Target) error { out.Targets = append(out.Targets, t); return nil }})
	var se *fleet.ScanError
	if errors.As(err, &se) {
		for _, fl := range se.Failures {
			out.Failures = append(out.Failures, web.FleetFailure{AccountID: fl.AccountID, RegionID: fl.RegionID,
				InstanceID: fl.InstanceID, Message: fl.Err.Error()})
		}
		return out, nil
	}
	return out, err
}

// FleetSession is the STS role session of fleet scans' calls.
const FleetSession = "rdsgate-fleet-scan"

// FleetConfig configures NewFleet.
type FleetConfig struct {
	// RDS says where the API and STS are, and the base credential.
	RDS RDSConfig
	// Accounts are the policy engine's accounts (*policy.Engine).
	Accounts AccountDirectory
	// Limiter hands out the quota's slots: fleet.QuotaLimiter over the
	// shared limiter (serve), or a fleet.LocalLimiter (the CLI without a
	// database).
	Limiter fleet.Limiter
	// Logger receives the RDS clients' and the scanner's lines; nil
	// discards.
	Logger *slog.Logger
}

// NewFleet builds a fleet scanner with RDS clients of its own, as `rdsgate
// fleet scan` and the server use it: every account's role assumed with the
// base credential (role session FleetSession), the default account and
// accounts without regions scanned in RDS.RegionID.
func NewFleet(cfg FleetConfig) (*fleet.Scanner, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clients, err := newRDSClients(cfg.RDS, log)
	if err != nil {
		return nil, err
	}
	clients.accounts = cfg.Accounts
	return newFleetScanner(clients, cfg.Accounts, cfg.Limiter, cfg.RDS.RegionID, log)
}

func newFleetScanner(clients *rdsClients, dir AccountDirectory, lim fleet.Limiter, region string, log *slog.Logger) (*fleet.Scanner, error) {
	if region == "" {
		region = DefaultRegionID
	}
	s, err := fleet.New(fleet.Config{
		Directory: policyDirectory{dir},
		Client: func(accountID, regionID string) (fleet.API, error) {
			return clients.forAccount(accountID, regionID, FleetSession)
		},
		Limiter:       lim,
		DefaultRegion: region,
		Logger:        log.With(slog.String("component", "fleet")),
	})
	if err != nil {
		return nil, fmt.Errorf("fleet scanner: %w", err)
	}
	return s, nil
}

// policyDirectory is fleet.Directory over the policy engine's accounts.
type policyDirectory struct{ d AccountDirectory }

func (p policyDirectory) Accounts() []fleet.Account {
	accounts := p.d.Accounts()
	if accounts == nil {
		return nil
	}
	out := make([]fleet.Account, len(accounts))
	for i, a := range accounts {
		out[i] = fleet.Account{ID: a.ID, Name: a.Name, RoleARN: a.RoleARN, Regions: a.Regions}
	}
	return out
}

func (p policyDirectory) DefaultAccountID() string { return p.d.DefaultAccountID() }

func (p policyDirectory) EnvironmentOf(accountID, regionID, instanceID string) string {
	return p.d.EnvironmentOf(accountID, regionID, instanceID)
}

// WithFleetLimits returns limits with DescribeDBInstances' quota added when
// it has none (fleet.DefaultDescribeInstancesRate): the shared limiter knows
// only the operations of its Limits, and a scan calls DescribeDBInstances
// besides DescribeDBInstanceNetInfo (whose quota the executor's defaults
// hold). limits is not modified.
func WithFleetLimits(limits map[string]quota.Limit) map[string]quota.Limit {
	out := maps.Clone(limits)
	if out == nil {
		out = map[string]quota.Limit{}
	}
	if _, ok := out[fleet.OpDescribeInstances]; !ok {
		out[fleet.OpDescribeInstances] = quota.Limit{PerSecond: fleet.DefaultDescribeInstancesRate}
	}
	return out
}
