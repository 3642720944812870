package rdssim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/credentials-go/credentials"
	"github.com/aliyun/credentials-go/credentials/providers"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/rdssim"
)

func publicReleaseSpec(instance, cs string) signSpec {
	q := map[string]string{}
	if instance != "" {
		q["DBInstanceId"] = instance
	}
	if cs != "" {
		q["CurrentConnectionString"] = cs
	}
	return signSpec{action: "ReleaseInstancePublicConnection", query: q}
}

// ReleaseInstancePublicConnection: its documented parameters and errors,
// on the same state as ReleaseInstanceConnection, with a quota of its own.
func TestReleaseInstancePublicConnection(t *testing.T) {
	t.Parallel()
	b := setup(t, 100)
	tests := []struct {
		name   string
		spec   signSpec
		status int
		code   string
		msg    string
	}{
		{"no instance", publicReleaseSpec("", "rm-dev.mysql.rds.aliyuncs.com"), 400, "RequiredParam.NotFound", ""},
		{"no connection string", publicReleaseSpec("rm-dev", ""), 400, "RequiredParam.NotFound", ""},
		{"unknown instance", publicReleaseSpec("rm-nope", "x.mysql.rds.aliyuncs.com"), 400, "InvalidDBInstanceId.NotFound", ""},
		{"another account's", publicReleaseSpec("rm-other", "rm-other.mysql.rds.aliyuncs.com"), 400, "InvalidDBInstanceId.NotFound", ""},
		{"stopped", publicReleaseSpec("rm-stopped", "rm-stopped.mysql.rds.aliyuncs.com"), 400, "InvalideStatus.Format", ""},
		{"private endpoint", publicReleaseSpec("rm-dev", "rm-dev-priv.mysql.rds.aliyuncs.com"), 400, "Endpoint.NotFound", "Specified endpoint is not found."},
		{"released", publicReleaseSpec("rm-dev", "RM-DEV.mysql.rds.aliyuncs.com"), 200, "", ""},
		{"released again", publicReleaseSpec("rm-dev", "rm-dev.mysql.rds.aliyuncs.com"), 400, "Endpoint.NotFound", "Specified endpoint is not found."},
		{"classic needs no network type", publicReleaseSpec("pgm-stage", "pgm-stage.pg.rds.aliyuncs.com"), 200, "", ""},
	}
	for _, tt := range tests {
		a := call(t, b, tt.spec)
		if a.status != tt.status || a.code() != tt.code {
			t.Fatalf("%s: %d %q, want %d %q (%v)", tt.name, a.status, a.code(), tt.status, tt.code, a.body)
		}
		if tt.msg != "" && a.body["Message"] != tt.msg {
			t.Fatalf("%s: message %q", tt.name, a.body["Message"])
		}
		if a.requestID() == "" {
			t.Fatalf("%s: no RequestId", tt.name)
		}
	}
	for _, inst := range b.srv.Instances() {
		if inst.ID == "rm-dev" && (len(inst.Endpoints) != 1 || inst.Endpoints[0].IPType != "Private") {
			t.Fatalf("rm-dev endpoints: %+v", inst.Endpoints)
		}
	}
	// Through the trail: every call above was authenticated, so each is an
	// event of the caller's account, failures with their code.
	evs := b.srv.TrailEvents(testAccount)
	if len(evs) != len(tests) {
		t.Fatalf("%d trail events, want %d", len(evs), len(tests))
	}
	if evs[0].ErrorCode != "RequiredParam.NotFound" || evs[6].ErrorCode != "" || evs[7].ErrorMessage != "Specified endpoint is not found." ||
		evs[6].UserIdentity.Type != "root-account" || evs[6].RequestParameters["DBInstanceId"] != "rm-dev" {
		t.Fatalf("trail: %+v", evs)
	}
}

func TestPublicReleaseQuotaIsPerAction(t *testing.T) {
	t.Parallel()
	b := setup(t, 1)
	if a := call(t, b, publicReleaseSpec("rm-nope", "x")); a.code() != "InvalidDBInstanceId.NotFound" {
		t.Fatalf("first: %v", a.body)
	}
	if a := call(t, b, publicReleaseSpec("rm-nope", "x")); a.code() != "Throttling.User" {
		t.Fatalf("second in the same second: %v", a.body)
	}
	if a := call(t, b, releaseSpec("rm-nope", "x", "0")); a.code() != "InvalidDBInstanceId.NotFound" {
		t.Fatalf("the other release action has its own window: %v", a.body)
	}
}

