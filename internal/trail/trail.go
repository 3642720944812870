// Package trail catches releases made around the gate: it reads each
// configured account's ActionTrail, region by region, for the two APIs
// that release a public endpoint (ReleaseInstanceConnection and
// ReleaseInstancePublicConnection), and hands each window's events to
// lifecycle.RecordTrail, which tells rdsgate's own calls (confirmed) from
// the others (bypass.detected).
//
// Events reach the trail minutes after the call, so each read starts
// Lookback before the end of the previous one: windows overlap, and the
// events seen before are recognised by their id and counted once.
package trail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
)

// Release event names: the APIs that release a public endpoint.
const (
	EventReleaseInstanceConnection       = "ReleaseInstanceConnection"
	EventReleaseInstancePublicConnection = "ReleaseInstancePublicConnection"
)

// EventNames are the events the trail is read for.
var EventNames = []string{EventReleaseInstanceConnection, EventReleaseInstancePublicConnection}

// Defaults of Config.
const (
	DefaultInterval = 5 * time.Minute
	DefaultLookback = 30 * time.Minute
)

// Source reads one account's trail in one region: the events named
// eventName between from and to (all pages, within the API's quota).
type Source interface {
	Events(ctx context.Context, accountID, regionID, eventName string, from, to time.Time) ([]lifecycle.TrailEvent, error)
}

// Scope is an account and the regions whose trails are read.
type Scope struct {
	AccountID string
	Regions   []string
}

// Config configures a Reconciler.
type Config struct {
	Requests *lifecycle.Service
	Source   Source
	// Scopes lists the accounts and regions to read, asked at every run
	// (accounts.json is reloaded).
	Scopes func() []Scope
	// Interval is how often the trails are read (RDSGATE_TRAIL_INTERVAL).
	Interval time.Duration
	// Lookback is how far before the previous read's end a read starts
	// (RDSGATE_TRAIL_LOOKBACK): at least the trail's delay.
	Lookback time.Duration
	// Now defaults to time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Reconciler reads the trails. It is safe for concurrent use; runs of one
// account and region are recorded one after the other.
type Reconciler struct {
	cfg Config
	log *slog.Logger
}

// New returns a Reconciler.
func New(cfg Config) (*Reconciler, error) {
	if cfg.Requests == nil || cfg.Source == nil || cfg.Scopes == nil {
		return nil, errors.New("trail: Requests, Source and Scopes are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Lookback <= 0 {
		cfg.Lookback = DefaultLookback
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Reconciler{cfg: cfg, log: cfg.Logger}, nil
}

// Interval is how often Run should be called.
func (r *Reconciler) Interval() time.Duration { return r.cfg.Interval }

// Result sums up a run.
type Result struct {
	Windows   int
	Events    int
	Bypasses  int
	Confirmed int
}

// Run reads every scope's trail once: from Lookback before the previous
// read's end (or before now, the first time) to now. A scope that fails
// is logged and returned joined with the others' failures; the others are
// read all the same, and the failed one is read again, from its old
// cursor, at the next run.
func (r *Reconciler) Run(ctx context.Context) (Result, error) {
	var (
		res  Result
		errs []error
	)
	for _, sc := range r.cfg.Scopes() {
		for _, region := range sc.Regions {
			n, err := r.read(ctx, sc.AccountID, region)
			if err != nil {
				r.log.WarnContext(ctx, "trail read failed", slog.String("account_id", sc.AccountID),
					slog.String("region_id", region), slog.Any("err", err))
				errs = append(errs, fmt.Errorf("account %s region %s: %w", sc.AccountID, region, err))
				continue
			}
			res.Windows++
			res.Events += n.events
			res.Bypasses += len(n.Bypasses)
			res.Confirmed += n.Confirmed
			for _, b := range n.Bypasses {
				r.log.WarnContext(ctx, "release made around the gate", slog.String("account_id", sc.AccountID),
					slog.String("region_id", region), slog.String("event_name", b.EventName),
					slog.String("db_instance_id", b.DBInstanceID), slog.String("alibaba_request_id", b.AlibabaRequestID),
					slog.String("user", b.UserName), slog.String("source_ip", b.SourceIP))
			}
		}
	}
	return res, errors.Join(errs...)
}

type readResult struct {
	lifecycle.TrailResult
	events int
}

func (r *Reconciler) read(ctx context.Context, accountID, regionID string) (readResult, error) {
	cursor, err := r.cfg.Requests.TrailCursor(ctx, accountID, regionID)
	if err != nil {
		return readResult{}, err
	}
	to := r.cfg.Now().UTC().Truncate(time.Second)
	from := to.Add(-r.cfg.Lookback)
	if !cursor.IsZero() {
		from = cursor.Add(-r.cfg.Lookback)
	}
	read := lifecycle.TrailRead{AccountID: accountID, RegionID: regionID, Until: to}
	for _, name := range EventNames {
		evs, err := r.cfg.Source.Events(ctx, accountID, regionID, name, from, to)
		if err != nil {
			return readResult{}, fmt.Errorf("look up %s events: %w", name, err)
		}
		read.Events = append(read.Events, evs...)
	}
	res, err := r.cfg.Requests.RecordTrail(ctx, read)
	if err != nil {
		return readResult{}, err
	}
	return readResult{TrailResult: res, events: len(read.Events)}, nil
}

// Args is the periodic job that runs the reconciliation (on the queue's
// leader, so one replica reads at a time).
type Args struct{}

// Kind is the job's kind.
func (Args) Kind() string { return "rdsgate.trail" }

// Worker runs Args jobs.
type Worker struct {
	river.WorkerDefaults[Args]
	R *Reconciler
}

// Work runs one reconciliation. A failed scope makes the job fail (River
// retries it); the scopes read are recorded all the same.
func (w *Worker) Work(ctx context.Context, _ *river.Job[Args]) error {
	res, err := w.R.Run(ctx)
	w.R.log.InfoContext(ctx, "trail read", slog.Int("windows", res.Windows), slog.Int("events", res.Events),
		slog.Int("bypasses", res.Bypasses), slog.Int("confirmed", res.Confirmed))
	return err
}

// Timeout bounds a run: a slow trail must not hold the job for ever.
func (w *Worker) Timeout(*river.Job[Args]) time.Duration { return max(time.Minute, w.R.cfg.Interval) }
