package aliyun

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/aliyun/credentials-go/credentials"
)

// APIVersion is the RDS API version every call uses.
const APIVersion = "2014-08-15"

// DefaultTimeout bounds a call when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Actions called by this package.
const (
	ActionReleaseInstanceConnection   = "ReleaseInstanceConnection"
	ActionDescribeDBInstanceNetInfo   = "DescribeDBInstanceNetInfo"
	ActionDescribeDBInstanceAttribute = "DescribeDBInstanceAttribute"
)

// centralRegions are the regions the generated rds-20140815 SDK maps to the
// central endpoint rds.aliyuncs.com (its EndpointMap).
var centralRegions = map[string]bool{
	"cn-qingdao": true, "cn-beijing": true, "cn-hangzhou": true, "cn-shanghai": true,
	"cn-shenzhen": true, "cn-heyuan": true, "cn-hongkong": true, "ap-southeast-1": true,
	"us-west-1": true, "us-east-1": true, "cn-shanghai-finance-1": true,
	"cn-shenzhen-finance-1": true, "cn-north-2-gov-1": true, "ap-northeast-2-pop": true,
	"cn-beijing-finance-1": true, "cn-beijing-finance-pop": true, "cn-beijing-gov-1": true,
	"cn-beijing-nu16-b01": true, "cn-edge-1": true, "cn-fujian": true,
	"cn-haidian-cm12-c01": true, "cn-hangzhou-bj-b01": true,
	"cn-hangzhou-internal-prod-1": true, "cn-hangzhou-internal-test-1": true,
	"cn-hangzhou-internal-test-2": true, "cn-hangzhou-internal-test-3": true,
	"cn-hangzhou-test-306": true, "cn-hongkong-finance-pop": true, "cn-qingdao-nebula": true,
	"cn-shanghai-et15-b01": true, "cn-shanghai-et2-b01": true, "cn-shanghai-inner": true,
	"cn-shanghai-internal-test-1": true, "cn-shenzhen-inner": true, "cn-shenzhen-st4-d01": true,
	"cn-shenzhen-su18-b01": true, "cn-wuhan": true, "cn-yushanfang": true, "cn-zhangbei": true,
	"cn-zhangbei-na61-b01": true, "cn-zhangjiakou-na62-a01": true, "cn-zhengzhou-nebula-1": true,
	"eu-west-1-oxs": true, "rus-west-1-pop": true,
}

// DefaultEndpoint returns the endpoint the generated rds-20140815 SDK resolves
// for regionID: rds.aliyuncs.com for the regions in its map,
// rds-vpc.cn-hangzhou-finance.aliyuncs.com for cn-hangzhou-finance, and
// rds.<regionID>.aliyuncs.com otherwise.
func DefaultEndpoint(regionID string) string {
	switch {
	case regionID == "cn-hangzhou-finance":
		return "rds-vpc.cn-hangzhou-finance.aliyuncs.com"
	case centralRegions[regionID]:
		return "rds.aliyuncs.com"
	default:
		return "rds." + regionID + ".aliyuncs.com"
	}
}

// Config configures a Client. Secrets in it are masked by String, GoString
// and LogValue.
type Config struct {
	// Endpoint is host[:port]; empty means DefaultEndpoint(RegionID).
	Endpoint string
	// Protocol is "https" (default) or "http" (the local simulator).
	Protocol string
	// RegionID is the region, e.g. "cn-hangzhou". It selects the default
	// endpoint; the V3 signature does not send it.
	RegionID string
	// Timeout bounds every call, through its context; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// AccessKeyID and AccessKeySecret are optional static keys (tests, the
	// simulator). Set both or neither.
	AccessKeyID     string
	AccessKeySecret string
	// Credential is an optional credentials-go credential. When it is nil and
	// no static keys are set, the credentials-go default chain is used
	// (environment, OIDC, CLI profile, INI profile, ECS RAM role, URI).
	Credential credentials.Credential
	// Logger receives one debug line per call; nil discards.
	Logger *slog.Logger
	// RootCAs, when set, are the roots the client verifies the endpoint's
	// certificate with (LoadRootCAs); nil means http.DefaultTransport's
	// (the system's unless SetDefaultRootCAs changed them). Ignored when
	// Transport is set.
	RootCAs *x509.CertPool
	// Transport, when set, carries the calls: clients that share one share
	// its connections (Clients does this). nil means a transport of the
	// client's own, cloned from http.DefaultTransport.
	Transport http.RoundTripper
}