// trailWorld is a simulator over TLS and plain HTTP with a role in account
// A, and a client of that role.
type trailWorld struct {
	srv   *rdssim.Server
	clock *fakeClock
	addr  string
	cred  credentials.Credential
	rds   *aliyun.Client
	trail *aliyun.TrailClient
}

func newTrailWorld(t *testing.T, delay time.Duration, trailRate int) trailWorld {
	t.Helper()
	// Signatures carry the real time: the clock starts there and tests move
	// it by minutes, well within the 15-minute skew.
	clock := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
	srv, err := rdssim.New(rdssim.Config{
		Accounts:           []rdssim.Account{{AccessKeyID: testAK, AccessKeySecret: testSecret, AccountID: testAccount}},
		Instances:          accountInstances(),
		Roles:              map[string][]string{acctA: {"rdsgate-gateway"}},
		CA:                 sharedCA,
		TrailDelay:         delay,
		TrailRatePerSecond: trailRate,
		RatePerSecond:      100,
		Now:                clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := startTLS(t, srv)
	p, err := providers.NewRAMRoleARNCredentialsProviderBuilder().
		WithAccessKeyId(testAK).WithAccessKeySecret(testSecret).
		WithRoleArn(roleA).WithRoleSessionName("rdsgate-req-1").
		WithDurationSeconds(900).WithStsEndpoint(addr).Build()
	if err != nil {
		t.Fatal(err)
	}
	cred := credentials.FromCredentialsProvider("ram_role_arn", p)
	rds, err := aliyun.New(aliyun.Config{Endpoint: addr, Protocol: "http", Credential: cred, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	trail, err := aliyun.NewTrail(aliyun.Config{Endpoint: addr, Protocol: "http", RegionID: "cn-hangzhou", Credential: cred, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return trailWorld{srv: srv, clock: clock, addr: addr, cred: cred, rds: rds, trail: trail}
}

// consoleRelease posts to the admin endpoint and decodes the answer.
func consoleRelease(t *testing.T, addr string, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/_sim/console/release", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

func lookup(t *testing.T, w trailWorld, req aliyun.LookupEventsRequest) *aliyun.LookupEventsResponse {
	t.Helper()
	res, err := w.trail.LookupEvents(context.Background(), req)
	if err != nil {
		t.Fatalf("LookupEvents: %v", err)
	}
	return res
}

func eventName(name string) []aliyun.LookupAttribute {
	return []aliyun.LookupAttribute{{Key: aliyun.LookupKeyEventName, Value: name}}
}

// A release through rdsgate's real client (signed with an assumed role)
// and one "from the console" both reach account A's trail, with the right
// identities, only once the trail's delay has passed; account B's console
// release stays in B's trail.
func TestTrailRecordsReleasesAfterTheDelay(t *testing.T) {
	t.Parallel()
	w := newTrailWorld(t, 5*time.Minute, 1000)
	ctx := context.Background()
	t0 := w.clock.Now()

	gate, err := w.rds.ReleaseInstanceConnection(ctx, aliyun.ReleaseInstanceConnectionRequest{
		DBInstanceId: "rm-a", CurrentConnectionString: "rm-a.mysql.rds.aliyuncs.com", InstanceNetworkType: "0"})
	if err != nil {
		t.Fatalf("release through the gateway's client: %v", err)
	}
	w.clock.Advance(time.Second)
	status, console := consoleRelease(t, w.addr, `{"account_id":"`+acctA+`","region_id":"cn-hangzhou","db_instance_id":"rm-shared",
		"connection_string":"rm-shared.mysql.rds.aliyuncs.com","api":"ReleaseInstancePublicConnection",
		"user":"alice-console","source_ip":"198.51.100.23"}`)
	if status != 200 || console["request_id"] == "" || console["event_id"] == "" {
		t.Fatalf("console release: %d %v", status, console)
	}
	w.clock.Advance(time.Second)
	if _, err := w.srv.ConsoleRelease(rdssim.ConsoleRelease{AccountID: acctB, DBInstanceID: "rm-b",
		ConnectionString: "rm-b.mysql.rds.aliyuncs.com", User: "bob", SourceIP: "203.0.113.9"}); err != nil {
		t.Fatalf("console release in B: %v", err)
	}
	for _, inst := range w.srv.Instances() {
		if len(inst.Endpoints) != 0 {
			t.Fatalf("%s still has %+v", inst.ID, inst.Endpoints)
		}
	}

	// Not yet: now < eventTime + 5m.
	w.clock.Advance(5*time.Minute - 3*time.Second)
	if res := lookup(t, w, aliyun.LookupEventsRequest{}); len(res.Events) != 0 {
		t.Fatalf("visible before the delay: %+v", res.Events)
	}
	// The gateway's release is 5m old, the console's 4m59s.
	w.clock.Advance(time.Second)
	res := lookup(t, w, aliyun.LookupEventsRequest{})
	if len(res.Events) != 1 || res.Events[0].RequestID != gate.RequestId {
		t.Fatalf("after the delay: %+v", res.Events)
	}
	w.clock.Advance(time.Second)
	res = lookup(t, w, aliyun.LookupEventsRequest{})
	if len(res.Events) != 2 || res.NextToken != "" || res.RequestId == "" {
		t.Fatalf("both: %+v", res)
	}

	// Newest first: the console's release, then the gateway's.
	c, g := res.Events[0], res.Events[1]
	if c.EventID != console["event_id"] || c.RequestID != console["request_id"] ||
		c.EventName != "ReleaseInstancePublicConnection" || c.EventSource != "rds.aliyuncs.com" ||
		c.EventType != "ApiCall" || c.EventRW != "Write" || c.ServiceName != "Rds" || c.AcsRegion != "cn-hangzhou" ||
		c.SourceIPAddress != "198.51.100.23" || c.UserAgent != "AliyunConsole" || c.Failed() ||
		c.UserIdentity.Type != "ram-user" || c.UserIdentity.UserName != "alice-console" ||
		c.UserIdentity.AccountID != acctA || c.UserIdentity.PrincipalID == "" || c.UserIdentity.AccessKeyID != "" ||
		c.DBInstanceID() != "rm-shared" || c.CurrentConnectionString() != "rm-shared.mysql.rds.aliyuncs.com" ||
		c.Param("RegionId") != "cn-hangzhou" {
		t.Fatalf("console event: %+v\n%s", c, c.Raw)
	}
	if tm, err := c.Time(); err != nil || !tm.Equal(t0.Add(time.Second)) {
		t.Fatalf("console event time %v %v, want %v", tm, err, t0.Add(time.Second))
	}
	id := g.UserIdentity
	if g.RequestID != gate.RequestId || g.EventName != "ReleaseInstanceConnection" ||
		g.SourceIPAddress != "127.0.0.1" || !strings.HasPrefix(g.UserAgent, "AlibabaCloud") ||
		id.Type != "assumed-role" || id.AccountID != acctA || id.UserName != "rdsgate-gateway:rdsgate-req-1" ||
		id.SessionName() != "rdsgate-req-1" || id.RoleName() != "rdsgate-gateway" ||
		!strings.HasPrefix(id.AccessKeyID, "STS.") || !strings.HasSuffix(id.PrincipalID, ":rdsgate-req-1") ||
		id.Arn != roleA+"/rdsgate-req-1" || id.SessionContext == nil || id.SessionContext.Attributes.CreationDate == "" ||
		g.DBInstanceID() != "rm-a" || g.Param("InstanceNetworkType") != "0" || g.Param("RegionId") != "cn-hangzhou" {
		t.Fatalf("gateway event: %+v\n%s", g, g.Raw)
	}
	// B's events are B's.
	for _, ev := range w.srv.TrailEvents(acctB) {
		if ev.UserIdentity.UserName != "bob" || ev.SourceIPAddress != "203.0.113.9" {
			t.Fatalf("B's trail: %+v", ev)
		}
	}
	if n := len(w.srv.TrailEvents("")); n != 3 {
		t.Fatalf("%d events in all, want 3", n)
	}

	// EventName and ResourceName filter.
	if res := lookup(t, w, aliyun.LookupEventsRequest{LookupAttributes: eventName("ReleaseInstanceConnection")}); len(res.Events) != 1 || res.Events[0].RequestID != gate.RequestId {
		t.Fatalf("EventName: %+v", res.Events)
	}
	if res := lookup(t, w, aliyun.LookupEventsRequest{LookupAttributes: []aliyun.LookupAttribute{{Key: "ResourceName", Value: "rm-shared"}}}); len(res.Events) != 1 || res.Events[0].EventID != c.EventID {
		t.Fatalf("ResourceName: %+v", res.Events)
	}
}

// Failed calls are events too, with their code; the time window, paging
// by NextToken, FORWARD order and the parameter checks.
func TestTrailWindowPagingAndErrors(t *testing.T) {
	t.Parallel()
	w := newTrailWorld(t, 0, 1000)
	ctx := context.Background()
	t0 := w.clock.Now()
	var ids []string
	for i := range 5 {
		// rm-b is account B's: InvalidDBInstanceId.NotFound, recorded.
		_, err := w.rds.ReleaseInstancePublicConnection(ctx, aliyun.ReleaseInstancePublicConnectionRequest{
			DBInstanceId: "rm-b", CurrentConnectionString: "rm-b.mysql.rds.aliyuncs.com"})
		var apiErr *aliyun.APIError
		if !errors.As(err, &apiErr) || apiErr.Code != "InvalidDBInstanceId.NotFound" || apiErr.Class != aliyun.ClassPermanent {
			t.Fatalf("call %d: %v", i, err)
		}
		ids = append(ids, apiErr.RequestID)
		w.clock.Advance(time.Minute)
	}
	// Pages of two, newest first, until NextToken is empty.
	var got []string
	token := ""
	for page := 0; ; page++ {
		res := lookup(t, w, aliyun.LookupEventsRequest{LookupAttributes: eventName("ReleaseInstancePublicConnection"), MaxResults: 2, NextToken: token})
		for _, ev := range res.Events {
			if ev.ErrorCode != "InvalidDBInstanceId.NotFound" || ev.ErrorMessage == "" || !ev.Failed() {
				t.Fatalf("failed call's event: %+v", ev)
			}
			got = append(got, ev.RequestID)
		}
		if res.NextToken == "" {
			break
		}
		if page > 5 {
			t.Fatal("paging does not end")
		}
		token = res.NextToken
	}
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("paged %v\nwant  %v", got, want)
	}
	// FORWARD: oldest first.
	res := lookup(t, w, aliyun.LookupEventsRequest{Direction: "FORWARD", MaxResults: 50})
	if len(res.Events) != 5 || res.Events[0].RequestID != ids[0] || res.Events[4].RequestID != ids[4] {
		t.Fatalf("FORWARD: %+v", res.Events)
	}
	// The window [t0+1m, t0+3m] holds calls 1, 2 and 3.
	res = lookup(t, w, aliyun.LookupEventsRequest{StartTime: t0.Add(time.Minute), EndTime: t0.Add(3 * time.Minute)})
	if len(res.Events) != 3 || res.Events[0].RequestID != ids[3] || res.Events[2].RequestID != ids[1] ||
		res.StartTime != t0.Add(time.Minute).Format(aliyun.TrailTimeLayout) {
		t.Fatalf("window: %+v", res)
	}
	// A token belongs to its parameters.
	first := lookup(t, w, aliyun.LookupEventsRequest{MaxResults: 1})
	for name, req := range map[string]aliyun.LookupEventsRequest{
		"token with other parameters": {MaxResults: 2, NextToken: first.NextToken},
		"garbled token":               {NextToken: "not-a-token"},
		"unknown key":                 {LookupAttributes: []aliyun.LookupAttribute{{Key: "Colour", Value: "red"}}},
		"start after end":             {StartTime: t0.Add(time.Hour), EndTime: t0},
	} {
		_, err := w.trail.LookupEvents(ctx, req)
		var apiErr *aliyun.APIError
		if !errors.As(err, &apiErr) || apiErr.Code != rdssim.CodeTrailInvalidParameter || apiErr.HTTPStatus != 400 ||
			apiErr.Class != aliyun.ClassPermanent || apiErr.HostID != rdssim.TrailHostID {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// The trail of another account (the base key's) is empty.
	base, err := aliyun.NewTrail(aliyun.Config{Endpoint: w.addr, Protocol: "http", RegionID: "cn-hangzhou",
		AccessKeyID: testAK, AccessKeySecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := base.LookupEvents(ctx, aliyun.LookupEventsRequest{}); err != nil || len(res.Events) != 0 {
		t.Fatalf("base account's trail: %v %+v", err, res)
	}
}

// LookupEvents has its own quota, two calls per second per account by
// default; throttled answers say when to come back.
func TestTrailQuota(t *testing.T) {
	t.Parallel()
	w := newTrailWorld(t, 0, 0)
	ctx := context.Background()
	for i := range 2 {
		if _, err := w.trail.LookupEvents(ctx, aliyun.LookupEventsRequest{}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	_, err := w.trail.LookupEvents(ctx, aliyun.LookupEventsRequest{})
	var apiErr *aliyun.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != "Throttling.User" || apiErr.Class != aliyun.ClassRetryable || apiErr.RetryAfter <= 0 {
		t.Fatalf("third call in a second: %v", err)
	}
	// Releases are not held back by the trail's window.
	if _, err := w.rds.ReleaseInstanceConnection(ctx, aliyun.ReleaseInstanceConnectionRequest{
		DBInstanceId: "rm-a", CurrentConnectionString: "rm-a.mysql.rds.aliyuncs.com", InstanceNetworkType: "0"}); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Second)
	if _, err := w.trail.LookupEvents(ctx, aliyun.LookupEventsRequest{}); err != nil {
		t.Fatalf("next second: %v", err)
	}
	// A fault rule naming LookupEvents applies to it.
	if err := w.srv.AddFault(rdssim.Fault{Action: "LookupEvents", Code: "ServiceUnavailable", Times: 1}); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Second)
	_, err = w.trail.LookupEvents(ctx, aliyun.LookupEventsRequest{})
	if !errors.As(err, &apiErr) || apiErr.Code != "ServiceUnavailable" || apiErr.Class != aliyun.ClassRetryable {
		t.Fatalf("injected: %v", err)
	}
}

// The console endpoint answers the API's refusals with their status and
// records them; malformed requests record nothing.
func TestConsoleReleaseErrors(t *testing.T) {
	t.Parallel()
	w := newTrailWorld(t, 0, 0)
	status, body := consoleRelease(t, w.addr, `{"account_id":"`+acctA+`","db_instance_id":"rm-b","connection_string":"rm-b.mysql.rds.aliyuncs.com","user":"alice"}`)
	if status != 400 || body["code"] != "InvalidDBInstanceId.NotFound" || body["request_id"] == "" || body["event_id"] == "" {
		t.Fatalf("another account's instance: %d %v", status, body)
	}
	status, body = consoleRelease(t, w.addr, `{"account_id":"`+acctA+`","db_instance_id":"rm-a","connection_string":"nope","api":"ReleaseInstancePublicConnection","user":"alice"}`)
	if status != 400 || body["code"] != "Endpoint.NotFound" || body["message"] != "Specified endpoint is not found." {
		t.Fatalf("unknown endpoint: %d %v", status, body)
	}
	status, body = consoleRelease(t, w.addr, `{"account_id":"`+acctA+`","db_instance_id":"rm-a","connection_string":"nope","user":"alice"}`)
	if status != 404 || body["code"] != "Endpoint.NotFound" {
		t.Fatalf("unknown endpoint, ReleaseInstanceConnection: %d %v", status, body)
	}
	for _, bad := range []string{
		`{"account_id":"12","db_instance_id":"rm-a","connection_string":"x","user":"alice"}`,
		`{"account_id":"` + acctA + `","db_instance_id":"rm-a","connection_string":"x"}`,
		`{"account_id":"` + acctA + `","db_instance_id":"rm-a","connection_string":"x","user":"a","api":"DeleteDBInstance"}`,
		`{"account_id":"` + acctA + `","db_instance_id":"rm-a","connection_string":"x","user":"a","source_ip":"nowhere"}`,
		`{"account_id":"` + acctA + `","unknown":1}`,
	} {
		if status, body := consoleRelease(t, w.addr, bad); status != 400 || body["error"] == nil {
			t.Fatalf("%s: %d %v", bad, status, body)
		}
	}
	evs := w.srv.TrailEvents(acctA)
	if len(evs) != 3 || evs[0].ErrorCode != "InvalidDBInstanceId.NotFound" || evs[1].ErrorMessage != "Specified endpoint is not found." {
		t.Fatalf("trail: %+v", evs)
	}
	// GET /_sim/trail lists them; DELETE empties it.
	resp, err := http.Get("http://" + w.addr + "/_sim/trail?account=" + acctA)
	if err != nil {
		t.Fatal(err)
	}
	var listed struct {
		Events []map[string]any `json:"events"`
	}
	err = json.NewDecoder(resp.Body).Decode(&listed)
	resp.Body.Close()
	if err != nil || len(listed.Events) != 3 || listed.Events[0]["eventName"] != "ReleaseInstanceConnection" {
		t.Fatalf("GET /_sim/trail: %v %+v", err, listed)
	}
	req, _ := http.NewRequest(http.MethodDelete, "http://"+w.addr+"/_sim/trail", bytes.NewReader(nil))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || len(w.srv.TrailEvents("")) != 0 {
		t.Fatalf("DELETE /_sim/trail: %d, %d left", resp.StatusCode, len(w.srv.TrailEvents("")))
	}
}
