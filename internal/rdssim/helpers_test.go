package rdssim_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"

	"github.com/rdsgate/rdsgate/internal/rdssim"
)

const (
	testAK      = "LTAItestkey0000000000001"
	testSecret  = "test-secret-1"
	testAccount = "1111111111111111"
	otherAK     = "LTAItestkey0000000000002"
	otherSecret = "test-secret-2"
	otherAcct   = "2222222222222222"
	testHost    = "rds.sim.test:9090"
)

// fakeClock is an injectable clock; tests move it explicitly.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// bundle is what a simulator test needs.
type bundle struct {
	srv   *rdssim.Server
	clock *fakeClock
}

// testInstances is a small state: a VPC MySQL with public and private
// endpoints, a classic PostgreSQL, a stopped instance and one owned by the
// other account.
func testInstances() []rdssim.Instance {
	return []rdssim.Instance{
		{
			ID: "rm-dev", RegionID: "cn-hangzhou", Engine: "MySQL", EngineVersion: "8.0", Description: "dev",
			NetworkType: "VPC", VPCID: "vpc-1", VSwitchID: "vsw-1",
			Endpoints: []rdssim.Endpoint{
				{ConnectionString: "rm-dev.mysql.rds.aliyuncs.com", IPAddress: "47.0.0.1", IPType: "Public"},
				{ConnectionString: "rm-dev-priv.mysql.rds.aliyuncs.com", IPAddress: "172.16.0.1", IPType: "Private"},
			},
		},
		{
			ID: "pgm-stage", Engine: "PostgreSQL", NetworkType: "Classic",
			Endpoints: []rdssim.Endpoint{
				{ConnectionString: "pgm-stage.pg.rds.aliyuncs.com", IPType: "Public"},
			},
		},
		{
			ID: "rm-stopped", Engine: "MySQL", NetworkType: "VPC", Status: "Stopped",
			Endpoints: []rdssim.Endpoint{{ConnectionString: "rm-stopped.mysql.rds.aliyuncs.com", IPType: "Public"}},
		},
		{
			ID: "rm-other", Engine: "MySQL", NetworkType: "VPC", AccountID: otherAcct,
			Endpoints: []rdssim.Endpoint{{ConnectionString: "rm-other.mysql.rds.aliyuncs.com", IPType: "Public"}},
		},
	}
}

// setup returns a simulator on a fake clock with two accounts.
func setup(t testing.TB, rate int) bundle {
	t.Helper()
	return setupWindow(t, rate, 0)
}

// setupWindow is setup with a quota window other than the API's second.
func setupWindow(t testing.TB, rate int, window time.Duration) bundle {
	t.Helper()
	clock := newFakeClock()
	srv, err := rdssim.New(rdssim.Config{
		QuotaWindow: window,
		Accounts: []rdssim.Account{
			{AccessKeyID: testAK, AccessKeySecret: testSecret, AccountID: testAccount},
			{AccessKeyID: otherAK, AccessKeySecret: otherSecret, AccountID: otherAcct},
		},
		Instances:     testInstances(),
		RatePerSecond: rate,
		Now:           clock.Now,
	})
	if err != nil {
		t.Fatalf("rdssim.New: %v", err)
	}
	return bundle{srv: srv, clock: clock}
}

var nonceSeq atomic.Int64

// signSpec describes one API request to sign.
type signSpec struct {
	action  string
	version string
	query   map[string]string
	ak      string
	secret  string
	date    time.Time
	nonce   string
	host    string
	body    string
	// token is sent as x-acs-security-token (and signed) when set.
	token string
	// mutate runs after signing, to tamper with the request.
	mutate func(*http.Request)
}

// signedRequest builds a request signed by darabonba-openapi's own
// GetAuthorization, with the headers DoRequestWithCtx sends.
func signedRequest(t testing.TB, b bundle, spec signSpec) *http.Request {
	t.Helper()
	if spec.version == "" {
		spec.version = "2014-08-15"
	}
	if spec.ak == "" {
		spec.ak = testAK
	}
	if spec.secret == "" {
		spec.secret = testSecret
	}
	if spec.date.IsZero() {
		spec.date = b.clock.Now()
	}
	if spec.nonce == "" {
		spec.nonce = fmt.Sprintf("nonce-%d-%d", time.Now().UnixNano(), nonceSeq.Add(1))
	}
	if spec.host == "" {
		spec.host = testHost
	}
	sum := sha256.Sum256([]byte(spec.body))
	hash := hex.EncodeToString(sum[:])
	query := map[string]*string{}
	values := url.Values{}
	for k, v := range spec.query {
		query[k] = tea.String(v)
		values.Set(k, v)
	}
	headers := map[string]*string{
		"host":                       tea.String(spec.host),
		"x-acs-version":              tea.String(spec.version),
		"x-acs-action":               tea.String(spec.action),
		"user-agent":                 tea.String("rdssim-test"),
		"x-acs-date":                 tea.String(spec.date.UTC().Format("2006-01-02T15:04:05Z")),
		"x-acs-signature-nonce":      tea.String(spec.nonce),
		"accept":                     tea.String("application/json"),
		"x-acs-content-sha256":       tea.String(hash),
		"x-acs-credentials-provider": tea.String("static_ak"),
	}
	if spec.token != "" {
		headers["x-acs-security-token"] = tea.String(spec.token)
		headers["x-acs-accesskey-id"] = tea.String(spec.ak)
	}
	dreq := &dara.Request{
		Method:   tea.String("POST"),
		Pathname: tea.String("/"),
		Query:    query,
		Headers:  headers,
	}
	auth := openapiutil.GetAuthorization(dreq, tea.String("ACS3-HMAC-SHA256"), tea.String(hash), tea.String(spec.ak), tea.String(spec.secret))
	target := "http://" + spec.host + "/"
	if enc := values.Encode(); enc != "" {
		target += "?" + enc
	}
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(spec.body))
	for k, v := range headers {
		if k != "host" {
			req.Header.Set(k, *v)
		}
	}
	req.Header.Set("Authorization", *auth)
	req.RemoteAddr = "127.0.0.1:40000"
	if spec.mutate != nil {
		spec.mutate(req)
	}
	return req
}

// apiAnswer is a decoded simulator answer.
type apiAnswer struct {
	status int
	header http.Header
	body   map[string]any
}

func (a apiAnswer) code() string {
	s, _ := a.body["Code"].(string)
	return s
}

func (a apiAnswer) requestID() string {
	s, _ := a.body["RequestId"].(string)
	return s
}

// serve runs req through the handler in-process.
func serve(t testing.TB, b bundle, req *http.Request) apiAnswer {
	t.Helper()
	rec := httptest.NewRecorder()
	b.srv.ServeHTTP(rec, req)
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("answer is not JSON: %v: %q", err, rec.Body.String())
	}
	return apiAnswer{status: rec.Code, header: rec.Header(), body: body}
}

// call signs and serves one API request.
func call(t testing.TB, b bundle, spec signSpec) apiAnswer {
	t.Helper()
	return serve(t, b, signedRequest(t, b, spec))
}

func releaseSpec(instance, cs, netType string) signSpec {
	return signSpec{
		action: "ReleaseInstanceConnection",
		query: map[string]string{
			"DBInstanceId":            instance,
			"CurrentConnectionString": cs,
			"InstanceNetworkType":     netType,
		},
	}
}

func describeNetSpec(instance string) signSpec {
	return signSpec{action: "DescribeDBInstanceNetInfo", query: map[string]string{"DBInstanceId": instance}}
}
