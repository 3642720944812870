package app

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/aliyun/credentials-go/credentials"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/executor"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/quota"
	"github.com/rdsgate/rdsgate/internal/rdssim"
	"github.com/rdsgate/rdsgate/internal/request"
)

// Development credentials of the simulator: not secrets, they only open the
// local simulator.
const (
	SimAccessKeyID     = "LTAIsimdev00000000000000"
	SimAccessKeySecret = "sim-dev-secret"
	SimAccountID       = "1234567890123456"
)

// DefaultRegionID is the region of calls whose request names none.
const DefaultRegionID = "cn-hangzhou"

// RDSConfig says where the RDS API is and with which credential.
type RDSConfig struct {
	// Endpoint (host[:port]), when set, receives every region's calls;
	// otherwise each region gets the endpoint the official SDK resolves.
	Endpoint string
	// Protocol is https (default) or http.
	Protocol string
	// RegionID is the default region (DefaultRegionID).
	RegionID string
	// CallTimeout bounds one call (executor.DefaultCallTimeout).
	CallTimeout time.Duration
	// Credential signs the calls; nil means credentials-go's default chain
	// (ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET, OIDC role, profile, ECS role…).
	// With accounts.json it is the base credential that assumes each
	// account's role.
	Credential credentials.Credential
	// STSEndpoint is STS's host[:port] for AssumeRole (RDSGATE_STS_ENDPOINT);
	// empty: credentials-go's (sts.aliyuncs.com, or the region of
	// ALIBABA_CLOUD_STS_REGION).
	STSEndpoint string
	// RootCAs are the roots the RDS clients verify the endpoint with: the
	// system's plus RDSGATE_CA_FILE (aliyun.LoadRootCAs). nil: the
	// system's. credentials-go's own calls (STS) see them only through
	// aliyun.SetDefaultRootCAs, which cmd/rdsgate calls at start.
	RootCAs *x509.CertPool
	// TrailEndpoint is ActionTrail's host[:port] (RDSGATE_ACTIONTRAIL_ENDPOINT,
	// through TrailConfig.Endpoint); empty: the region's.
	TrailEndpoint string
}

// AccountDirectory is what the RDS wiring needs of the policy engine's
// accounts.json: *policy.Engine implements it.
type AccountDirectory interface {
	// Accounts are accounts.json's, nil without one.
	Accounts() []policy.Account
	// Account returns a configured account; false for any other id.
	Account(id string) (policy.Account, bool)
	// DefaultAccountID is the account of requests that name none.
	DefaultAccountID() string
	// EnvironmentOf names an instance's environment.
	EnvironmentOf(accountID, regionID, instanceID string) string
}

// ErrAccountNotConfigured is returned for a call on behalf of an account
// that accounts.json does not list.
var ErrAccountNotConfigured = errors.New("account not configured in accounts.json")

// rdsClients builds the RDS clients, per account, region and role session,
// through one aliyun.Clients (a bounded cache; roles assumed once per
// account and session). The base credential is resolved at start, so that
// a deployment without usable credentials fails then, not at its first
// approved request.
type rdsClients struct {
	set      *aliyun.Clients
	accounts AccountDirectory // nil: the base credential for every call
}

func newRDSClients(cfg RDSConfig, log *slog.Logger) (*rdsClients, error) {
	base := aliyun.Config{Endpoint: cfg.Endpoint, Protocol: cfg.Protocol, RegionID: cfg.RegionID,
		Timeout: cfg.CallTimeout, Logger: log, Credential: cfg.Credential, RootCAs: cfg.RootCAs}
	if base.Protocol == "" {
		base.Protocol = "https"
	}
	if base.RegionID == "" {
		base.RegionID = DefaultRegionID
	}
	if base.Timeout == 0 {
		base.Timeout = executor.DefaultCallTimeout
	}
	if base.Credential == nil {
		cred, err := credentials.NewCredential(nil)
		if err != nil {
			return nil, fmt.Errorf("alibaba cloud credentials: %w", err)
		}
		base.Credential = cred
	}
	if _, err := base.Credential.GetCredential(); err != nil {
		return nil, fmt.Errorf("alibaba cloud credentials: none usable (set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, or another source of the default chain): %w", err)
	}
	set, err := aliyun.NewClients(aliyun.ClientsConfig{Base: base, STSEndpoint: cfg.STSEndpoint, TrailEndpoint: cfg.TrailEndpoint})
	if err != nil {
		return nil, fmt.Errorf("rds client: %w", err)
	}
	return &rdsClients{set: set}, nil
}

// client returns the base credential's client for a region.
func (c *rdsClients) client(regionID string) (*aliyun.Client, error) {
	cl, err := c.set.Client("", regionID, "")
	if err != nil {
		return nil, fmt.Errorf("rds client: %w", err)
	}
	return cl, nil
}

// roleOf returns the role calls on behalf of accountID assume: "" (the base
// credential) for an empty id or without accounts.json, the account's
// role_arn with it, and ErrAccountNotConfigured for an account it does not
// list.
func (c *rdsClients) roleOf(accountID string) (string, error) {
	if accountID == "" || c.accounts == nil {
		return "", nil
	}
	if a, ok := c.accounts.Account(accountID); ok {
		return a.RoleARN, nil
	}
	if c.accounts.Accounts() == nil {
		return "", nil
	}
	return "", fmt.Errorf("account %s: %w", accountID, errors.Join(ErrAccountNotConfigured, executor.ErrUnknownAccount))
}