// String describes c with the secret masked.
func (c Config) String() string {
	return fmt.Sprintf("aliyun.Config{Endpoint:%q Protocol:%q RegionID:%q Timeout:%s AccessKeyID:%q AccessKeySecret:%s Credential:%s}",
		c.Endpoint, c.Protocol, c.RegionID, c.Timeout, maskID(c.AccessKeyID), maskSecret(c.AccessKeySecret), credentialKind(c.Credential))
}

// GoString is String, so that %#v does not print the secret.
func (c Config) GoString() string { return c.String() }

// LogValue renders c for slog with the secret masked.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("endpoint", c.Endpoint),
		slog.String("protocol", c.Protocol),
		slog.String("region_id", c.RegionID),
		slog.Duration("timeout", c.Timeout),
		slog.String("access_key_id", maskID(c.AccessKeyID)),
		slog.String("access_key_secret", maskSecret(c.AccessKeySecret)),
		slog.String("credential", credentialKind(c.Credential)),
	)
}

// maskID keeps the first four characters of an AccessKey ID (its "LTAI"
// prefix) so operators can tell keys apart without exposing them.
func maskID(id string) string {
	if id == "" {
		return ""
	}
	if len(id) <= 8 {
		return "****"
	}
	return id[:4] + "****" + id[len(id)-2:]
}

func maskSecret(s string) string {
	if s == "" {
		return "unset"
	}
	return "[REDACTED]"
}

func credentialKind(c credentials.Credential) string {
	if c == nil {
		return "none"
	}
	return tea.StringValue(c.GetType())
}

// CodeInvalidCredentials is the code of the *APIError a call returns when
// its credential could not be resolved (the base credential, or an
// AssumeRole that failed); nothing was sent to RDS.
const CodeInvalidCredentials = "InvalidCredentials"

// Client calls RDS. It is safe for concurrent use.
type Client struct {
	endpoint string
	protocol string
	regionID string
	timeout  time.Duration
	credKind string
	cred     credentials.Credential
	http     *http.Client
	logger   *slog.Logger
}

