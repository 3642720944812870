package app

import (
	"context"
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
	Credential credentials.Credential
}

// rdsClients builds the RDS clients: one for the configured endpoint, or
// one per region, created on first use and sharing one credential. The
// credential is resolved at start, so that a deployment without usable
// credentials fails then, not at its first approved request.
type rdsClients struct {
	base aliyun.Config

	mu      sync.Mutex
	clients map[string]*aliyun.Client
}

func newRDSClients(cfg RDSConfig, log *slog.Logger) (*rdsClients, error) {
	base := aliyun.Config{Endpoint: cfg.Endpoint, Protocol: cfg.Protocol, RegionID: cfg.RegionID,
		Timeout: cfg.CallTimeout, Logger: log, Credential: cfg.Credential}
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
	c := &rdsClients{base: base, clients: map[string]*aliyun.Client{}}
	if _, err := c.client(base.RegionID); err != nil { // validates the settings
		return nil, err
	}
	return c, nil
}

// client returns the client for a region.
func (c *rdsClients) client(regionID string) (*aliyun.Client, error) {
	key := regionID
	if c.base.Endpoint != "" {
		key = "" // one endpoint for all regions
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients[key]; ok {
		return cl, nil
	}
	cfg := c.base
	if regionID != "" {
		cfg.RegionID = regionID
	}
	cl, err := aliyun.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("rds client: %w", err)
	}
	c.clients[key] = cl
	return cl, nil
}

// clientFor is executor.Config.ClientFor.
func (c *rdsClients) clientFor(regionID string) (executor.Client, error) {
	cl, err := c.client(regionID)
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

func (l instanceLookup) NetInfo(ctx context.Context, regionID, instanceID string) (lifecycle.NetInfo, error) {
	c, err := l.clients.client(regionID)
	if err != nil {
		return lifecycle.NetInfo{}, err
	}
	if err := l.limiter.Wait(ctx, request.OpDescribe); err != nil {
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

// startSimulator serves the simulator, with the example instances and the
// development key, on a free loopback port, and returns it, its host:port
// and the func that stops it.
func startSimulator(log *slog.Logger) (*rdssim.Server, string, func(), error) {
	instances, err := rdssim.ExampleInstances()
	if err != nil {
		return nil, "", nil, err
	}
	sim, err := rdssim.New(rdssim.Config{
		Accounts:  []rdssim.Account{{AccessKeyID: SimAccessKeyID, AccessKeySecret: SimAccessKeySecret, AccountID: SimAccountID}},
		Instances: instances,
		Logger:    log.With(slog.String("component", "rdssim")),
	})
	if err != nil {
		return nil, "", nil, fmt.Errorf("simulator: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, fmt.Errorf("simulator: listen: %w", err)
	}
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
