// Package rdssim is a local Alibaba Cloud RDS endpoint that speaks the real
// wire protocol, for tests, demos and development of rdsgate without a cloud
// account (`rdsgate sim`, `rdsgate dev`).
//
// A *Server is an http.Handler that owns the simulated instances and their
// public endpoints. It verifies every request's ACS3-HMAC-SHA256 signature
// exactly as the darabonba-openapi client computes it; answers
// ReleaseInstanceConnection, DescribeDBInstanceNetInfo and
// DescribeDBInstanceAttribute and DescribeDBInstances from its state, with the
// documented error codes; serves STS AssumeRole (RPC-style, HMAC-SHA1) and
// accepts the temporary keys it issues, which act as the role's account;
// serves TLS and plain HTTP on one port (Listener) under a CA it generates;
// enforces the per-account, per-action quota (Throttling.User); injects faults
// (error codes, delays, dropped connections) from rules; logs every call; and
// serves an unsigned admin API under /_sim/ to loopback clients only.
//
// From rdsgate, rdssim imports only the aliyun package (its error catalog and
// action and version constants); it must not import anything else of ours.
//
// docs/SIMULATOR.md describes the checks, the quota, fault rules, the admin
// API and the state file.
package rdssim