// forAccount returns the client of accountID in regionID whose calls act
// in the role session session (made to fit STS's RoleSessionName).
func (c *rdsClients) forAccount(accountID, regionID, session string) (*aliyun.Client, error) {
	role, err := c.roleOf(accountID)
	if err != nil {
		return nil, err
	}
	cl, err := c.set.Client(role, regionID, session)
	if err != nil {
		return nil, fmt.Errorf("rds client: %w", err)
	}
	return cl, nil
}

// clientFor is executor.Config.ClientFor: the request's account, region
// and role session (its id, so that the account's ActionTrail names the
// rdsgate request behind each call).
func (c *rdsClients) clientFor(k executor.ClientKey) (executor.Client, error) {
	cl, err := c.forAccount(k.AccountID, k.RegionID, k.Session)
	if err != nil {
		return nil, err
	}
	return cl, nil
}

// instanceLookup is lifecycle.InstanceLookup over the RDS API. Each call
// takes a slot of the account's shared DescribeDBInstanceNetInfo quota, so
// that look-ups and the executor's reconciliation checks never exceed it
// together.
type instanceLookup struct {
	clients *rdsClients
	limiter *quota.Limiter
}

// LookupSession is the STS role session of instance look-ups.
const LookupSession = "rdsgate-lookup"

// NetInfo is lifecycle.InstanceLookup: on behalf of account accountID (""
// the default), with its role and a slot of its quota.
func (l instanceLookup) NetInfo(ctx context.Context, accountID, regionID, instanceID string) (lifecycle.NetInfo, error) {
	c, err := l.clients.forAccount(accountID, regionID, LookupSession)
	if err != nil {
		return lifecycle.NetInfo{}, err
	}
	if err := l.limiter.For(accountID).Wait(ctx, request.OpDescribe); err != nil {
		return lifecycle.NetInfo{}, err
	}
	resp, err := c.DescribeDBInstanceNetInfo(ctx, aliyun.DescribeDBInstanceNetInfoRequest{DBInstanceId: instanceID})
	var ae *aliyun.APIError
	if errors.As(err, &ae) && ae.Code != "" {
		msg := documentedMessage(ae.Code)
		if msg == "" {
			msg = ae.Message
		}
		return lifecycle.NetInfo{}, &lifecycle.LookupError{Code: ae.Code, Message: msg, RequestID: ae.RequestID}
	}
	if err != nil {
		return lifecycle.NetInfo{}, err
	}
	out := lifecycle.NetInfo{InstanceNetworkType: resp.InstanceNetworkType}
	if nt, err := aliyun.ReleaseNetworkType(resp.InstanceNetworkType); err == nil {
		out.NetworkType = nt
	}
	for _, n := range resp.DBInstanceNetInfos.DBInstanceNetInfo {
		out.Endpoints = append(out.Endpoints, lifecycle.Endpoint{ConnectionString: n.ConnectionString, IPType: n.IPType,
			Port: n.Port, Type: n.ConnectionStringType})
	}
	return out, nil
}

// documentedMessage is the message Alibaba Cloud documents for an error
// code, "" for a code the catalogue does not know.
func documentedMessage(code string) string {
	if e, ok := aliyun.LookupError(code); ok {
		return e.Message
	}
	return ""
}

// simTrust is the CA of the in-process simulators, one per process, and
// the roots that trust it: the system's and it. The first call installs
// those roots for credentials-go's STS calls too (aliyun.SetDefaultRootCAs
// writes the shared default transport: once, before the simulator answers).
var simTrust = func() func() (*rdssim.CA, *x509.CertPool, error) {
	var (
		once sync.Once
		ca   *rdssim.CA
		pool *x509.CertPool
		err  error
	)
	return func() (*rdssim.CA, *x509.CertPool, error) {
		once.Do(func() {
			if ca, err = rdssim.NewCA(); err != nil {
				err = fmt.Errorf("simulator CA: %w", err)
				return
			}
			// Keep roots someone installed before (RDSGATE_CA_FILE, a test's).
			if t, ok := http.DefaultTransport.(*http.Transport); ok && t.TLSClientConfig != nil && t.TLSClientConfig.RootCAs != nil {
				pool = t.TLSClientConfig.RootCAs.Clone()
			} else if pool, _ = x509.SystemCertPool(); pool == nil {
				pool = x509.NewCertPool()
			}
			pool.AppendCertsFromPEM(ca.CertPEM())
			err = aliyun.SetDefaultRootCAs(pool)
		})
		return ca, pool, err
	}
}()

// startSimulator serves the simulator, with the example instances and the
// development key, on a free loopback port, and returns it, its host:port
// and the func that stops it.
func startSimulator(log *slog.Logger) (*rdssim.Server, string, func(), error) {
	instances, err := rdssim.ExampleInstances()
	if err != nil {
		return nil, "", nil, err
	}
	ca, _, err := simTrust()
	if err != nil {
		return nil, "", nil, err
	}
	sim, err := rdssim.New(rdssim.Config{
		Accounts:  []rdssim.Account{{AccessKeyID: SimAccessKeyID, AccessKeySecret: SimAccessKeySecret, AccountID: SimAccountID}},
		Instances: instances,
		Logger:    log.With(slog.String("component", "rdssim")),
		CA:        ca,
	})
	if err != nil {
		return nil, "", nil, fmt.Errorf("simulator: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, fmt.Errorf("simulator: listen: %w", err)
	}
	// TLS and plain HTTP on one port: credentials-go calls STS over HTTPS
	// only, so accounts.json's roles are assumed at the simulator over TLS.
	ln = sim.Listener(ln)
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("simulator stopped", slog.Any("err", err))
		}
	}()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	return sim, ln.Addr().String(), stop, nil
}