// New validates cfg and returns a Client. It does not contact the API or the
// credential providers.
func New(cfg Config) (*Client, error) {
	protocol := strings.ToLower(cfg.Protocol)
	if protocol == "" {
		protocol = "https"
	}
	if protocol != "https" && protocol != "http" {
		return nil, fmt.Errorf("aliyun config: protocol %q: want https or http", cfg.Protocol)
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		if cfg.RegionID == "" {
			return nil, errors.New("aliyun config: endpoint or region id is required")
		}
		endpoint = DefaultEndpoint(cfg.RegionID)
	}
	if strings.Contains(endpoint, "/") {
		return nil, fmt.Errorf("aliyun config: endpoint %q: want host[:port] without scheme or path", endpoint)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("aliyun config: negative timeout %s", cfg.Timeout)
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if (cfg.AccessKeyID == "") != (cfg.AccessKeySecret == "") {
		return nil, errors.New("aliyun config: set both access key id and access key secret, or neither")
	}
	if cfg.AccessKeyID != "" && cfg.Credential != nil {
		return nil, errors.New("aliyun config: set static access keys or a credential, not both")
	}
	cred := cfg.Credential
	credKind := "custom"
	switch {
	case cfg.AccessKeyID != "":
		var err error
		cred, err = credentials.NewCredential(&credentials.Config{
			Type:            tea.String("access_key"),
			AccessKeyId:     tea.String(cfg.AccessKeyID),
			AccessKeySecret: tea.String(cfg.AccessKeySecret),
		})
		if err != nil {
			// credentials-go's errors name the missing field, never its value.
			return nil, fmt.Errorf("aliyun config: static credential: %w", err)
		}
		credKind = "static " + maskID(cfg.AccessKeyID)
	case cred == nil:
		var err error
		cred, err = credentials.NewCredential(nil)
		if err != nil {
			return nil, fmt.Errorf("aliyun config: default credential chain: %w", err)
		}
		credKind = "default chain"
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	transport := cfg.Transport
	if transport == nil {
		transport = NewTransport(cfg.RootCAs)
	}
	return &Client{
		endpoint: endpoint,
		protocol: protocol,
		regionID: cfg.RegionID,
		timeout:  timeout,
		credKind: credKind,
		cred:     cred,
		http: &http.Client{
			Transport: transport,
			// RDS never redirects; following one would change the method.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		logger: logger,
	}, nil
}

// NewTransport returns the transport a Client makes for itself: a clone of
// http.DefaultTransport keeping up to 16 idle connections per host,
// verifying servers with roots when not nil.
func NewTransport(roots *x509.CertPool) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	if roots != nil {
		if t.TLSClientConfig == nil {
			t.TLSClientConfig = &tls.Config{}
		}
		t.TLSClientConfig.RootCAs = roots
	}
	return t
}

// String describes the client without secrets.
func (c *Client) String() string {
	return fmt.Sprintf("aliyun.Client{endpoint:%s://%s region:%q timeout:%s credential:%s}",
		c.protocol, c.endpoint, c.regionID, c.timeout, c.credKind)
}

// GoString is String, so that %#v does not print internals.
func (c *Client) GoString() string { return c.String() }

// LogValue renders the client for slog without secrets.
func (c *Client) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("endpoint", c.protocol+"://"+c.endpoint),
		slog.String("region_id", c.regionID),
		slog.Duration("timeout", c.timeout),
		slog.String("credential", c.credKind),
	)
}

// Endpoint returns the host[:port] the client calls.
func (c *Client) Endpoint() string { return c.endpoint }

// ReleaseInstanceConnection releases an instance's public endpoint. On
// failure the error is an *APIError; see its Class before retrying.
func (c *Client) ReleaseInstanceConnection(ctx context.Context, req ReleaseInstanceConnectionRequest) (*ReleaseInstanceConnectionResponse, error) {
	var out ReleaseInstanceConnectionResponse
	status, err := c.call(ctx, ActionReleaseInstanceConnection, req.DBInstanceId, req.query(), &out)
	if err != nil {
		return nil, err
	}
	out.HTTPStatus = status
	return &out, nil
}

// DescribeDBInstanceNetInfo lists an instance's endpoints. On failure the
// error is an *APIError.
func (c *Client) DescribeDBInstanceNetInfo(ctx context.Context, req DescribeDBInstanceNetInfoRequest) (*DescribeDBInstanceNetInfoResponse, error) {
	var out DescribeDBInstanceNetInfoResponse
	status, err := c.call(ctx, ActionDescribeDBInstanceNetInfo, req.DBInstanceId, req.query(), &out)
	if err != nil {
		return nil, err
	}
	out.HTTPStatus = status
	return &out, nil
}

// DescribeDBInstanceAttribute describes an instance. On failure the error is
// an *APIError.
func (c *Client) DescribeDBInstanceAttribute(ctx context.Context, req DescribeDBInstanceAttributeRequest) (*DescribeDBInstanceAttributeResponse, error) {
	var out DescribeDBInstanceAttributeResponse
	status, err := c.call(ctx, ActionDescribeDBInstanceAttribute, req.DBInstanceId, req.query(), &out)
	if err != nil {
		return nil, err
	}
	out.HTTPStatus = status
	return &out, nil
}

// params returns exactly what the generated rds-20140815 SDK passes to
// CallApi. Config.Protocol overrides Protocol.
func params(action string) *openapi.Params {
	return &openapi.Params{
		Action:      tea.String(action),
		Version:     tea.String(APIVersion),
		Protocol:    tea.String("HTTPS"),
		Pathname:    tea.String("/"),
		Method:      tea.String("POST"),
		AuthType:    tea.String("AK"),
		Style:       tea.String("RPC"),
		ReqBodyType: tea.String("formData"),
		BodyType:    tea.String("json"),
	}
}

