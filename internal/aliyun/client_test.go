package aliyun_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/rdssim"
)

const (
	simAK      = "LTAIclienttest0000000001"
	simSecret  = "client-test-secret"
	simAccount = "1234567890123456"
)

var requestIDPattern = regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$`)

// bundle is a simulator behind a loopback server and a real client for it.
type bundle struct {
	sim    *rdssim.Server
	ts     *httptest.Server
	client *aliyun.Client
}

type options struct {
	timeout time.Duration
	secret  string
	rate    int
	now     func() time.Time
}

func setup(t testing.TB, o options) bundle {
	t.Helper()
	insts, err := rdssim.LoadInstances("../rdssim/testdata/instances.json")
	if err != nil {
		t.Fatal(err)
	}
	if o.rate == 0 {
		o.rate = 100000
	}
	sim, err := rdssim.New(rdssim.Config{
		Accounts:      []rdssim.Account{{AccessKeyID: simAK, AccessKeySecret: simSecret, AccountID: simAccount}},
		Instances:     insts,
		RatePerSecond: o.rate,
		Now:           o.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	if o.secret == "" {
		o.secret = simSecret
	}
	client, err := aliyun.New(aliyun.Config{
		Endpoint:        ts.Listener.Addr().String(),
		Protocol:        "http",
		RegionID:        "cn-hangzhou",
		Timeout:         o.timeout,
		AccessKeyID:     simAK,
		AccessKeySecret: o.secret,
	})
	if err != nil {
		t.Fatal(err)
	}
	return bundle{sim: sim, ts: ts, client: client}
}

func devRelease() aliyun.ReleaseInstanceConnectionRequest {
	return aliyun.ReleaseInstanceConnectionRequest{
		DBInstanceId:            "rm-bp1devexample01",
		CurrentConnectionString: "rm-bp1devexample01.mysql.rds.aliyuncs.com",
		InstanceNetworkType:     "0",
	}
}

func asAPIError(t *testing.T, err error) *aliyun.APIError {
	t.Helper()
	var e *aliyun.APIError
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want *aliyun.APIError", err, err)
	}
	return e
}

func publicEndpoints(sim *rdssim.Server, id string) []string {
	var out []string
	for _, inst := range sim.Instances() {
		if inst.ID != id {
			continue
		}
		for _, ep := range inst.Endpoints {
			if ep.IPType == "Public" {
				out = append(out, ep.ConnectionString)
			}
		}
	}
	return out
}

func TestReleaseSuccess(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ctx := context.Background()

	net, err := b.client.DescribeDBInstanceNetInfo(ctx, aliyun.DescribeDBInstanceNetInfoRequest{DBInstanceId: "rm-bp1devexample01"})
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := net.PublicEndpoint()
	if !ok || pub.ConnectionString != "rm-bp1devexample01.mysql.rds.aliyuncs.com" {
		t.Fatalf("PublicEndpoint = %+v, %v", pub, ok)
	}
	netType, err := aliyun.ReleaseNetworkType(net.InstanceNetworkType)
	if err != nil || netType != "0" {
		t.Fatalf("ReleaseNetworkType(%q) = %q, %v", net.InstanceNetworkType, netType, err)
	}

	res, err := b.client.ReleaseInstanceConnection(ctx, aliyun.ReleaseInstanceConnectionRequest{
		DBInstanceId: "rm-bp1devexample01", CurrentConnectionString: pub.ConnectionString, InstanceNetworkType: netType,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.HTTPStatus != 200 || !requestIDPattern.MatchString(res.RequestId) {
		t.Fatalf("response = %+v", res)
	}
	calls := b.sim.Calls()
	last := calls[len(calls)-1]
	if last.RequestID != res.RequestId || last.Action != "ReleaseInstanceConnection" || last.Account != simAccount {
		t.Fatalf("simulator logged %+v", last)
	}
	if got := publicEndpoints(b.sim, "rm-bp1devexample01"); len(got) != 0 {
		t.Fatalf("public endpoints after release: %v", got)
	}
	net, err = b.client.DescribeDBInstanceNetInfo(ctx, aliyun.DescribeDBInstanceNetInfoRequest{DBInstanceId: "rm-bp1devexample01"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := net.PublicEndpoint(); ok {
		t.Fatalf("DescribeDBInstanceNetInfo still lists a public endpoint: %+v", net)
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ctx := context.Background()

	net, err := b.client.DescribeDBInstanceNetInfo(ctx, aliyun.DescribeDBInstanceNetInfoRequest{DBInstanceId: "rm-bp1devexample01"})
	if err != nil {
		t.Fatal(err)
	}
	want := []aliyun.DBInstanceNetInfo{
		{ConnectionString: "rm-bp1devexample01.mysql.rds.aliyuncs.com", IPAddress: "47.98.10.11", IPType: "Public", Port: "3306", ConnectionStringType: "Normal", Upgradeable: "Disabled"},
		{ConnectionString: "rm-bp1devexample01-priv.mysql.rds.aliyuncs.com", IPAddress: "172.16.10.11", IPType: "Private", Port: "3306", ConnectionStringType: "Normal", Upgradeable: "Disabled", VPCId: "vpc-bp1devexamplevpc01", VSwitchId: "vsw-bp1devexamplevsw01"},
	}
	if diff := cmp.Diff(want, net.DBInstanceNetInfos.DBInstanceNetInfo); diff != "" {
		t.Fatalf("net infos (-want +got):\n%s", diff)
	}
	if net.InstanceNetworkType != "VPC" || net.HTTPStatus != 200 || net.RequestId == "" {
		t.Fatalf("net info = %+v", net)
	}

	attr, err := b.client.DescribeDBInstanceAttribute(ctx, aliyun.DescribeDBInstanceAttributeRequest{DBInstanceId: "pgm-bp1stagexample"})
	if err != nil {
		t.Fatal(err)
	}
	items := attr.Items.DBInstanceAttribute
	if len(items) != 1 {
		t.Fatalf("items = %+v", items)
	}
	a := items[0]
	if a.DBInstanceId != "pgm-bp1stagexample" || a.Engine != "PostgreSQL" || a.InstanceNetworkType != "Classic" ||
		a.RegionId != "cn-hangzhou" || a.DBInstanceStatus != "Running" || a.DBInstanceNetType != "Internet" ||
		a.Port != "5432" || a.DBInstanceStorage != 20 {
		t.Fatalf("attribute = %+v", a)
	}
	if nt, err := aliyun.ReleaseNetworkType(a.InstanceNetworkType); err != nil || nt != "1" {
		t.Fatalf("ReleaseNetworkType(Classic) = %q, %v", nt, err)
	}
	if _, err := aliyun.ReleaseNetworkType("Elastic"); err == nil {
		t.Fatal("ReleaseNetworkType accepted an unknown type")
	}
}

func TestWrongSecret(t *testing.T) {
	t.Parallel()
	const wrong = "definitely-wrong-secret"
	b := setup(t, options{secret: wrong})
	_, err := b.client.ReleaseInstanceConnection(context.Background(), devRelease())
	e := asAPIError(t, err)
	if e.Code != "SignatureDoesNotMatch" || e.HTTPStatus != 400 || e.Class != aliyun.ClassPermanent ||
		!requestIDPattern.MatchString(e.RequestID) || e.HostID != "rds.aliyuncs.com" || e.Recommend == "" {
		t.Fatalf("got %+v", e)
	}
	if aliyun.Classify(err) != aliyun.ClassPermanent {
		t.Fatalf("Classify = %q", aliyun.Classify(err))
	}
	entry, _ := aliyun.LookupError("SignatureDoesNotMatch")
	if e.Message != entry.Message {
		t.Fatalf("Message = %q, want the catalog's %q", e.Message, entry.Message)
	}
	if msg := err.Error(); strings.Contains(msg, wrong) || strings.Contains(msg, simSecret) {
		t.Fatalf("error string leaks a secret: %s", msg)
	}
	if got := publicEndpoints(b.sim, "rm-bp1devexample01"); len(got) != 1 {
		t.Fatal("a rejected call changed state")
	}
}

func TestTimeoutIsUnknownOutcome(t *testing.T) {
	t.Parallel()
	b := setup(t, options{timeout: 100 * time.Millisecond})
	if err := b.sim.AddFault(rdssim.Fault{Instance: "rm-bp1devexample01", DelayMS: 60_000}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := b.client.ReleaseInstanceConnection(context.Background(), devRelease())
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Timeout not applied: call took %s", d)
	}
	e := asAPIError(t, err)
	if e.Class != aliyun.ClassUnknownOutcome || e.HTTPStatus != 0 || e.Code != "" || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %+v (%v), want unknown_outcome deadline", e, e.Err)
	}
}

func TestCallerDeadlineIsUnknownOutcome(t *testing.T) {
	t.Parallel()
	b := setup(t, options{timeout: time.Minute})
	if err := b.sim.AddFault(rdssim.Fault{DelayMS: 60_000}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := b.client.DescribeDBInstanceNetInfo(ctx, aliyun.DescribeDBInstanceNetInfoRequest{DBInstanceId: "rm-bp1devexample01"})
	if c := aliyun.Classify(err); c != aliyun.ClassUnknownOutcome {
		t.Fatalf("Classify = %q (%v)", c, err)
	}
}

func TestDroppedConnectionAfterRelease(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	if err := b.sim.AddFault(rdssim.Fault{Instance: "rm-bp1devexample01", Action: "ReleaseInstanceConnection", DropAfterRelease: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	// Warm the connection pool first: a dropped reused connection must not
	// be retried by net/http either.
	if _, err := b.client.DescribeDBInstanceAttribute(context.Background(), aliyun.DescribeDBInstanceAttributeRequest{DBInstanceId: "rm-bp1devexample01"}); err != nil {
		t.Fatal(err)
	}
	_, err := b.client.ReleaseInstanceConnection(context.Background(), devRelease())
	e := asAPIError(t, err)
	if e.Class != aliyun.ClassUnknownOutcome || e.HTTPStatus != 0 || e.Err == nil {
		t.Fatalf("got %+v, want unknown_outcome with a transport cause", e)
	}
	if got := publicEndpoints(b.sim, "rm-bp1devexample01"); len(got) != 0 {
		t.Fatalf("the release did not happen in the simulator: %v", got)
	}
	releases := 0
	for _, c := range b.sim.Calls() {
		if c.Action == "ReleaseInstanceConnection" {
			releases++
		}
	}
	if releases != 1 {
		t.Fatalf("simulator saw %d releases, want exactly 1 (no transparent retry)", releases)
	}
}

func TestConnectionRefusedIsRetryable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	client, err := aliyun.New(aliyun.Config{Endpoint: addr, Protocol: "http", AccessKeyID: simAK, AccessKeySecret: simSecret})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.ReleaseInstanceConnection(context.Background(), devRelease())
	e := asAPIError(t, err)
	if e.Class != aliyun.ClassRetryable || e.HTTPStatus != 0 {
		t.Fatalf("got %+v (%v), want retryable", e, e.Err)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) || opErr.Op != "dial" {
		t.Fatalf("cause = %v, want a dial error", e.Err)
	}
	if aliyun.Classify(e.Err) != aliyun.ClassRetryable {
		t.Fatalf("structural Classify of the cause = %q", aliyun.Classify(e.Err))
	}
}

func TestDNSFailureIsRetryable(t *testing.T) {
	t.Parallel()
	client, err := aliyun.New(aliyun.Config{Endpoint: "rds.rdsgate-test.invalid", Protocol: "http", AccessKeyID: simAK, AccessKeySecret: simSecret, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.DescribeDBInstanceNetInfo(context.Background(), aliyun.DescribeDBInstanceNetInfoRequest{DBInstanceId: "rm-x"})
	if e := asAPIError(t, err); e.Class != aliyun.ClassRetryable {
		t.Fatalf("got %+v (%v), want retryable", e, e.Err)
	}
}

func TestThrottlingFromQuota(t *testing.T) {
	t.Parallel()
	frozen := time.Now()
	b := setup(t, options{rate: 2, now: func() time.Time { return frozen }})
	ctx := context.Background()
	req := aliyun.DescribeDBInstanceNetInfoRequest{DBInstanceId: "rm-bp1devexample01"}
	for range 2 {
		if _, err := b.client.DescribeDBInstanceNetInfo(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	_, err := b.client.DescribeDBInstanceNetInfo(ctx, req)
	e := asAPIError(t, err)
	if e.Code != "Throttling.User" || e.HTTPStatus != 400 || e.Class != aliyun.ClassRetryable ||
		e.Message != aliyun.MessageFlowControl || e.RetryAfter != time.Second || e.RequestID == "" {
		t.Fatalf("got %+v", e)
	}
}

// Expected classes, written out by hand rather than derived from the
// package's rule: the documented codes (errors.tsv) by HTTP status, the
// common codes one by one. A catalog entry missing here fails the test.
var (
	documentedClassByStatus = map[int]aliyun.Class{
		400: aliyun.ClassPermanent,
		403: aliyun.ClassPermanent,
		404: aliyun.ClassPermanent,
		500: aliyun.ClassUnknownOutcome, // ExternalFailure, RequestMetaDataFailed, InvokeProxyFailure
	}
	commonClass = map[string]aliyun.Class{
		"Throttling":                  aliyun.ClassRetryable,
		"Throttling.User":             aliyun.ClassRetryable,
		"Throttling.Api":              aliyun.ClassRetryable,
		"Forbidden.RAM":               aliyun.ClassPermanent,
		"NoPermission":                aliyun.ClassPermanent,
		"NotAuthorized":               aliyun.ClassPermanent,
		"IncompleteSignature":         aliyun.ClassPermanent,
		"InvalidAccessKeyId.NotFound": aliyun.ClassPermanent,
		"SignatureDoesNotMatch":       aliyun.ClassPermanent,
		"SignatureNonceUsed":          aliyun.ClassPermanent,
		"InvalidTimeStamp.Expired":    aliyun.ClassPermanent,
		"InvalidTimeStamp.Format":     aliyun.ClassPermanent,
		"InvalidAction.NotFound":      aliyun.ClassPermanent,
		"InvalidVersion":              aliyun.ClassPermanent,
		"InternalError":               aliyun.ClassUnknownOutcome,
		"ServiceUnavailable":          aliyun.ClassRetryable,
	}
)

// expectedClass looks an entry up in the hand-written tables above.
func expectedClass(t *testing.T, e aliyun.CatalogEntry) aliyun.Class {
	t.Helper()
	var want aliyun.Class
	var ok bool
	if e.Source == aliyun.SourceDocumented {
		want, ok = documentedClassByStatus[e.HTTPStatus]
	} else {
		want, ok = commonClass[e.Code]
	}
	if !ok {
		t.Fatalf("%s (HTTP %d, %s): no expected class written down", e.Code, e.HTTPStatus, e.Source)
	}
	return want
}

// TestCommonCodesListed: the hand-written table names exactly the common
// codes of the catalog.
func TestCommonCodesListed(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, e := range aliyun.Catalog() {
		if e.Source == aliyun.SourceCommon {
			seen[e.Code] = true
			if _, ok := commonClass[e.Code]; !ok {
				t.Errorf("common code %s has no expected class", e.Code)
			}
		}
	}
	for code := range commonClass {
		if !seen[code] {
			t.Errorf("expected class for %s, which is not a common code of the catalog", code)
		}
	}
}

func TestEveryCatalogCodeThroughTheSimulator(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	for i, entry := range aliyun.Catalog() {
		t.Run(entry.Code, func(t *testing.T) {
			t.Parallel()
			instance := fmt.Sprintf("rm-catalog%03d", i)
			if err := b.sim.AddFault(rdssim.Fault{Instance: instance, Action: "ReleaseInstanceConnection", Code: entry.Code, Times: 1}); err != nil {
				t.Fatal(err)
			}
			_, err := b.client.ReleaseInstanceConnection(context.Background(), aliyun.ReleaseInstanceConnectionRequest{
				DBInstanceId: instance, CurrentConnectionString: instance + ".mysql.rds.aliyuncs.com", InstanceNetworkType: "0",
			})
			e := asAPIError(t, err)
			want := expectedClass(t, entry)
			if e.Code != entry.Code || e.HTTPStatus != entry.HTTPStatus || e.Message != entry.Message ||
				!requestIDPattern.MatchString(e.RequestID) || e.Class != want || entry.Class != want ||
				e.Action != "ReleaseInstanceConnection" || e.HostID == "" {
				t.Fatalf("got %+v, want code %s status %d class %s", e, entry.Code, entry.HTTPStatus, want)
			}
			if (entry.HTTPStatus == 403) != (e.AccessDeniedDetail != nil) {
				t.Fatalf("AccessDeniedDetail = %v for status %d", e.AccessDeniedDetail, entry.HTTPStatus)
			}
		})
	}
}

// TestWireParams checks the request the client puts on the wire: method,
// path, action and version headers, and only the fields that are set.
func TestWireParams(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []*http.Request
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Clone(context.Background()))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"RequestId":"65BDA532-28AF-4122-AA39-B382721EEE64"}`)
	}))
	t.Cleanup(ts.Close)
	client, err := aliyun.New(aliyun.Config{Endpoint: ts.Listener.Addr().String(), Protocol: "HTTP", AccessKeyID: simAK, AccessKeySecret: simSecret})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := client.ReleaseInstanceConnection(ctx, devRelease()); err != nil {
		t.Fatal(err)
	}
	withOwner := devRelease()
	withOwner.OwnerId = 1234567890123456
	if _, err := client.ReleaseInstanceConnection(ctx, withOwner); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DescribeDBInstanceAttribute(ctx, aliyun.DescribeDBInstanceAttributeRequest{DBInstanceId: "rm-x"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	wantQueries := []string{
		"CurrentConnectionString=rm-bp1devexample01.mysql.rds.aliyuncs.com&DBInstanceId=rm-bp1devexample01&InstanceNetworkType=0",
		"CurrentConnectionString=rm-bp1devexample01.mysql.rds.aliyuncs.com&DBInstanceId=rm-bp1devexample01&InstanceNetworkType=0&OwnerId=1234567890123456",
		"DBInstanceId=rm-x",
	}
	wantActions := []string{"ReleaseInstanceConnection", "ReleaseInstanceConnection", "DescribeDBInstanceAttribute"}
	if len(got) != 3 {
		t.Fatalf("server saw %d requests", len(got))
	}
	for i, r := range got {
		if r.Method != http.MethodPost || r.URL.Path != "/" || r.URL.RawQuery != wantQueries[i] ||
			r.Header.Get("x-acs-action") != wantActions[i] || r.Header.Get("x-acs-version") != "2014-08-15" ||
			r.ContentLength != 0 || !strings.HasPrefix(r.Header.Get("Authorization"), "ACS3-HMAC-SHA256 Credential="+simAK+",") {
			t.Errorf("request %d: %s %s?%s action=%q version=%q auth=%q", i, r.Method, r.URL.Path, r.URL.RawQuery,
				r.Header.Get("x-acs-action"), r.Header.Get("x-acs-version"), r.Header.Get("Authorization"))
		}
	}
}

func TestUndecodableAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		want   aliyun.Class
	}{
		{"200 with a non-JSON body", 200, "<html>ok</html>", aliyun.ClassUnknownOutcome},
		{"502 from a proxy with HTML", 502, "<html>bad gateway</html>", aliyun.ClassUnknownOutcome},
		{"504 from a proxy with HTML", 504, "<html>gateway timeout</html>", aliyun.ClassUnknownOutcome},
		{"503 from a proxy with HTML", 503, "<html>unavailable</html>", aliyun.ClassUnknownOutcome},
		{"500 with HTML", 500, "<html>error</html>", aliyun.ClassUnknownOutcome},
		{"403 with HTML", 403, "<html>denied</html>", aliyun.ClassPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			t.Cleanup(ts.Close)
			client, err := aliyun.New(aliyun.Config{Endpoint: ts.Listener.Addr().String(), Protocol: "http", AccessKeyID: simAK, AccessKeySecret: simSecret})
			if err != nil {
				t.Fatal(err)
			}
			_, err = client.ReleaseInstanceConnection(context.Background(), devRelease())
			e := asAPIError(t, err)
			if e.Class != tt.want || e.HTTPStatus != tt.status {
				t.Fatalf("got %+v, want class %s status %d", e, tt.want, tt.status)
			}
		})
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	const secret = "super-secret-value-42"
	cfg := aliyun.Config{Endpoint: "127.0.0.1:1", Protocol: "http", AccessKeyID: "LTAI5tExampleKeyId0001", AccessKeySecret: secret}
	client, err := aliyun.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logBuf, nil))
	logger.Info("config", "cfg", cfg, "client", client)
	outputs := []string{
		cfg.String(), fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg),
		fmt.Sprintf("%v", client), fmt.Sprintf("%+v", client), fmt.Sprintf("%#v", client),
		fmt.Sprintf("%+v", &cfg), logBuf.String(),
	}
	for _, out := range outputs {
		if strings.Contains(out, secret) || strings.Contains(out, "LTAI5tExampleKeyId0001") {
			t.Errorf("secret or full key id printed: %s", out)
		}
	}
	if !strings.Contains(logBuf.String(), "[REDACTED]") {
		t.Errorf("log lacks the masked secret marker: %s", logBuf.String())
	}
}

func TestNewValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  aliyun.Config
	}{
		{"no endpoint and no region", aliyun.Config{AccessKeyID: "a", AccessKeySecret: "b"}},
		{"bad protocol", aliyun.Config{RegionID: "cn-hangzhou", Protocol: "ftp", AccessKeyID: "a", AccessKeySecret: "b"}},
		{"endpoint with scheme", aliyun.Config{Endpoint: "https://rds.aliyuncs.com", AccessKeyID: "a", AccessKeySecret: "b"}},
		{"negative timeout", aliyun.Config{RegionID: "cn-hangzhou", Timeout: -time.Second, AccessKeyID: "a", AccessKeySecret: "b"}},
		{"id without secret", aliyun.Config{RegionID: "cn-hangzhou", AccessKeyID: "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := aliyun.New(tt.cfg); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
	// No keys: the default chain is built lazily and New succeeds.
	if _, err := aliyun.New(aliyun.Config{RegionID: "cn-hangzhou"}); err != nil {
		t.Fatalf("default chain: %v", err)
	}
}

func TestDefaultEndpoint(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"cn-hangzhou":         "rds.aliyuncs.com",
		"ap-southeast-1":      "rds.aliyuncs.com",
		"cn-hangzhou-finance": "rds-vpc.cn-hangzhou-finance.aliyuncs.com",
		"eu-central-1":        "rds.eu-central-1.aliyuncs.com",
		"cn-chengdu":          "rds.cn-chengdu.aliyuncs.com",
	}
	for region, want := range tests {
		if got := aliyun.DefaultEndpoint(region); got != want {
			t.Errorf("DefaultEndpoint(%q) = %q, want %q", region, got, want)
		}
	}
	c, err := aliyun.New(aliyun.Config{RegionID: "eu-central-1", AccessKeyID: "a", AccessKeySecret: "b"})
	if err != nil || c.Endpoint() != "rds.eu-central-1.aliyuncs.com" {
		t.Fatalf("New endpoint = %v, %v", c, err)
	}
}

// BenchmarkReleaseViaSimulator times one ReleaseInstanceConnection through
// the real client (signing, the OpenAPI core, classification) against the
// simulator (signature check, quota, state) over loopback HTTP.
// BenchmarkLoopbackPOST is its baseline in the same run.
func BenchmarkReleaseViaSimulator(b *testing.B) {
	bb := setup(b, options{})
	inst := rdssim.Instance{
		ID: "rm-bench", NetworkType: "VPC", Engine: "MySQL",
		Endpoints: []rdssim.Endpoint{{ConnectionString: "rm-bench.mysql.rds.aliyuncs.com", IPType: "Public"}},
	}
	req := aliyun.ReleaseInstanceConnectionRequest{DBInstanceId: "rm-bench", CurrentConnectionString: "rm-bench.mysql.rds.aliyuncs.com", InstanceNetworkType: "0"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		if err := bb.sim.UpsertInstances([]rdssim.Instance{inst}); err != nil {
			b.Fatal(err)
		}
		bb.sim.ClearCalls()
		b.StartTimer()
		if _, err := bb.client.ReleaseInstanceConnection(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoopbackPOST is the floor under BenchmarkReleaseViaSimulator: a
// POST with the same query over the same kind of loopback server, answered
// with a fixed JSON RequestId and decoded, with no signing, no OpenAPI core
// and no simulator.
func BenchmarkLoopbackPOST(b *testing.B) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		_, _ = io.WriteString(w, `{"RequestId":"5E5A2C5B-0000-4000-8000-000000000000"}`)
	}))
	b.Cleanup(ts.Close)
	url := ts.URL + "/?DBInstanceId=rm-bench&CurrentConnectionString=rm-bench.mysql.rds.aliyuncs.com&InstanceNetworkType=0"
	client := &http.Client{}
	b.ReportAllocs()
	for b.Loop() {
		req, err := http.NewRequest(http.MethodPost, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("x-acs-action", aliyun.ActionReleaseInstanceConnection)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var out struct{ RequestId string }
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || out.RequestId == "" {
			b.Fatalf("answer: %v %q", err, out.RequestId)
		}
	}
}
