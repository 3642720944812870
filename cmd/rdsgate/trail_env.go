package main

import (
	"fmt"
	"strings"

	"github.com/rdsgate/rdsgate/internal/app"
	"github.com/rdsgate/rdsgate/internal/trail"
)

// The ActionTrail reconciliation's settings (docs/BYPASS.md).
const (
	envTrailInterval       = "RDSGATE_TRAIL_INTERVAL"       // how often the trails are read (5m; "off" disables)
	envTrailLookback       = "RDSGATE_TRAIL_LOOKBACK"       // how far back each read reaches before the last one's end (30m)
	envActionTrailEndpoint = "RDSGATE_ACTIONTRAIL_ENDPOINT" // host[:port] of ActionTrail; default the region's
)

// trailConfigFromEnv reads the reconciliation's settings.
func trailConfigFromEnv(getenv func(string) string) (app.TrailConfig, error) {
	var cfg app.TrailConfig
	if strings.EqualFold(strings.TrimSpace(getenv(envTrailInterval)), "off") {
		cfg.Off = true
	} else {
		var err error
		if cfg.Interval, err = envDuration(getenv, envTrailInterval, trail.DefaultInterval); err != nil {
			return cfg, err
		}
	}
	var err error
	if cfg.Lookback, err = envDuration(getenv, envTrailLookback, trail.DefaultLookback); err != nil {
		return cfg, err
	}
	cfg.Endpoint = envOrFunc(getenv, envActionTrailEndpoint, "")
	if strings.Contains(cfg.Endpoint, "/") {
		return cfg, fmt.Errorf("%s=%q: want host[:port] without scheme or path", envActionTrailEndpoint, cfg.Endpoint)
	}
	return cfg, nil
}
