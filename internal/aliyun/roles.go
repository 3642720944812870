package aliyun

import (
	"container/list"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alibabacloud-go/tea/tea"
	"github.com/aliyun/credentials-go/credentials"
	"github.com/aliyun/credentials-go/credentials/providers"
)

// Defaults of ClientsConfig.
const (
	// DefaultMaxClients bounds the clients a Clients keeps: one per role,
	// endpoint and session in use.
	DefaultMaxClients = 512
	// DefaultMaxRoleSessions bounds the assumed-role credentials a Clients
	// keeps: one per role and session.
	DefaultMaxRoleSessions = 256
	// DefaultRoleDuration is how long an assumed role's credentials last
	// (STS's DurationSeconds; credentials-go renews them three minutes
	// before they expire).
	DefaultRoleDuration = time.Hour
	// DefaultRoleSessionName names the sessions of calls that serve no
	// request (look-ups, fleet scans).
	DefaultRoleSessionName = "rdsgate"
)

// ClientsConfig configures a Clients.
type ClientsConfig struct {
	// Base is every client's configuration: endpoint (or the regions'
	// default endpoints when empty), protocol, default region, timeout,
	// logger and root CAs. Its Credential, or its static keys, or
	// credentials-go's default chain when neither is set, is the base
	// credential: it signs the calls that assume no role and assumes the
	// roles. Base.Transport is ignored: the clients share one transport.
	Base Config
	// STSEndpoint is STS's host[:port] (RDSGATE_STS_ENDPOINT); empty means
	// the one credentials-go picks: sts.aliyuncs.com, or
	// sts.<ALIBABA_CLOUD_STS_REGION>.aliyuncs.com (sts-vpc.… with
	// ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED=true). STS is always called over
	// HTTPS.
	STSEndpoint string
	// TrailEndpoint is ActionTrail's host[:port] (RDSGATE_ACTIONTRAIL_ENDPOINT)
	// for Trail; empty means DefaultTrailEndpoint of each client's region.
	// It is called with Base.Protocol.
	TrailEndpoint string
	// RoleDuration is how long assumed credentials last (DefaultRoleDuration;
	// at least 15 minutes, at most the role's MaxSessionDuration).
	RoleDuration time.Duration
	// MaxClients and MaxRoleSessions bound the caches (DefaultMaxClients,
	// DefaultMaxRoleSessions); the least recently used entry goes first.
	MaxClients      int
	MaxRoleSessions int
}

// Clients hands out RDS clients per role, region and role session, built
// once and kept in a bounded cache. A client of a role signs its calls with
// temporary credentials of that role, assumed with the base credential
// through STS AssumeRole (credentials-go's RAM-role-ARN provider) once per
// role and session, renewed before they expire, and shared by the
// session's clients of every region. It is safe for concurrent use.
type Clients struct {
	base        Config
	baseCred    credentials.Credential
	stsEndpoint string
	// trailEndpoint is ClientsConfig.TrailEndpoint.
	trailEndpoint string
	duration      time.Duration
	transport     *http.Transport
	assumes       atomic.Int64

	mu       sync.Mutex
	clients  *lru[clientKey, *Client]
	sessions *lru[sessionKey, credentials.Credential]
}

type clientKey struct{ roleARN, endpoint, session string }
type sessionKey struct{ roleARN, session string }

