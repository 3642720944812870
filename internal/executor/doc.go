// Package executor carries approved requests out. It works the River jobs
// (lifecycle.ReleaseJob) that an approval enqueues: for an approved request
// it takes a slot of the shared rate limiter (package quota), has the
// lifecycle record the attempt, calls ReleaseInstanceConnection and hands
// the outcome back to the lifecycle, which decides nothing the executor
// has not classified: succeeded, failed, approved again (retryable, after
// a backoff) or still executing (unknown outcome). For an executing
// request it checks with DescribeDBInstanceNetInfo whether the endpoint is
// gone, so a release is never made twice. A periodic sweep re-enqueues
// requests whose job the queue gave up on.
//
// Every change of a request's state goes through package lifecycle; this
// package holds no SQL. It imports lifecycle, quota, request and aliyun,
// never store or web. docs/ARCHITECTURE.md ("Execution") has the
// details: outcomes, retries, reconciliation, rescue of dead workers.
package executor