// call performs one attempt of an RDS action and decodes the JSON body into
// out.
func (c *Client) call(ctx context.Context, action, instance string, query map[string]string, out any) (status int, err error) {
	return c.callParams(ctx, params(action), instance, query, out)
}

// callParams performs one attempt of the API call p (RDS's, or another
// product's such as ActionTrail's) and decodes the JSON body into out.
func (c *Client) callParams(ctx context.Context, p *openapi.Params, instance string, query map[string]string, out any) (status int, err error) {
	action := tea.StringValue(p.Action)
	start := time.Now()
	defer func() {
		attrs := []slog.Attr{
			slog.String("action", action),
			slog.String("instance", instance),
			slog.Duration("elapsed", time.Since(start)),
		}
		var apiErr *APIError
		if errors.As(err, &apiErr) {
			attrs = append(attrs, slog.String("code", apiErr.Code), slog.Int("status", apiErr.HTTPStatus),
				slog.String("request_id", apiErr.RequestID), slog.String("class", string(apiErr.Class)))
		} else {
			attrs = append(attrs, slog.Int("status", status))
		}
		c.logger.LogAttrs(ctx, slog.LevelDebug, "rds call", attrs...)
	}()

	// Resolve credentials first so a provider failure is told apart from a
	// transport failure. Providers cache, so this costs nothing per call.
	if _, err := c.cred.GetCredential(); err != nil {
		e := &APIError{
			Action:  action,
			Code:    CodeInvalidCredentials,
			Message: "resolve credentials: " + err.Error(),
			Class:   ClassPermanent,
			Err:     err,
		}
		if rc, ok := c.cred.(roleCredential); ok {
			// Nothing was sent to RDS: when STS did not answer, trying
			// again is safe and may work.
			e.Message = "assume role " + rc.roleARN + ": " + err.Error()
			if assumeRoleRetryable(err) {
				e.Class = ClassRetryable
			}
		}
		return 0, e
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	st := &callState{ctx: ctx}
	st.gate, _ = ctx.Value(sendGateKey{}).(func(context.Context))
	ctx = context.WithValue(ctx, callStateKey{}, st)
	defer st.closeBody()

	// A fresh openapi client per call: openapi.Client mutates its own fields
	// during a call (GetRpcHeaders resets Headers), so sharing one across
	// goroutines is a data race. Init only copies fields.
	api, err := openapi.NewClient(&openapi.Config{
		Endpoint:   tea.String(c.endpoint),
		Protocol:   tea.String(c.protocol),
		RegionId:   tea.String(c.regionID),
		Credential: c.cred,
		HttpClient: httpDoer{client: c.http},
	})
	if err != nil {
		return 0, &APIError{Action: action, Message: "build openapi client: " + err.Error(), Class: ClassPermanent, Err: err}
	}
	// Keep the raw ClientError/ServerError/ThrottlingError: tea.SDKError
	// drops RetryAfter.
	api.DisableSDKError = tea.Bool(true)

	q := make(map[string]*string, len(query))
	for k, v := range query {
		q[k] = tea.String(v)
	}
	res, err := api.CallApiWithCtx(ctx, p, &openapi.OpenApiRequest{Query: q}, &dara.RuntimeOptions{})
	if err != nil {
		return 0, c.convertError(ctx, action, err, st)
	}
	status = statusOf(res["statusCode"])
	raw, err := json.Marshal(res["body"])
	if err == nil {
		err = json.Unmarshal(raw, out)
	}
	if err != nil {
		// The API said yes (2xx) but the body is unusable: the operation
		// happened as far as the API is concerned, but we cannot prove it.
		return 0, &APIError{Action: action, HTTPStatus: status, Message: "decode response body: " + err.Error(),
			Class: ClassUnknownOutcome, Err: err}
	}
	return status, nil
}

// convertError turns whatever CallApiWithCtx returned into an *APIError.
func (c *Client) convertError(ctx context.Context, action string, err error, st *callState) *APIError {
	if e, ok := fromResponseError(err); ok {
		e.Action = action
		if e.RetryAfter == 0 {
			if h := st.header(); h != nil {
				e.RetryAfter = parseRetryAfter(h.Get("x-ratelimit-user-api"), h.Get("x-ratelimit-user"))
			}
		}
		return e
	}
	e := &APIError{Action: action, Err: err, HTTPStatus: st.status()}
	switch {
	case e.HTTPStatus > 0:
		// An answer arrived but its body could not be read or parsed.
		e.Class = classForResponse("", e.HTTPStatus)
		e.Message = fmt.Sprintf("read HTTP %d response: %v", e.HTTPStatus, err)
		if h := st.header(); h != nil {
			e.RequestID = h.Get("x-acs-request-id")
		}
	case !st.gotConn.Load():
		// net/http never handed a connection to this request, so not one
		// byte of it was written: DNS, dial, TLS handshake or proxy failed,
		// or the deadline expired while connecting.
		e.Class = ClassRetryable
		e.Message = "no connection: " + describe(ctx, err)
	default:
		// The request had a connection and may have been (partly) written
		// and processed; no status came back.
		e.Class = ClassUnknownOutcome
		e.Message = "no answer: " + describe(ctx, err)
	}
	return e
}

// describe names deadline expiry explicitly: darabonba replaces the
// transport error with ctx.Err() when the context is done.
func describe(ctx context.Context, err error) string {
	if !errors.Is(err, context.DeadlineExceeded) && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "deadline exceeded: " + err.Error()
	}
	return err.Error()
}