// NewClients validates cfg and returns a Clients. It contacts neither STS
// nor the API.
func NewClients(cfg ClientsConfig) (*Clients, error) {
	base := cfg.Base
	base.Transport = nil
	if base.Credential == nil {
		// Resolve the base credential once, for every client: New would
		// otherwise build a default chain per client.
		probe, err := New(base)
		if err != nil {
			return nil, err
		}
		base.Credential, base.AccessKeyID, base.AccessKeySecret = probe.cred, "", ""
	}
	if strings.Contains(cfg.STSEndpoint, "/") {
		return nil, fmt.Errorf("aliyun config: STS endpoint %q: want host[:port] without scheme or path", cfg.STSEndpoint)
	}
	if strings.Contains(cfg.TrailEndpoint, "/") {
		return nil, fmt.Errorf("aliyun config: ActionTrail endpoint %q: want host[:port] without scheme or path", cfg.TrailEndpoint)
	}
	duration := cfg.RoleDuration
	if duration == 0 {
		duration = DefaultRoleDuration
	}
	if duration < 15*time.Minute {
		return nil, fmt.Errorf("aliyun config: role duration %s: want at least 15m", duration)
	}
	c := &Clients{
		base:          base,
		baseCred:      base.Credential,
		stsEndpoint:   cfg.STSEndpoint,
		trailEndpoint: cfg.TrailEndpoint,
		duration:      duration,
		transport:     NewTransport(base.RootCAs),
		clients:       newLRU[clientKey, *Client](cfgOr(cfg.MaxClients, DefaultMaxClients)),
		sessions:      newLRU[sessionKey, credentials.Credential](cfgOr(cfg.MaxRoleSessions, DefaultMaxRoleSessions)),
	}
	base.Transport = c.transport
	c.base = base
	if _, err := New(base); err != nil { // validates endpoint, protocol, timeout
		return nil, err
	}
	return c, nil
}

func cfgOr(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// BaseCredential is the credential that signs calls without a role and
// assumes the roles.
func (c *Clients) BaseCredential() credentials.Credential { return c.baseCred }

// AssumeRoleCalls counts the AssumeRole calls made so far (successful or
// not): one per role and session, plus one per renewal.
func (c *Clients) AssumeRoleCalls() int64 { return c.assumes.Load() }

// Client returns the client for regionID ("" for the base configuration's
// region) that acts as roleARN in the role session session. An empty
// roleARN means the base credential itself (session is then ignored). The
// session name is made to fit STS's rules (RoleSessionName).
func (c *Clients) Client(roleARN, regionID, session string) (*Client, error) {
	cfg := c.base
	if regionID != "" {
		cfg.RegionID = regionID
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		if cfg.RegionID == "" {
			return nil, errors.New("aliyun config: endpoint or region id is required")
		}
		endpoint = DefaultEndpoint(cfg.RegionID)
	}
	if roleARN == "" {
		session = ""
	} else {
		session = RoleSessionName(session)
	}
	// The region goes into the key too: a client's region names it in
	// logs, and the V3 signature does not depend on it.
	return c.cached(clientKey{roleARN: roleARN, endpoint: endpoint + "|" + cfg.RegionID, session: session}, cfg)
}

// cached returns the client of key, built from cfg (with key's role
// credential) on first use.
func (c *Clients) cached(key clientKey, cfg Config) (*Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients.get(key); ok {
		return cl, nil
	}
	if key.roleARN != "" {
		cred, err := c.roleCredentialLocked(key.roleARN, key.session)
		if err != nil {
			return nil, err
		}
		cfg.Credential = cred
	}
	cl, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if key.roleARN != "" {
		cl.credKind = "role " + key.roleARN + " session " + key.session
	}
	c.clients.put(key, cl)
	return cl, nil
}

// RoleCredential returns the credential of roleARN's session (made to fit
// RoleSessionName), assumed on first use with the base credential and
// renewed three minutes before it expires.
func (c *Clients) RoleCredential(roleARN, session string) (credentials.Credential, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.roleCredentialLocked(roleARN, RoleSessionName(session))
}

func (c *Clients) roleCredentialLocked(roleARN, session string) (credentials.Credential, error) {
	key := sessionKey{roleARN: roleARN, session: session}
	if cred, ok := c.sessions.get(key); ok {
		return cred, nil
	}
	p, err := providers.NewRAMRoleARNCredentialsProviderBuilder().
		WithCredentialsProvider(countingProvider{cred: c.baseCred, calls: &c.assumes}).
		WithRoleArn(roleARN).
		WithRoleSessionName(session).
		WithDurationSeconds(int(c.duration / time.Second)).
		WithStsEndpoint(c.stsEndpoint).
		Build()
	if err != nil {
		return nil, fmt.Errorf("assume role %s: %w", roleARN, err)
	}
	cred := roleCredential{Credential: credentials.FromCredentialsProvider("ram_role_arn", &syncProvider{p: p}), roleARN: roleARN}
	c.sessions.put(key, cred)
	return cred, nil
}

// roleCredential marks a credential as an assumed role's, so that call can
// tell a failed AssumeRole from a missing base credential.
type roleCredential struct {
	credentials.Credential
	roleARN string
}

// syncProvider serialises GetCredentials: credentials-go's RAM-role-ARN
// provider keeps its session without a lock, so concurrent first calls
// would each call AssumeRole (and race). Under the lock the first caller
// assumes the role and the others then find its credentials.
type syncProvider struct {
	mu sync.Mutex
	p  providers.CredentialsProvider
}

func (s *syncProvider) GetCredentials() (*providers.Credentials, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.p.GetCredentials()
}

func (s *syncProvider) GetProviderName() string { return s.p.GetProviderName() }

// countingProvider hands the base credential to the RAM-role-ARN provider,
// which asks for it exactly once before each AssumeRole call: it counts
// them.
type countingProvider struct {
	cred  credentials.Credential
	calls *atomic.Int64
}

func (p countingProvider) GetCredentials() (*providers.Credentials, error) {
	p.calls.Add(1)
	m, err := p.cred.GetCredential()
	if err != nil {
		return nil, err
	}
	return &providers.Credentials{
		AccessKeyId:     tea.StringValue(m.AccessKeyId),
		AccessKeySecret: tea.StringValue(m.AccessKeySecret),
		SecurityToken:   tea.StringValue(m.SecurityToken),
		ProviderName:    tea.StringValue(m.ProviderName),
	}, nil
}

func (p countingProvider) GetProviderName() string { return "rdsgate_base" }

// RoleSessionName makes s a valid STS RoleSessionName: 2 to 64 characters
// of letters, digits and . @ - _ (characters outside that set become "-",
// longer names are cut at 64). An empty s is DefaultRoleSessionName; a
// one-character one is prefixed with "rdsgate-".
func RoleSessionName(s string) string {
	if s == "" {
		return DefaultRoleSessionName
	}
	b := []byte(s)
	for i, ch := range b {
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9',
			ch == '.', ch == '@', ch == '-', ch == '_':
		default:
			b[i] = '-'
		}
	}
	s = string(b)
	if len(s) < 2 {
		s = DefaultRoleSessionName + "-" + s
	}
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// assumeRoleRetryable tells whether a failed AssumeRole may succeed if
// tried again: when STS was not reached or did not answer (credentials-go
// returns the transport's error), not when it refused (its error then
// carries STS's answer).
func assumeRoleRetryable(err error) bool {
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne)
}

