// Package quota owns the rate limiter that keeps rdsgate's calls within the
// RDS API's quota (10 calls per second per account and operation), shared
// by every replica through one rate_limits row per account and operation.
//
// Limiter.Reserve hands out call slots at least 1s/rate·(1+margin) apart on
// the database's clock, in one UPDATE, and places them on the caller's clock
// never early; a caller sleeps until its slot, checks it again at the
// instant its call leaves (Await, through the executor's send gate), and
// gives up a slot it reaches more than Tolerance late. A reservation rather
// than a sliding log of past calls: one row, one statement, and calls leave
// evenly spaced instead of in bursts at each window edge. The margin exists
// because the API counts arrivals, not slot starts; docs/ARCHITECTURE.md
// ("Rate limit") explains its size.
//
// It imports request (the operation names) and nothing else of rdsgate's.
package quota