func statusOf(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case int64:
		return int(n)
	case float64:
		return int(n)
	case json.Number:
		i, _ := n.Int64()
		return int(i)
	default:
		return 0
	}
}

// callStateKey carries a *callState from call to httpDoer through the
// request context.
type callStateKey struct{}

// sendGateKey carries the gate of WithSendGate.
type sendGateKey struct{}

// WithSendGate returns a context whose calls run gate at the last instant
// before their request is written: signed, with a connection in hand (a
// dial and a TLS handshake, which can take longer than a quota's slack,
// are behind it), nothing left but the write. A quota counts arrivals, so
// this is where a rate limiter makes sure the call is still on time,
// sleeping for a later slot if it is not. The call goes ahead when gate
// returns; a gate that cannot do its job should log why (a call made off
// its slot is at worst throttled, and retried).
func WithSendGate(ctx context.Context, gate func(context.Context)) context.Context {
	return context.WithValue(ctx, sendGateKey{}, gate)
}

// callState records what net/http did for one call.
type callState struct {
	gotConn atomic.Bool
	// gate, when set (WithSendGate), runs once a connection is in hand.
	gate func(context.Context)
	ctx  context.Context

	mu   sync.Mutex
	resp *http.Response
}

func (s *callState) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) {
			s.gotConn.Store(true)
			if s.gate != nil {
				s.gate(s.ctx)
			}
		},
	}
}

func (s *callState) setResponse(r *http.Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resp = r
}

func (s *callState) status() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.resp == nil {
		return 0
	}
	return s.resp.StatusCode
}

func (s *callState) header() http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.resp == nil {
		return nil
	}
	return s.resp.Header
}

// closeBody releases the connection when darabonba returned early without
// closing the body (it closes it only after a successful read).
func (s *callState) closeBody() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.resp != nil && s.resp.Body != nil {
		_ = s.resp.Body.Close()
	}
}

// httpDoer is the dara.HttpClient every call uses: one shared http.Client
// (connection reuse, no shared mutable SDK state) with the per-call trace
// attached. The transport darabonba builds per call is ignored.
type httpDoer struct {
	client *http.Client
}

// Call implements dara.HttpClient.
func (d httpDoer) Call(req *http.Request, _ *http.Transport) (*http.Response, error) {
	st, _ := req.Context().Value(callStateKey{}).(*callState)
	if st != nil {
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), st.trace()))
	}
	resp, err := d.client.Do(req)
	if st != nil && resp != nil {
		st.setResponse(resp)
	}
	return resp, err
}
