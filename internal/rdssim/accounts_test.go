package rdssim_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/credentials-go/credentials"
	"github.com/aliyun/credentials-go/credentials/providers"

	"github.com/rdsgate/rdsgate/internal/aliyun"
	"github.com/rdsgate/rdsgate/internal/rdssim"
	"github.com/rdsgate/rdsgate/internal/rdssim/simtest"
)

// sharedCA signs the certificate of every simulator served over TLS in
// these tests; TestMain makes http.DefaultTransport trust it, which is how
// credentials-go's STS calls (a clone of http.DefaultTransport per call)
// come to trust the simulator.
var sharedCA *rdssim.CA

func TestMain(m *testing.M) {
	ca, err := rdssim.NewCA()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sharedCA = ca
	http.DefaultTransport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: ca.CertPool(), MinVersion: tls.VersionTLS12}
	os.Exit(m.Run())
}

const (
	acctA = "1000000000000001"
	acctB = "1000000000000002"
	roleA = "acs:ram::" + acctA + ":role/rdsgate-gateway"
	roleB = "acs:ram::" + acctB + ":role/rdsgate-gateway"
)

// accountInstances: one instance per account and one visible to all.
func accountInstances() []rdssim.Instance {
	mk := func(id, owner string) rdssim.Instance {
		return rdssim.Instance{ID: id, RegionID: "cn-hangzhou", Engine: "MySQL", NetworkType: "VPC", AccountID: owner,
			Endpoints: []rdssim.Endpoint{{ConnectionString: id + ".mysql.rds.aliyuncs.com", IPType: "Public"}}}
	}
	return []rdssim.Instance{mk("rm-a", acctA), mk("rm-b", acctB), mk("rm-shared", "")}
}

// startTLS serves srv on a sniffing listener: plain HTTP and TLS on one port.
func startTLS(t *testing.T, srv *rdssim.Server) string {
	t.Helper()
	return simtest.Start(t, srv)
}

