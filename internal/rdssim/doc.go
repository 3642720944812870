// Package rdssim is a local Alibaba Cloud RDS endpoint that speaks the real
// wire protocol, for tests, demos and development of rdsgate without a cloud
// account.
//
// A *Server is an http.Handler. It verifies the ACS3-HMAC-SHA256 signature of
// every API request exactly as the darabonba-openapi client computes it
// (canonical request from the method, the path, the decoded and re-encoded
// query, the signed headers named in the Authorization header with host taken
// from r.Host, and the SHA-256 of the body), rejects stale x-acs-date values
// (more than 15 minutes of skew) and reused x-acs-signature-nonce values
// (within 15 minutes), then dispatches on the x-acs-action header:
//
//   - ReleaseInstanceConnection removes the public endpoint named by
//     CurrentConnectionString. Errors: RequiredParam.NotFound (a parameter is
//     missing), InvalidDBInstanceId.NotFound (unknown instance, or an instance
//     of another account), InvalideStatus.Format (instance not Running),
//     Parameters.Invalid (InstanceNetworkType not "0"/"1" or not the
//     instance's network type: "0" VPC, "1" Classic), Endpoint.NotFound (no
//     public endpoint with that connection string, e.g. already released).
//   - DescribeDBInstanceNetInfo and DescribeDBInstanceAttribute answer from
//     the same state.
//   - Any other action answers InvalidAction.NotFound (404).
//
// Every answer carries a fresh RequestId (an uppercase UUID, also in the
// x-acs-request-id header). Error bodies are
// {"RequestId","HostId","Code","Message","Recommend"} plus AccessDeniedDetail
// on 403, with content type application/json;charset=utf-8; statuses and
// messages come from the aliyun package's catalog.
//
// # Quota
//
// Each (account, action) pair may make RatePerSecond calls in any sliding
// one-second window (now-1s, now]; Config.QuotaWindow (`rdsgate sim
// --quota-window`) lengthens the window. The next call answers Throttling.User at
// HTTP 400 with "Request was denied due to user flow control." and an
// x-ratelimit-user-api header whose TimeLeft (ms) says when a slot frees.
// Only admitted calls count toward the window: throttled calls do not, so a
// client that keeps retrying is not locked out forever. Calls rejected by
// authentication are not counted either (they have no account). Calls answered
// by a fault rule do count: they were admitted.
//
// # Fault injection
//
// Fault rules match on instance and action (empty matches any); the first
// matching rule applies and its Times counter (0 = forever) is decremented.
// A rule can: sleep DelayMS before processing (if the client gives up during
// the sleep, nothing is performed and the call is logged as "abandoned"),
// answer Code with the catalog's status and message, with CodeAfterRelease
// perform the operation and then answer Code anyway (a 500 after the
// endpoint was released; logged with performed:true), or, with
// DropAfterRelease, perform the operation and then close the connection
// without answering (logged as "dropped"). Rules come from AddFault, the
// admin API or a rule file (LoadFaults).
//
// # Admin API
//
// Under /_sim/ on the same listener, unsigned and answered only to loopback
// clients:
//
//	GET    /_sim/faults     list rules            -> [Fault]
//	POST   /_sim/faults     add a rule or rules   <- Fault | [Fault]
//	DELETE /_sim/faults     remove all rules
//	GET    /_sim/calls      call log, oldest first -> [Call]
//	DELETE /_sim/calls      clear the call log
//	GET    /_sim/instances  state                 -> {"instances":[Instance]}
//	POST   /_sim/instances  upsert by id          <- {"instances":[Instance]}
//	                        (?replace=true replaces the whole set)
//
// # State file
//
// LoadInstances reads {"instances":[...]} where each instance is
//
//	{"id":"rm-bp1devexample01","region_id":"cn-hangzhou","zone_id":"cn-hangzhou-h",
//	 "engine":"MySQL","engine_version":"8.0","class":"mysql.n2.medium.1",
//	 "description":"dev","status":"Running","network_type":"VPC",
//	 "vpc_id":"vpc-...","vswitch_id":"vsw-...","account_id":"",
//	 "endpoints":[{"connection_string":"rm-bp1devexample01.mysql.rds.aliyuncs.com",
//	   "ip_address":"47.98.10.1","ip_type":"Public","port":"3306","type":"Normal"}]}
//
// Only id, network_type and endpoints matter; status defaults to Running,
// endpoint type to Normal and port to the engine's default. An empty
// account_id makes the instance visible to every account. testdata/instances.json
// is the example used by demos.
//
// From rdsgate, rdssim imports only the aliyun package (its error catalog and
// action and version constants); it must not import anything else of ours.
package rdssim