// lru is a map bounded to max entries that drops the least recently used.
// Its caller synchronises.
type lru[K comparable, V any] struct {
	max   int
	order *list.List // front: most recent; values are K
	items map[K]lruItem[V]
}

type lruItem[V any] struct {
	v   V
	elt *list.Element
}

func newLRU[K comparable, V any](max int) *lru[K, V] {
	return &lru[K, V]{max: max, order: list.New(), items: map[K]lruItem[V]{}}
}

func (l *lru[K, V]) get(k K) (V, bool) {
	it, ok := l.items[k]
	if !ok {
		var zero V
		return zero, false
	}
	l.order.MoveToFront(it.elt)
	return it.v, true
}

func (l *lru[K, V]) put(k K, v V) {
	if it, ok := l.items[k]; ok {
		l.order.MoveToFront(it.elt)
		l.items[k] = lruItem[V]{v: v, elt: it.elt}
		return
	}
	l.items[k] = lruItem[V]{v: v, elt: l.order.PushFront(k)}
	for l.order.Len() > l.max {
		last := l.order.Back()
		l.order.Remove(last)
		delete(l.items, last.Value.(K))
	}
}

func (l *lru[K, V]) len() int { return l.order.Len() }

// Cached returns how many clients and role sessions the caches hold.
func (c *Clients) Cached() (clients, sessions int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clients.len(), c.sessions.len()
}