func TestCredentialsGoAssumeRoleOverTLSThenRDS(t *testing.T) {
	t.Parallel()
	srv, err := rdssim.New(rdssim.Config{
		Accounts:  []rdssim.Account{{AccessKeyID: testAK, AccessKeySecret: testSecret, AccountID: testAccount}},
		Instances: accountInstances(),
		Roles:     map[string][]string{acctA: {"rdsgate-gateway"}, acctB: {"rdsgate-gateway"}},
		CA:        sharedCA,
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := startTLS(t, srv)

	provider := func(ak, secret, arn string) credentials.Credential {
		p, err := providers.NewRAMRoleARNCredentialsProviderBuilder().
			WithAccessKeyId(ak).WithAccessKeySecret(secret).
			WithRoleArn(arn).WithRoleSessionName("rdsgate-test").
			WithDurationSeconds(900).WithStsEndpoint(addr).Build()
		if err != nil {
			t.Fatal(err)
		}
		return credentials.FromCredentialsProvider("ram_role_arn", p)
	}
	cred := provider(testAK, testSecret, roleA)
	cc, err := cred.GetCredential()
	if err != nil {
		t.Fatalf("AssumeRole through credentials-go: %v", err)
	}
	if !strings.HasPrefix(*cc.AccessKeyId, "STS.") || *cc.AccessKeySecret == "" || *cc.SecurityToken == "" {
		t.Fatalf("credentials: %s %q", *cc.AccessKeyId, *cc.SecurityToken)
	}
	calls := srv.Calls()
	if len(calls) != 1 || calls[0].Action != "AssumeRole" || calls[0].Status != 200 || !calls[0].TLS ||
		calls[0].AccountID != acctA || calls[0].KeyKind != "base" || calls[0].Role != roleA {
		t.Fatalf("AssumeRole call log: %+v", calls)
	}

	// RDS calls signed with the temporary credentials act as account A.
	client, err := aliyun.New(aliyun.Config{Endpoint: addr, Protocol: "http", Credential: cred, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, id := range []string{"rm-a", "rm-shared"} {
		if _, err := client.DescribeDBInstanceAttribute(ctx, aliyun.DescribeDBInstanceAttributeRequest{DBInstanceId: id}); err != nil {
			t.Fatalf("describe %s as A: %v", id, err)
		}
	}
	_, err = client.ReleaseInstanceConnection(ctx, aliyun.ReleaseInstanceConnectionRequest{
		DBInstanceId: "rm-b", CurrentConnectionString: "rm-b.mysql.rds.aliyuncs.com", InstanceNetworkType: "0"})
	if e, ok := err.(*aliyun.APIError); !ok || e.Code != "InvalidDBInstanceId.NotFound" || e.HTTPStatus != 400 {
		t.Fatalf("release B's instance as A: %v", err)
	}
	if _, err := client.ReleaseInstanceConnection(ctx, aliyun.ReleaseInstanceConnectionRequest{
		DBInstanceId: "rm-a", CurrentConnectionString: "rm-a.mysql.rds.aliyuncs.com", InstanceNetworkType: "0"}); err != nil {
		t.Fatalf("release A's instance as A: %v", err)
	}
	for _, c := range srv.Calls()[1:] {
		if c.AccountID != acctA || c.Account != acctA || c.KeyKind != "sts" || c.Role != roleA || c.TLS {
			t.Fatalf("RDS call log entry: %+v", c)
		}
	}
	if got := srv.InstancesFor(acctB); len(got) != 2 || len(got[0].Endpoints) != 1 {
		t.Fatalf("B's instances changed: %+v", got)
	}

	// Refusals, as credentials-go reports them.
	for _, tt := range []struct{ ak, secret, arn, want string }{
		{testAK, "wrong", roleA, "SignatureDoesNotMatch"},
		{"LTAInobody", testSecret, roleA, "InvalidAccessKeyId.NotFound"},
		{testAK, testSecret, "acs:ram::" + acctA + ":role/nope", "EntityNotExist.Role"},
		{testAK, testSecret, "acs:ram::9999999999999999:role/rdsgate-gateway", "EntityNotExist.Role"},
		{testAK, testSecret, "acs:ram::123:role/x", "InvalidParameter.RoleArn"},
	} {
		if _, err := provider(tt.ak, tt.secret, tt.arn).GetCredential(); err == nil || !strings.Contains(err.Error(), `"Code":"`+tt.want+`"`) {
			t.Errorf("%s %s: %v, want %s", tt.ak, tt.arn, err, tt.want)
		}
	}
}

// rpcRequest builds an AssumeRole request signed as credentials-go signs it.
func rpcRequest(t *testing.T, b bundle, ak, secret string, form map[string]string, mutate func(q url.Values)) *http.Request {
	t.Helper()
	q := url.Values{
		"Version": {"2015-04-01"}, "Action": {"AssumeRole"}, "Format": {"JSON"},
		"Timestamp":       {b.clock.Now().UTC().Format("2006-01-02T15:04:05Z")},
		"SignatureMethod": {"HMAC-SHA1"}, "SignatureVersion": {"1.0"},
		"SignatureNonce": {fmt.Sprintf("n%d", nonceSeq.Add(1))}, "AccessKeyId": {ak},
	}
	if mutate != nil {
		mutate(q)
	}
	all := url.Values{}
	for k, v := range q {
		all[k] = v
	}
	f := url.Values{}
	for k, v := range form {
		all.Set(k, v)
		f.Set(k, v)
	}
	canon := strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~").Replace(all.Encode())
	mac := hmac.New(sha1.New, []byte(secret+"&"))
	mac.Write([]byte("POST&%2F&" + url.QueryEscape(canon)))
	q.Set("Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	req := httptest.NewRequest(http.MethodPost, "https://sts.sim.test/?"+q.Encode(), strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = "127.0.0.1:40000"
	return req
}

func assumeForm(arn string) map[string]string {
	return map[string]string{"RoleArn": arn, "RoleSessionName": "bench", "DurationSeconds": "900"}
}

// assume issues temporary credentials for arn with the test's base key.
func assume(t *testing.T, b bundle, arn string) (ak, secret, token string) {
	t.Helper()
	ans := serve(t, b, rpcRequest(t, b, testAK, testSecret, assumeForm(arn), nil))
	if ans.status != 200 {
		t.Fatalf("AssumeRole %s: %d %v", arn, ans.status, ans.body)
	}
	c := ans.body["Credentials"].(map[string]any)
	return c["AccessKeyId"].(string), c["AccessKeySecret"].(string), c["SecurityToken"].(string)
}

func TestAssumeRoleAnswersAndRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t, 0)
	ans := serve(t, b, rpcRequest(t, b, testAK, testSecret, assumeForm(roleA), nil))
	if ans.status != 200 {
		t.Fatalf("AssumeRole: %d %v", ans.status, ans.body)
	}
	creds := ans.body["Credentials"].(map[string]any)
	if exp := creds["Expiration"]; exp != b.clock.Now().Add(900*time.Second).UTC().Format("2006-01-02T15:04:05Z") {
		t.Fatalf("Expiration %v", exp)
	}
	if !regexp.MustCompile(`^STS\.[A-Za-z0-9]{25}$`).MatchString(creds["AccessKeyId"].(string)) ||
		!strings.HasPrefix(creds["SecurityToken"].(string), "CAIS") {
		t.Fatalf("credentials %v", creds)
	}
	user := ans.body["AssumedRoleUser"].(map[string]any)
	if user["Arn"] != roleA+"/bench" || !strings.HasSuffix(user["AssumedRoleId"].(string), ":bench") || ans.requestID() == "" {
		t.Fatalf("answer %v", ans.body)
	}
	// Without DurationSeconds: one hour.
	form := assumeForm(roleA)
	delete(form, "DurationSeconds")
	ans = serve(t, b, rpcRequest(t, b, testAK, testSecret, form, nil))
	if exp := ans.body["Credentials"].(map[string]any)["Expiration"]; exp != b.clock.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05Z") {
		t.Fatalf("default Expiration %v", exp)
	}

	tests := []struct {
		name   string
		ak     string
		secret string
		form   map[string]string
		mutate func(url.Values)
		status int
		code   string
	}{
		{"unknown key", "LTAInobody", testSecret, assumeForm(roleA), nil, 404, "InvalidAccessKeyId.NotFound"},
		{"bad secret", testAK, "nope", assumeForm(roleA), nil, 400, "SignatureDoesNotMatch"},
		{"malformed ARN", testAK, testSecret, assumeForm("acs:ram::1:user/x"), nil, 400, "InvalidParameter.RoleArn"},
		{"no ARN", testAK, testSecret, map[string]string{"RoleSessionName": "s1"}, nil, 400, "InvalidParameter.RoleArn"},
		{"short duration", testAK, testSecret, map[string]string{"RoleArn": roleA, "RoleSessionName": "s1", "DurationSeconds": "899"}, nil, 400, "InvalidParameter.DurationSeconds"},
		{"long duration", testAK, testSecret, map[string]string{"RoleArn": roleA, "RoleSessionName": "s1", "DurationSeconds": "43201"}, nil, 400, "InvalidParameter.DurationSeconds"},
		{"bad session name", testAK, testSecret, map[string]string{"RoleArn": roleA, "RoleSessionName": "a"}, nil, 400, "InvalidParameter.RoleSessionName"},
		{"bad policy", testAK, testSecret, map[string]string{"RoleArn": roleA, "RoleSessionName": "s1", "Policy": "{"}, nil, 400, "InvalidParameter.PolicyGrammar"},
		{"sha256", testAK, testSecret, assumeForm(roleA), func(q url.Values) { q.Set("SignatureMethod", "HMAC-SHA256") }, 400, "InvalidSignatureMethod"},
		{"stale", testAK, testSecret, assumeForm(roleA), func(q url.Values) { q.Set("Timestamp", "2020-01-01T00:00:00Z") }, 400, "InvalidTimeStamp.Expired"},
		{"version", testAK, testSecret, assumeForm(roleA), func(q url.Values) { q.Set("Version", "2014-08-15") }, 400, "InvalidVersion"},
		{"action", testAK, testSecret, assumeForm(roleA), func(q url.Values) { q.Set("Action", "GetCallerIdentity") }, 404, "InvalidAction.NotFound"},
	}
	for _, tt := range tests {
		ans := serve(t, b, rpcRequest(t, b, tt.ak, tt.secret, tt.form, tt.mutate))
		if ans.status != tt.status || ans.code() != tt.code || ans.body["HostId"] != "sts.aliyuncs.com" {
			t.Errorf("%s: %d %v, want %d %s", tt.name, ans.status, ans.body, tt.status, tt.code)
		}
	}

	// With an accounts list, only its roles exist.
	if err := b.srv.SetRoles(map[string][]string{acctA: {"RdsGate-Gateway"}}); err != nil {
		t.Fatal(err)
	}
	if ans := serve(t, b, rpcRequest(t, b, testAK, testSecret, assumeForm(roleA), nil)); ans.status != 200 {
		t.Fatalf("listed role (names case-insensitive): %d %v", ans.status, ans.body)
	}
	if ans := serve(t, b, rpcRequest(t, b, testAK, testSecret, assumeForm(roleB), nil)); ans.status != 404 || ans.code() != "EntityNotExist.Role" {
		t.Fatalf("unlisted account: %d %v", ans.status, ans.body)
	}
}

func TestTemporaryKeysOnRDS(t *testing.T) {
	t.Parallel()
	b := setup(t, 0)
	if err := b.srv.SetInstances(accountInstances()); err != nil {
		t.Fatal(err)
	}
	ak, secret, token := assume(t, b, roleB)
	describe := func(id, ak, secret, token string) apiAnswer {
		spec := describeNetSpec(id)
		spec.ak, spec.secret, spec.token = ak, secret, token
		return call(t, b, spec)
	}
	if ans := describe("rm-b", ak, secret, token); ans.status != 200 {
		t.Fatalf("B's instance as B: %d %v", ans.status, ans.body)
	}
	if ans := describe("rm-a", ak, secret, token); ans.status != 400 || ans.code() != "InvalidDBInstanceId.NotFound" {
		t.Fatalf("A's instance as B: %d %v", ans.status, ans.body)
	}
	// The base key acts as the default account, which sees only shared ones.
	if ans := describe("rm-b", "", "", ""); ans.code() != "InvalidDBInstanceId.NotFound" {
		t.Fatalf("B's instance with the base key: %v", ans.body)
	}
	_, _, otherToken := assume(t, b, roleB)
	for _, tt := range []struct {
		name, ak, secret, token, code string
		status                        int
	}{
		{"no token", ak, secret, "", "MissingSecurityToken", 400},
		{"malformed token", ak, secret, "not-a-token", "InvalidSecurityToken.Malformed", 400},
		{"another key's token", ak, secret, otherToken, "InvalidSecurityToken.MismatchWithAccessKey", 400},
		{"base key with a token", testAK, testSecret, token, "InvalidSecurityToken.MismatchWithAccessKey", 400},
		{"unknown STS key", "STS.nobody", secret, token, "InvalidAccessKeyId.NotFound", 404},
		{"wrong secret", ak, "nope", token, "SignatureDoesNotMatch", 400},
	} {
		if ans := describe("rm-b", tt.ak, tt.secret, tt.token); ans.status != tt.status || ans.code() != tt.code {
			t.Errorf("%s: %d %v, want %d %s", tt.name, ans.status, ans.body, tt.status, tt.code)
		}
	}
	b.clock.Advance(900 * time.Second)
	if ans := describe("rm-b", ak, secret, token); ans.status != 400 || ans.code() != "InvalidSecurityToken.Expired" {
		t.Fatalf("expired: %d %v", ans.status, ans.body)
	}
}

func TestQuotaPerAccountWithManyAccounts(t *testing.T) {
	t.Parallel()
	b := setupWindow(t, 10, time.Hour) // a long window: nothing leaves it
	fleet, err := rdssim.GenerateFleet(rdssim.FleetSpec{Accounts: 5, Regions: []string{"cn-hangzhou"}, PerRegion: 11})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.srv.SetInstances(fleet.Instances); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		uid := rdssim.FleetAccountID(i)
		ak, secret, token := assume(t, b, "acs:ram::"+uid+":role/rdsgate-gateway")
		for n := 1; n <= 11; n++ {
			id := rdssim.FleetInstanceID(i, 0, "cn-hangzhou", n)
			spec := releaseSpec(id, id+".mysql.rds.aliyuncs.com", "0")
			spec.ak, spec.secret, spec.token = ak, secret, token
			ans := call(t, b, spec)
			if n <= 10 && ans.status != 200 || n == 11 && ans.code() != "Throttling.User" {
				t.Fatalf("account %d release %d: %d %v", i, n, ans.status, ans.body)
			}
		}
	}
	stats := map[string]rdssim.AccountStats{}
	for _, a := range b.srv.Accounts() {
		stats[a.AccountID] = a
	}
	for i := 1; i <= 5; i++ {
		if s := stats[rdssim.FleetAccountID(i)]; s.Calls != 10 || s.Throttled != 1 || s.Instances != 11 {
			t.Errorf("account %d: %+v", i, s)
		}
	}
	throttled := 0
	for _, c := range b.srv.Calls() {
		if c.Code == "Throttling.User" {
			throttled++
			if c.KeyKind != "sts" || !strings.HasPrefix(c.AccountID, "100000000000000") {
				t.Errorf("throttled entry %+v", c)
			}
		}
	}
	if throttled != 5 {
		t.Fatalf("throttled entries: %d", throttled)
	}
}

func TestDescribeDBInstances(t *testing.T) {
	t.Parallel()
	b := setup(t, 0)
	fleet, err := rdssim.GenerateFleet(rdssim.FleetSpec{Accounts: 2, Regions: []string{"cn-hangzhou", "cn-shanghai"}, PerRegion: 45})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.srv.SetInstances(fleet.Instances); err != nil {
		t.Fatal(err)
	}
	ak, secret, token := assume(t, b, "acs:ram::"+rdssim.FleetAccountID(2)+":role/r")
	list := func(q map[string]string) apiAnswer {
		return call(t, b, signSpec{action: "DescribeDBInstances", query: q, ak: ak, secret: secret, token: token})
	}
	ids := func(a apiAnswer) []string {
		var out []string
		for _, it := range a.body["Items"].(map[string]any)["DBInstance"].([]any) {
			out = append(out, it.(map[string]any)["DBInstanceId"].(string))
		}
		return out
	}
	first := list(map[string]string{"RegionId": "cn-shanghai"})
	if first.status != 200 || first.body["TotalRecordCount"] != float64(45) || first.body["PageRecordCount"] != float64(30) ||
		first.body["PageNumber"] != float64(1) {
		t.Fatalf("page 1: %d %v", first.status, first.body)
	}
	got := ids(first)
	if got[0] != rdssim.FleetInstanceID(2, 1, "cn-shanghai", 1) {
		t.Fatalf("first id %s", got[0])
	}
	item := first.body["Items"].(map[string]any)["DBInstance"].([]any)[0].(map[string]any)
	for k, want := range map[string]string{"RegionId": "cn-shanghai", "ZoneId": "cn-shanghai-h", "Engine": "MySQL", "EngineVersion": "8.0",
		"DBInstanceStatus": "Running", "DBInstanceNetType": "Internet", "InstanceNetworkType": "VPC"} {
		if item[k] != want {
			t.Errorf("%s = %v, want %s", k, item[k], want)
		}
	}
	second := list(map[string]string{"RegionId": "cn-shanghai", "PageNumber": "2"})
	if second.body["PageRecordCount"] != float64(15) || ids(second)[14] != rdssim.FleetInstanceID(2, 1, "cn-shanghai", 45) {
		t.Fatalf("page 2: %v", second.body)
	}
	big := list(map[string]string{"RegionId": "cn-shanghai", "PageSize": "100"})
	if big.body["PageRecordCount"] != float64(45) {
		t.Fatalf("PageSize 100: %v", big.body["PageRecordCount"])
	}
	mine := rdssim.FleetInstanceID(2, 0, "cn-hangzhou", 3)
	theirs := rdssim.FleetInstanceID(1, 0, "cn-hangzhou", 3)
	one := list(map[string]string{"RegionId": "cn-hangzhou", "DBInstanceId": mine + "," + theirs})
	if g := ids(one); len(g) != 1 || g[0] != mine || one.body["TotalRecordCount"] != float64(1) {
		t.Fatalf("filter: %v", one.body)
	}
	if a := list(map[string]string{"RegionId": "cn-beijing"}); a.status != 200 || a.body["TotalRecordCount"] != float64(0) || len(ids(a)) != 0 {
		t.Fatalf("empty region: %v", a.body)
	}
	for q, code := range map[string]string{
		"":            "MissingRegionId",
		"PageSize=29": "InvalidPageSize.Malformed", "PageSize=101": "InvalidPageSize.Malformed",
		"PageNumber=0": "InvalidPageNumber.Malformed",
	} {
		params := map[string]string{}
		if q != "" {
			params["RegionId"] = "cn-hangzhou"
			k, v, _ := strings.Cut(q, "=")
			params[k] = v
		}
		if a := list(params); a.status != 400 || a.code() != code {
			t.Errorf("%q: %d %v, want %s", q, a.status, a.body, code)
		}
	}
}

func TestGenerateFleet(t *testing.T) {
	t.Parallel()
	spec, err := rdssim.ParseFleetSpec("accounts=5,regions=cn-hangzhou+cn-shanghai,per_region=200,roles=rdsgate-gateway")
	if err != nil {
		t.Fatal(err)
	}
	st, err := rdssim.GenerateFleet(spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Instances) != 2000 || len(st.Accounts) != 5 || st.Accounts["1000000000000005"].Roles[0] != "rdsgate-gateway" {
		t.Fatalf("%d instances, accounts %v", len(st.Instances), st.Accounts)
	}
	idPattern := regexp.MustCompile(`^rm-[a-z0-9]+$`)
	seen := map[string]bool{}
	perAccount := map[string]int{}
	for _, inst := range st.Instances {
		if !idPattern.MatchString(inst.ID) || seen[inst.ID] {
			t.Fatalf("id %q bad or repeated", inst.ID)
		}
		seen[inst.ID] = true
		perAccount[inst.AccountID]++
		if len(inst.Endpoints) != 2 || inst.Endpoints[0].IPType != "Public" || inst.Endpoints[0].ConnectionString != inst.ID+".mysql.rds.aliyuncs.com" ||
			inst.Endpoints[1].IPType != "Private" || inst.Status != "Running" || inst.NetworkType != "VPC" {
			t.Fatalf("instance %+v", inst)
		}
	}
	for i := 1; i <= 5; i++ {
		uid := rdssim.FleetAccountID(i)
		if len(uid) != 16 || perAccount[uid] != 400 {
			t.Fatalf("account %s: %d", uid, perAccount[uid])
		}
	}
	again, _ := rdssim.GenerateFleet(spec)
	if again.Instances[1999].ID != st.Instances[1999].ID || st.Instances[0].ID != "rm-bp1a001r00n00001" {
		t.Fatalf("not deterministic: %s %s", again.Instances[1999].ID, st.Instances[0].ID)
	}
	for _, bad := range []string{"", "accounts=0,regions=a,per_region=1", "accounts=1,regions=a+a,per_region=1",
		"accounts=1,regions=a,per_region=1,nope=1", "accounts=x,regions=a,per_region=1", "accounts=1,regions=a",
		"accounts=1,regions=a,per_region=1,roles=bad/role"} {
		if _, err := rdssim.ParseFleetSpec(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestListenerServesTLSAndPlainOnOnePort(t *testing.T) {
	t.Parallel()
	srv, err := rdssim.New(rdssim.Config{
		Accounts:  []rdssim.Account{{AccessKeyID: testAK, AccessKeySecret: testSecret, AccountID: testAccount}},
		Instances: testInstances(),
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := startTLS(t, srv)
	get := func(c *http.Client, u string) []byte {
		t.Helper()
		res, err := c.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", u, res.StatusCode, b)
		}
		return b
	}
	plain := get(http.DefaultClient, "http://"+addr+"/_sim/ca.pem")
	if string(plain) != string(srv.CACertPEM()) || !strings.HasPrefix(string(plain), "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("ca.pem over HTTP: %q", plain)
	}
	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: srv.ClientTLSConfig()}}
	for _, host := range []string{addr, strings.Replace(addr, "127.0.0.1", "localhost", 1)} {
		if got := get(trusting, "https://"+host+"/_sim/ca.pem"); string(got) != string(plain) {
			t.Fatalf("ca.pem over TLS from %s differs", host)
		}
	}
	// A client not trusting this simulator's own CA is refused.
	if _, err := http.Get("https://" + addr + "/_sim/ca.pem"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted client: %v", err)
	}
	// A signed RDS call over TLS is logged as such.
	b := bundle{srv: srv, clock: newFakeClock()}
	spec := describeNetSpec("rm-dev")
	spec.host, spec.date = addr, time.Now()
	req := signedRequest(t, b, spec)
	req.RequestURI, req.URL.Scheme, req.URL.Host = "", "https", addr
	res, err := trusting.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	calls := srv.Calls()
	if res.StatusCode != 200 || len(calls) != 1 || !calls[0].TLS || calls[0].AccountID != testAccount {
		t.Fatalf("RDS over TLS: %d %+v", res.StatusCode, calls)
	}
}

func TestAdminPerAccount(t *testing.T) {
	t.Parallel()
	b := setup(t, 0)
	local := "127.0.0.1:5555"
	body := `{"accounts":{"` + acctA + `":{"roles":["rdsgate-gateway"]}},"instances":[` +
		`{"id":"rm-a","region_id":"cn-hangzhou","network_type":"VPC","account_id":"` + acctA + `","endpoints":[]},` +
		`{"id":"rm-b","region_id":"cn-hangzhou","network_type":"VPC","account_id":"` + acctB + `","endpoints":[]}]}`
	if rec := admin(t, b.srv, "POST", "/_sim/instances?replace=true", body, local); rec.Code != 200 {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body)
	}
	var st rdssim.StateFile
	rec := admin(t, b.srv, "GET", "/_sim/instances?account="+acctA, "", local)
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || len(st.Instances) != 1 || st.Instances[0].ID != "rm-a" {
		t.Fatalf("GET ?account: %v %s", err, rec.Body)
	}
	if ans := serve(t, b, rpcRequest(t, b, testAK, testSecret, assumeForm(roleB), nil)); ans.code() != "EntityNotExist.Role" {
		t.Fatalf("roles from POST not applied: %v", ans.body)
	}
	var accts struct {
		Accounts []rdssim.AccountStats `json:"accounts"`
	}
	rec = admin(t, b.srv, "GET", "/_sim/accounts", "", local)
	if err := json.Unmarshal(rec.Body.Bytes(), &accts); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, a := range accts.Accounts {
		want[a.AccountID] = strconv.Itoa(a.Instances) + strings.Join(a.Roles, ",")
	}
	if want[acctA] != "1rdsgate-gateway" || want[acctB] != "1" || want[testAccount] != "0" {
		t.Fatalf("accounts: %s", rec.Body)
	}
	if rec := admin(t, b.srv, "POST", "/_sim/instances", `{"accounts":{"12":{"roles":["x"]}},"instances":[]}`, local); rec.Code != 400 {
		t.Fatalf("bad uid accepted: %d", rec.Code)
	}
}
