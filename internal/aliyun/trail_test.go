package aliyun_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/rdssim"
)

func TestDefaultTrailEndpoint(t *testing.T) {
	t.Parallel()
	for region, want := range map[string]string{
		"cn-hangzhou":         "actiontrail.cn-hangzhou.aliyuncs.com",
		"ap-southeast-1":      "actiontrail.ap-southeast-1.aliyuncs.com",
		"cn-hangzhou-finance": "actiontrail.aliyuncs.com",
		"eu-west-1-oxs":       "actiontrail.ap-northeast-1.aliyuncs.com",
	} {
		if got := aliyun.DefaultTrailEndpoint(region); got != want {
			t.Errorf("DefaultTrailEndpoint(%s) = %s, want %s", region, got, want)
		}
	}
	tc, err := aliyun.NewTrail(aliyun.Config{RegionID: "cn-shanghai", AccessKeyID: "LTAIexample0000001", AccessKeySecret: "s"})
	if err != nil || tc.Endpoint() != "actiontrail.cn-shanghai.aliyuncs.com" || tc.RegionID() != "cn-shanghai" {
		t.Fatalf("NewTrail: %v %v", tc, err)
	}
	if s := tc.String(); !strings.HasPrefix(s, "aliyun.TrailClient{") || strings.Contains(s, `"s"`) {
		t.Fatalf("String: %s", s)
	}
	if _, err := aliyun.NewTrail(aliyun.Config{AccessKeyID: "LTAIexample0000001", AccessKeySecret: "s"}); err == nil {
		t.Fatal("NewTrail without endpoint or region")
	}
	if _, err := aliyun.NewClients(aliyun.ClientsConfig{Base: aliyun.Config{RegionID: "cn-hangzhou", AccessKeyID: "LTAIexample0000001", AccessKeySecret: "s"}, TrailEndpoint: "http://x"}); err == nil {
		t.Fatal("TrailEndpoint with a scheme")
	}
}

// The documented sibling code keeps its own status and message, and the
// same (permanent) class.
func TestLookupErrorForPublicConnection(t *testing.T) {
	t.Parallel()
	pub, ok := aliyun.LookupErrorFor(aliyun.ActionReleaseInstancePublicConnection, aliyun.CodeEndpointNotFound)
	if !ok || pub.HTTPStatus != 400 || pub.Message != aliyun.MessagePublicEndpointNotFound || pub.Class != aliyun.ClassPermanent {
		t.Fatalf("public: %+v", pub)
	}
	rel, ok := aliyun.LookupErrorFor(aliyun.ActionReleaseInstanceConnection, aliyun.CodeEndpointNotFound)
	if want, _ := aliyun.LookupError(aliyun.CodeEndpointNotFound); !ok || rel != want || rel.HTTPStatus != 404 {
		t.Fatalf("release: %+v", rel)
	}
	if thr, ok := aliyun.LookupErrorFor(aliyun.ActionReleaseInstancePublicConnection, aliyun.CodeThrottlingUser); !ok || thr.Class != aliyun.ClassRetryable {
		t.Fatalf("throttling: %+v", thr)
	}
	if _, ok := aliyun.LookupErrorFor(aliyun.ActionReleaseInstancePublicConnection, "No.Such.Code"); ok {
		t.Fatal("unknown code found")
	}
}

func TestTrailEventParsing(t *testing.T) {
	t.Parallel()
	// The documentation's sample (an assumed role querying events), with a
	// numeric request parameter and a numeric eventVersion.
	raw := `{"apiVersion":"2020-07-06","requestId":"3462D6AF-4434-4690-8CAD-E54A","eventType":"ApiCall",
	 "userIdentity":{"accessKeyId":"STS.NUQNP4PiGyckMsNiGELCs****","sessionContext":{"attributes":{"mfaAuthenticated":"false","creationDate":"2021-01-01T00:00:00Z"}},
	  "accountId":"159498693826****","principalId":"34359792600393****:u1","type":"assumed-role","userName":"custom-role-for-actiontrail:u1"},
	 "acsRegion":"cn-hangzhou","eventName":"LookupEvents",
	 "requestParameters":{"stsTokenPlayerUid":1754986938260000,"RegionId":"cn-hangzhou","LookupAttribute.1.Key":"EventRW"},
	 "eventSource":"actiontrail.cn-hangzhou.aliyuncs.com","serviceName":"Actiontrail","eventTime":"2021-01-01T00:00:00Z",
	 "eventId":"3462D6AF-4434-4690-8CAD-****","errorCode":"","errorMessage":"","eventVersion":1,"sourceIpAddress":"192.168.XX.XX"}`
	var ev aliyun.TrailEvent
	if err := json.Unmarshal([]byte(raw), &ev); err != nil {
		t.Fatal(err)
	}
	id := ev.UserIdentity
	if ev.RequestID != "3462D6AF-4434-4690-8CAD-E54A" || ev.Failed() || ev.SourceIPAddress != "192.168.XX.XX" ||
		id.Type != aliyun.IdentityAssumedRole || id.SessionName() != "u1" || id.RoleName() != "custom-role-for-actiontrail" ||
		id.SessionContext.Attributes.CreationDate != "2021-01-01T00:00:00Z" ||
		ev.Param("stsTokenPlayerUid") != "1754986938260000" || ev.Param("RegionId") != "cn-hangzhou" ||
		ev.Param("Missing") != "" || ev.DBInstanceID() != "" || string(ev.Raw) != raw {
		t.Fatalf("%+v", ev)
	}
	if tm, err := ev.Time(); err != nil || !tm.Equal(time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("Time: %v %v", tm, err)
	}
	user := aliyun.TrailUserIdentity{Type: aliyun.IdentityRAMUser, UserName: "alice"}
	if user.SessionName() != "" || user.RoleName() != "" {
		t.Fatal("a RAM user has no session")
	}
}

