package rdssim_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/rdssim"
)

// liveBundle is a simulator on the real clock behind a loopback HTTP server,
// with a real client.
type liveBundle struct {
	srv    *rdssim.Server
	ts     *httptest.Server
	client *aliyun.Client
}

func setupLive(t *testing.T, timeout time.Duration) liveBundle {
	t.Helper()
	srv, err := rdssim.New(rdssim.Config{
		Accounts:      []rdssim.Account{{AccessKeyID: testAK, AccessKeySecret: testSecret, AccountID: testAccount}},
		Instances:     testInstances(),
		RatePerSecond: 1000,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	client, err := aliyun.New(aliyun.Config{
		Endpoint: ts.Listener.Addr().String(), Protocol: "http", RegionID: "cn-hangzhou",
		Timeout: timeout, AccessKeyID: testAK, AccessKeySecret: testSecret,
	})
	if err != nil {
		t.Fatal(err)
	}
	return liveBundle{srv: srv, ts: ts, client: client}
}

func (b liveBundle) release(instance, cs, netType string) (*aliyun.ReleaseInstanceConnectionResponse, error) {
	return b.client.ReleaseInstanceConnection(context.Background(), aliyun.ReleaseInstanceConnectionRequest{
		DBInstanceId: instance, CurrentConnectionString: cs, InstanceNetworkType: netType,
	})
}

func (b liveBundle) releaseDev() (*aliyun.ReleaseInstanceConnectionResponse, error) {
	return b.release("rm-dev", "rm-dev.mysql.rds.aliyuncs.com", "0")
}

func hasPublic(srv *rdssim.Server, id string) bool {
	for _, inst := range srv.Instances() {
		if inst.ID != id {
			continue
		}
		for _, ep := range inst.Endpoints {
			if ep.IPType == "Public" {
				return true
			}
		}
	}
	return false
}

func apiError(t *testing.T, err error) *aliyun.APIError {
	t.Helper()
	var e *aliyun.APIError
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want *aliyun.APIError", err, err)
	}
	return e
}

func TestFaultModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault rdssim.Fault
		// check runs the scenario against a fresh simulator.
		check func(t *testing.T, b liveBundle)
	}{
		{
			name:  "code answers the catalog status and message, then expires",
			fault: rdssim.Fault{Instance: "rm-dev", Action: "ReleaseInstanceConnection", Code: "Forbidden.RAM", Times: 1},
			check: func(t *testing.T, b liveBundle) {
				_, err := b.releaseDev()
				e := apiError(t, err)
				entry, _ := aliyun.LookupError("Forbidden.RAM")
				if e.Code != "Forbidden.RAM" || e.HTTPStatus != 403 || e.Message != entry.Message || e.AccessDeniedDetail == nil {
					t.Fatalf("got %+v", e)
				}
				if !hasPublic(b.srv, "rm-dev") {
					t.Fatal("an injected error performed the release")
				}
				if _, err := b.releaseDev(); err != nil {
					t.Fatalf("second call after times=1: %v", err)
				}
				calls := b.srv.Calls()
				if len(calls) != 2 || !calls[0].Injected || calls[0].Code != "Forbidden.RAM" || calls[1].Injected || calls[1].Status != 200 {
					t.Fatalf("calls = %+v", calls)
				}
			},
		},
		{
			name:  "times counts down and forever stays",
			fault: rdssim.Fault{Action: "DescribeDBInstanceNetInfo", Code: "InternalError", Times: 2},
			check: func(t *testing.T, b liveBundle) {
				if err := b.srv.AddFault(rdssim.Fault{Action: "DescribeDBInstanceAttribute", Code: "ServiceUnavailable"}); err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				for i := range 3 {
					_, err := b.client.DescribeDBInstanceNetInfo(ctx, aliyun.DescribeDBInstanceNetInfoRequest{DBInstanceId: "rm-dev"})
					if (err != nil) != (i < 2) {
						t.Fatalf("net info call %d: err = %v", i+1, err)
					}
					_, err = b.client.DescribeDBInstanceAttribute(ctx, aliyun.DescribeDBInstanceAttributeRequest{DBInstanceId: "rm-dev"})
					if e := apiError(t, err); e.Code != "ServiceUnavailable" || e.HTTPStatus != 503 {
						t.Fatalf("attribute call %d: %+v", i+1, e)
					}
				}
				want := []rdssim.Fault{{Action: "DescribeDBInstanceAttribute", Code: "ServiceUnavailable"}}
				if diff := cmp.Diff(want, b.srv.Faults()); diff != "" {
					t.Fatalf("faults (-want +got):\n%s", diff)
				}
				b.srv.ClearFaults()
				if _, err := b.client.DescribeDBInstanceAttribute(ctx, aliyun.DescribeDBInstanceAttributeRequest{DBInstanceId: "rm-dev"}); err != nil {
					t.Fatalf("after ClearFaults: %v", err)
				}
			},
		},
		{
			name:  "instance filter leaves other instances alone",
			fault: rdssim.Fault{Instance: "pgm-stage", Code: "Throttling.User"},
			check: func(t *testing.T, b liveBundle) {
				if _, err := b.releaseDev(); err != nil {
					t.Fatalf("rm-dev: %v", err)
				}
				_, err := b.release("pgm-stage", "pgm-stage.pg.rds.aliyuncs.com", "1")
				if e := apiError(t, err); e.Code != "Throttling.User" || e.Class != aliyun.ClassRetryable {
					t.Fatalf("pgm-stage: %+v", e)
				}
			},
		},
		{
			name:  "short delay still answers",
			fault: rdssim.Fault{Instance: "rm-dev", DelayMS: 30, Times: 1},
			check: func(t *testing.T, b liveBundle) {
				start := time.Now()
				if _, err := b.releaseDev(); err != nil {
					t.Fatal(err)
				}
				if d := time.Since(start); d < 30*time.Millisecond {
					t.Fatalf("answered after %s, before the 30ms delay", d)
				}
				if hasPublic(b.srv, "rm-dev") {
					t.Fatal("release not performed")
				}
			},
		},
		{
			name:  "delay beyond the client timeout abandons the call",
			fault: rdssim.Fault{Instance: "rm-dev", DelayMS: 60_000},
			check: func(t *testing.T, b liveBundle) {
				_, err := b.releaseDev()
				e := apiError(t, err)
				if e.Class != aliyun.ClassUnknownOutcome || !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("got %+v, want unknown_outcome deadline", e)
				}
				b.ts.Close() // waits for the handler to finish
				if !hasPublic(b.srv, "rm-dev") {
					t.Fatal("an abandoned call performed the release")
				}
				calls := b.srv.Calls()
				if len(calls) != 1 || calls[0].Outcome != rdssim.OutcomeAbandoned || calls[0].Status != 0 {
					t.Fatalf("calls = %+v", calls)
				}
			},
		},
		{
			name:  "code after release performs it and answers the code",
			fault: rdssim.Fault{Instance: "rm-dev", Action: "ReleaseInstanceConnection", Code: "InternalError", CodeAfterRelease: true, Times: 1},
			check: func(t *testing.T, b liveBundle) {
				_, err := b.releaseDev()
				e := apiError(t, err)
				if e.Code != "InternalError" || e.HTTPStatus != 500 || e.Class != aliyun.ClassUnknownOutcome || e.RequestID == "" {
					t.Fatalf("got %+v, want InternalError 500 unknown_outcome with a RequestId", e)
				}
				if hasPublic(b.srv, "rm-dev") {
					t.Fatal("the release was not performed")
				}
				calls := b.srv.Calls()
				if len(calls) != 1 || calls[0].Outcome != rdssim.OutcomeAnswered || calls[0].Status != 500 ||
					calls[0].Code != "InternalError" || !calls[0].Injected || !calls[0].Performed || calls[0].RequestID != e.RequestID {
					t.Fatalf("calls = %+v", calls)
				}
				_, err = b.releaseDev()
				if e := apiError(t, err); e.Code != "Endpoint.NotFound" || e.Class != aliyun.ClassPermanent {
					t.Fatalf("retry after the 500: %+v", e)
				}
				if calls := b.srv.Calls(); len(calls) != 2 || calls[1].Performed || calls[1].Injected {
					t.Fatalf("calls = %+v", calls)
				}
			},
		},
		{
			name:  "drop after release performs it and closes the connection",
			fault: rdssim.Fault{Instance: "rm-dev", Action: "ReleaseInstanceConnection", DropAfterRelease: true, Times: 1},
			check: func(t *testing.T, b liveBundle) {
				_, err := b.releaseDev()
				if e := apiError(t, err); e.Class != aliyun.ClassUnknownOutcome || e.HTTPStatus != 0 {
					t.Fatalf("got %+v, want unknown_outcome without status", e)
				}
				if hasPublic(b.srv, "rm-dev") {
					t.Fatal("the release was not performed")
				}
				calls := b.srv.Calls()
				if len(calls) != 1 || calls[0].Outcome != rdssim.OutcomeDropped || calls[0].Status != 200 || !calls[0].Injected {
					t.Fatalf("calls = %+v", calls)
				}
				_, err = b.releaseDev()
				if e := apiError(t, err); e.Code != "Endpoint.NotFound" {
					t.Fatalf("retry after drop: %+v", e)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupLive(t, 500*time.Millisecond)
			if err := b.srv.AddFault(tt.fault); err != nil {
				t.Fatal(err)
			}
			tt.check(t, b)
		})
	}
}

func TestAddFaultValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, 0)
	bad := []rdssim.Fault{
		{Code: "NoSuchCode"},
		{Code: "pay.NoCreditCard"}, // case matters
		{DelayMS: -1},
		{Code: "InternalError", Times: -1},
		{Instance: "rm-dev"},                 // does nothing
		{DelayMS: 5, CodeAfterRelease: true}, // no code to answer
	}
	for _, f := range bad {
		if err := b.srv.AddFault(f); err == nil {
			t.Errorf("AddFault(%+v) accepted", f)
		}
	}
	if len(b.srv.Faults()) != 0 {
		t.Fatalf("faults = %+v", b.srv.Faults())
	}
}

func TestLoadFaults(t *testing.T) {
	t.Parallel()
	faults, err := rdssim.LoadFaults(filepath.Join("testdata", "faults.example.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(faults) != 5 || faults[2].Instance != "rm-bp1demo00000002" || !faults[2].DropAfterRelease {
		t.Fatalf("faults = %+v", faults)
	}
	path := filepath.Join(t.TempDir(), "faults.json")
	if err := os.WriteFile(path, []byte(`[{"code":"Nope"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := rdssim.LoadFaults(path); err == nil || !strings.Contains(err.Error(), "rule 0") {
		t.Fatalf("err = %v", err)
	}
}

// admin sends one admin request through the handler.
func admin(t *testing.T, srv *rdssim.Server, method, path, body, remote string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, "http://sim"+path, strings.NewReader(body))
	req.RemoteAddr = remote
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	return rec
}

func TestAdminAPI(t *testing.T) {
	t.Parallel()
	const local = "127.0.0.1:5555"
	b := setup(t, 0)

	if rec := admin(t, b.srv, "GET", "/_sim/faults", "", "10.0.0.5:5555"); rec.Code != http.StatusForbidden {
		t.Fatalf("non-loopback client: %d", rec.Code)
	}
	if rec := admin(t, b.srv, "GET", "/_sim/faults", "", "[::1]:5555"); rec.Code != http.StatusOK {
		t.Fatalf("IPv6 loopback client: %d", rec.Code)
	}

	rec := admin(t, b.srv, "POST", "/_sim/faults", `{"instance":"rm-dev","action":"ReleaseInstanceConnection","code":"Throttling.User","times":1}`, local)
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST fault: %d %s", rec.Code, rec.Body)
	}
	rec = admin(t, b.srv, "POST", "/_sim/faults", `[{"delay_ms":5},{"code":"Endpoint.NotFound","instance":"x"}]`, local)
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST fault array: %d %s", rec.Code, rec.Body)
	}
	for _, body := range []string{`{"code":"Nope"}`, `{"cod":"InternalError"}`, `[{"delay_ms":5},{"code":"Nope"}]`} {
		if rec := admin(t, b.srv, "POST", "/_sim/faults", body, local); rec.Code != http.StatusBadRequest {
			t.Fatalf("POST %s: %d", body, rec.Code)
		}
	}
	var faults []rdssim.Fault
	rec = admin(t, b.srv, "GET", "/_sim/faults", "", local)
	if err := json.Unmarshal(rec.Body.Bytes(), &faults); err != nil || len(faults) != 3 {
		t.Fatalf("GET faults: %v %s", err, rec.Body)
	}

	// The injected fault is visible through the API and the call log.
	ans := call(t, b, releaseSpec("rm-dev", "rm-dev.mysql.rds.aliyuncs.com", "0"))
	if ans.code() != "Throttling.User" {
		t.Fatalf("release with fault: %v", ans.body)
	}
	var calls []map[string]any
	rec = admin(t, b.srv, "GET", "/_sim/calls", "", local)
	if err := json.Unmarshal(rec.Body.Bytes(), &calls); err != nil || len(calls) != 1 {
		t.Fatalf("GET calls: %v %s", err, rec.Body)
	}
	wantCall := map[string]any{
		"time": b.clock.Now().Format(time.RFC3339Nano), "action": "ReleaseInstanceConnection", "instance": "rm-dev",
		"account": testAccount, "account_id": testAccount, "key_kind": "base", "request_id": ans.requestID(), "code": "Throttling.User", "status": float64(400),
		"outcome": "answered", "injected": true,
	}
	if diff := cmp.Diff(wantCall, calls[0]); diff != "" {
		t.Fatalf("call entry (-want +got):\n%s", diff)
	}
	if rec := admin(t, b.srv, "DELETE", "/_sim/calls", "", local); rec.Code != http.StatusNoContent || len(b.srv.Calls()) != 0 {
		t.Fatalf("DELETE calls: %d", rec.Code)
	}

	if rec := admin(t, b.srv, "DELETE", "/_sim/faults", "", local); rec.Code != http.StatusNoContent || len(b.srv.Faults()) != 0 {
		t.Fatalf("DELETE faults: %d %+v", rec.Code, b.srv.Faults())
	}

	// Instances: upsert, then replace.
	rec = admin(t, b.srv, "POST", "/_sim/instances", `{"instances":[{"id":"rm-new","network_type":"vpc","endpoints":[{"connection_string":"rm-new.mysql.rds.aliyuncs.com","ip_type":"public"}]}]}`, local)
	if rec.Code != http.StatusOK {
		t.Fatalf("POST instances: %d %s", rec.Code, rec.Body)
	}
	if got := len(b.srv.Instances()); got != len(testInstances())+1 {
		t.Fatalf("after upsert: %d instances", got)
	}
	if ans := call(t, b, releaseSpec("rm-new", "rm-new.mysql.rds.aliyuncs.com", "0")); ans.status != http.StatusOK {
		t.Fatalf("release upserted instance: %v", ans.body)
	}
	rec = admin(t, b.srv, "POST", "/_sim/instances?replace=true", `{"instances":[{"id":"only","network_type":"Classic","endpoints":[]}]}`, local)
	if rec.Code != http.StatusOK {
		t.Fatalf("replace instances: %d %s", rec.Code, rec.Body)
	}
	var state rdssim.StateFile
	rec = admin(t, b.srv, "GET", "/_sim/instances", "", local)
	if err := json.Unmarshal(rec.Body.Bytes(), &state); err != nil {
		t.Fatal(err)
	}
	want := rdssim.StateFile{Instances: []rdssim.Instance{{ID: "only", NetworkType: "Classic", Status: "Running", Endpoints: []rdssim.Endpoint{}}}}
	if diff := cmp.Diff(want, state); diff != "" {
		t.Fatalf("GET instances (-want +got):\n%s", diff)
	}
	if rec := admin(t, b.srv, "POST", "/_sim/instances", `{"instances":[{"id":"bad"}]}`, local); rec.Code != http.StatusBadRequest {
		t.Fatalf("invalid instance accepted: %d", rec.Code)
	}
	if rec := admin(t, b.srv, "PUT", "/_sim/instances", "", local); rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("PUT: %d", rec.Code)
	}
	if rec := admin(t, b.srv, "GET", "/_sim/nothing", "", local); rec.Code != http.StatusNotFound {
		t.Fatalf("unknown admin path: %d", rec.Code)
	}
}
