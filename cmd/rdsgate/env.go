package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/app"
	"github.com/rdsgate/rdsgate/internal/executor"
	"github.com/rdsgate/rdsgate/internal/fleet"
	"github.com/rdsgate/rdsgate/internal/quota"
	"github.com/rdsgate/rdsgate/internal/request"
)

// Environment variables of the executor and its RDS client. Credentials are
// not among them: they come from the credentials-go default chain
// (ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET / _SECURITY_TOKEN, OIDC role, CLI
// profile, ~/.alibabacloud/credentials, ECS RAM role, credentials URI).
const (
	envRDSEndpoint     = "RDSGATE_RDS_ENDPOINT"      // host[:port]; default: the region's endpoint
	envRDSProtocol     = "RDSGATE_RDS_PROTOCOL"      // https (default) or http
	envRegionID        = "RDSGATE_REGION_ID"         // default region, cn-hangzhou
	envRDSRate         = "RDSGATE_RDS_RATE"          // ReleaseInstanceConnection calls/s, default 10
	envRDSDescribeRate = "RDSGATE_RDS_DESCRIBE_RATE" // DescribeDBInstanceNetInfo calls/s, default 10
	envRDSRateMargin   = "RDSGATE_RDS_RATE_MARGIN"   // slot spacing margin, default 0.04
	envRDSCallTimeout  = "RDSGATE_RDS_CALL_TIMEOUT"  // one call, default 10s
	envExecWorkers     = "RDSGATE_EXECUTOR_WORKERS"  // jobs at once per process, default 20
	envExecAttempts    = "RDSGATE_EXECUTOR_MAX_ATTEMPTS"
	envExecRescue      = "RDSGATE_EXECUTOR_RESCUE_AFTER" // default 1m
	envRDSListRate     = "RDSGATE_RDS_LIST_RATE"         // DescribeDBInstances calls/s, default 10
	envSTSEndpoint     = "RDSGATE_STS_ENDPOINT"          // host[:port] of STS; default credentials-go's
	envCAFile          = "RDSGATE_CA_FILE"               // PEM CA trusted beside the system's roots
)

// credentialEnv are the variables that make the default chain find
// credentials without files; dev uses the simulator when none is set.
var credentialEnv = []string{
	"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ROLE_ARN", "ALIBABA_CLOUD_CREDENTIALS_URI",
	"ALIBABA_CLOUD_PROFILE", "ALIBABA_CLOUD_CREDENTIALS_FILE", "ALIBABA_CLOUD_ECS_METADATA",
}

// hasAlibabaCredentials reports whether the environment points the
// credentials chain at real credentials.
func hasAlibabaCredentials(getenv func(string) string) bool {
	for _, k := range credentialEnv {
		if getenv(k) != "" {
			return true
		}
	}
	return false
}

// rdsConfigFromEnv reads where the RDS API is; the credential is left to
// the default chain.
func rdsConfigFromEnv(getenv func(string) string) (app.RDSConfig, error) {
	timeout, err := envDuration(getenv, envRDSCallTimeout, executor.DefaultCallTimeout)
	if err != nil {
		return app.RDSConfig{}, err
	}
	cfg := app.RDSConfig{
		Endpoint:    getenv(envRDSEndpoint),
		Protocol:    envOrFunc(getenv, envRDSProtocol, "https"),
		RegionID:    envOrFunc(getenv, envRegionID, app.DefaultRegionID),
		CallTimeout: timeout,
		STSEndpoint: envOrFunc(getenv, envSTSEndpoint, ""),
	}
	if strings.Contains(cfg.STSEndpoint, "/") {
		return app.RDSConfig{}, fmt.Errorf("%s=%q: want host[:port] without scheme or path", envSTSEndpoint, cfg.STSEndpoint)
	}
	if f := envOrFunc(getenv, envCAFile, ""); f != "" {
		if cfg.RootCAs, err = aliyun.LoadRootCAs(f); err != nil {
			return app.RDSConfig{}, fmt.Errorf("%s: %w", envCAFile, err)
		}
	}
	return cfg, nil
}

// executorConfigFromEnv reads the executor's tunables; zero values take
// the package defaults.
func executorConfigFromEnv(getenv func(string) string) (executor.Config, error) {
	var cfg executor.Config
	var err error
	limits := map[string]quota.Limit{}
	for env, op := range map[string]string{envRDSRate: request.OpRelease, envRDSDescribeRate: request.OpDescribe,
		envRDSListRate: fleet.OpDescribeInstances} {
		if v := getenv(env); v != "" {
			rate, perr := strconv.ParseFloat(v, 64)
			if perr != nil || rate <= 0 {
				return cfg, fmt.Errorf("%s=%q: want calls per second > 0", env, v)
			}
			limits[op] = quota.Limit{PerSecond: rate}
		}
	}
	cfg.Limits = limits
	if v := getenv(envRDSRateMargin); v != "" {
		if cfg.RateMargin, err = strconv.ParseFloat(v, 64); err != nil || cfg.RateMargin < 0 || cfg.RateMargin > 1 {
			return cfg, fmt.Errorf("%s=%q: want a fraction between 0 and 1", envRDSRateMargin, v)
		}
	}
	for env, dst := range map[string]*int{envExecWorkers: &cfg.Workers, envExecAttempts: &cfg.MaxAttempts} {
		if v := getenv(env); v != "" {
			if *dst, err = strconv.Atoi(v); err != nil || *dst < 1 {
				return cfg, fmt.Errorf("%s=%q: want a whole number >= 1", env, v)
			}
		}
	}
	if cfg.RescueAfter, err = envDuration(getenv, envExecRescue, 0); err != nil {
		return cfg, err
	}
	return cfg, nil
}