// Clients.Trail gives a per-role trail client on RDSGATE_ACTIONTRAIL_ENDPOINT
// that reads the role's account's events, with the RDS clients' credentials;
// the sibling API goes through the same clients.
func TestClientsTrailAndPublicRelease(t *testing.T) {
	t.Parallel()
	sim, addr := fleetSim(t, rdssim.FleetSpec{Accounts: 2, Regions: []string{"cn-hangzhou"}, PerRegion: 1}, 100)
	clients := newClients(t, addr, func(c *aliyun.ClientsConfig) {
		c.Base.Endpoint = "rds.invalid:1" // the trail must not use the RDS endpoint
		c.TrailEndpoint = addr
	})
	ctx := context.Background()
	acct1, acct2 := rdssim.FleetAccountID(1), rdssim.FleetAccountID(2)
	id1 := rdssim.FleetInstanceID(1, 0, "cn-hangzhou", 1)

	rds := newClients(t, addr, nil)
	cl, err := rds.Client(roleOf(acct1), "cn-hangzhou", "rdsgate-0190a3c2")
	if err != nil {
		t.Fatal(err)
	}
	out, err := cl.ReleaseInstancePublicConnection(ctx, aliyun.ReleaseInstancePublicConnectionRequest{
		DBInstanceId: id1, CurrentConnectionString: id1 + ".mysql.rds.aliyuncs.com"})
	if err != nil || out.RequestId == "" || out.HTTPStatus != 200 {
		t.Fatalf("ReleaseInstancePublicConnection: %+v %v", out, err)
	}
	_, err = cl.ReleaseInstancePublicConnection(ctx, aliyun.ReleaseInstancePublicConnectionRequest{
		DBInstanceId: id1, CurrentConnectionString: id1 + ".mysql.rds.aliyuncs.com"})
	var apiErr *aliyun.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != "Endpoint.NotFound" || apiErr.HTTPStatus != 400 ||
		apiErr.Class != aliyun.ClassPermanent || apiErr.Action != aliyun.ActionReleaseInstancePublicConnection {
		t.Fatalf("again: %v", err)
	}
	if _, err := sim.ConsoleRelease(rdssim.ConsoleRelease{AccountID: acct2, User: "bob", SourceIP: "203.0.113.7",
		DBInstanceID:     rdssim.FleetInstanceID(2, 0, "cn-hangzhou", 1),
		ConnectionString: rdssim.FleetInstanceID(2, 0, "cn-hangzhou", 1) + ".mysql.rds.aliyuncs.com"}); err != nil {
		t.Fatal(err)
	}

	tc, err := clients.Trail(roleOf(acct1), "cn-hangzhou")
	if err != nil || tc.Endpoint() != addr {
		t.Fatalf("Trail: %v %v", tc, err)
	}
	if again, _ := clients.Trail(roleOf(acct1), "cn-hangzhou"); again.Endpoint() != tc.Endpoint() {
		t.Fatal("not cached")
	}
	res, err := tc.LookupEvents(ctx, aliyun.LookupEventsRequest{
		LookupAttributes: []aliyun.LookupAttribute{{Key: aliyun.LookupKeyEventName, Value: aliyun.ActionReleaseInstancePublicConnection}},
		StartTime:        time.Now().Add(-time.Hour), EndTime: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatalf("LookupEvents: %v", err)
	}
	if len(res.Events) != 2 || res.Events[1].RequestID != out.RequestId || res.Events[0].ErrorCode != "Endpoint.NotFound" ||
		res.Events[1].UserIdentity.SessionName() != "rdsgate-0190a3c2" || res.Events[1].UserIdentity.AccountID != acct1 ||
		res.Events[1].DBInstanceID() != id1 || res.Events[1].AcsRegion != "cn-hangzhou" {
		t.Fatalf("events: %+v", res.Events)
	}
	// The trail client's own calls act as the role in session rdsgate-trail.
	var sawTrail bool
	for _, c := range sim.Calls() {
		if c.Action == aliyun.ActionLookupEvents {
			sawTrail = true
			if c.AccountID != acct1 || c.KeyKind != rdssim.KeyKindSTS || c.Role != roleOf(acct1) || c.Status != 200 {
				t.Fatalf("LookupEvents call: %+v", c)
			}
		}
	}
	if !sawTrail {
		t.Fatal("no LookupEvents call logged")
	}
	if _, err := tc.LookupEvents(ctx, aliyun.LookupEventsRequest{MaxResults: 51}); err == nil {
		t.Fatal("MaxResults 51 accepted")
	}
	// Without a role: the base account's trail, which has no events.
	base, err := clients.Trail("", "cn-hangzhou")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := base.LookupEvents(ctx, aliyun.LookupEventsRequest{}); err != nil || len(res.Events) != 0 {
		t.Fatalf("base trail: %+v %v", res, err)
	}
}
