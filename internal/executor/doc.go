// Package executor carries approved requests out: it calls Alibaba Cloud RDS
// ReleaseInstanceConnection for each, never faster than the API's quota,
// retries what may be retried, reconciles what may or may not have happened,
// and leaves every attempt, with its Alibaba RequestId and error code, in the
// audit trail and in execution_attempts.
//
// # Jobs
//
// The queue is River (riverpgxv5) in the same PostgreSQL. EnqueueRelease
// inserts one job per request inside the approving transaction (unique by
// request id among live jobs, so a second enqueue is harmless). A job run
// looks at the request and does one thing:
//
//   - approved: reserve a rate-limit slot; in one transaction lock the row,
//     move it to executing, insert the attempt row and append
//     execution.started; wait for the slot; call; in a second transaction
//     record the outcome (attempt row, execution.succeeded or
//     execution.failed with ErrorCode and AlibabaRequestID set) and the next
//     state: succeeded; failed for a permanent error or the last attempt;
//     approved again for a retryable one (the job snoozes for
//     BackoffBase·2^(n-1) with jitter, never less than the API's
//     RetryAfter); executing for an unknown outcome, including a 5xx
//     answer other than 503 ServiceUnavailable (the server may have failed
//     after releasing; the answer's code and RequestId are recorded).
//   - executing: an earlier attempt's outcome is unknown, or its worker
//     died mid-call. Once the call can no longer be running (ReconcileDelay
//     after it ended, or after start + LimiterHorizon + CallTimeout when it
//     never ended), DescribeDBInstanceNetInfo tells whether the requested
//     public endpoint is still there, recorded as execution.reconciled:
//     gone → succeeded; present → approved, and the release is called again
//     in the same run. A check whose answer finds the request no longer
//     executing (settled meanwhile) is recorded all the same, with
//     late:true, and changes nothing.
//   - anything else (rejected, cancelled, succeeded, failed…): nothing is
//     called. The status checks and transitions all happen under the
//     request's row lock with compare-and-set (store.SetStatus), so a
//     request is never called twice for one attempt, never after a success,
//     and never after it left approved.
//
// API outcomes end a run with nil or river.JobSnooze, which does not use up
// River's attempts; MaxAttempts is counted in execution_attempts (release
// calls and reconciliation checks separately). River's own attempts, retry
// policy (the same backoff) and JobTimeout / RescueStuckJobsAfter handle the
// job itself failing: a database error, a panic, a process killed mid-job,
// whose job River's leader hands to another worker after RescueAfter. A
// periodic sweep re-enqueues approved or executing requests whose job River
// gave up on, and fails them after three such rescues, so no request stays
// approved or executing forever.
//
// # Rate limit
//
// The quota (10 ReleaseInstanceConnection calls per second per account) is
// enforced by a reservation scheme shared through PostgreSQL: the row
// rate_limits(account, operation) holds next_at, the start of the next free
// slot on the database's clock. One UPDATE sets next_at =
// greatest(next_at, clock_timestamp()) + spacing and returns how long until
// the reserved slot starts; the caller sleeps that long and calls. The row
// lock serialises reservations across replicas, clock_timestamp() is one
// clock for all of them, and the spacing is 1s/rate widened by RateMargin.
//
// A reservation rather than a sliding log of past calls: the log needs a
// read-modify-write of N rows (or a lock held across the call) and still
// says nothing about when calls arrive; the reservation is one row, one
// statement, O(1), and gives every worker its own start time, so calls
// leave evenly spaced instead of in bursts at each window edge.
//
// The margin exists because the API counts arrivals, not slot starts. A
// call arrives at slot + d, where d (timer wake-up, scheduling, GC, signing,
// network) varies from call to call. Eleven slots span 10·spacing; with 2%
// the span is 1020 ms, so an eleventh call lands inside one sliding second
// only if the first of them was delayed 20 ms more than the eleventh. The
// cost is 2% of throughput: 1,000 releases take about 102 s against the
// 100 s floor. Two measures keep d small. The slot is anchored at
// statement_timestamp(), the moment the reserving statement reached the
// server, which the caller knows on its own clock as the moment it sent it:
// the commit after it (a WAL flush, tens of milliseconds on a busy disk)
// does not shift the call. And a caller that reaches its slot more than
// Limiter.Tolerance (half the margin's slack, 10 ms) late, after a slow
// transaction or a starved wake-up, gives that slot up and takes the next.
// A slot more than LimiterHorizon ahead is not taken: the job snoozes
// instead of holding a worker, which bounds a run's duration. On a noisy
// host (shared CPUs, TLS handshakes to the real endpoint on cold
// connections) raise the margin; on the simulator, 2% measured no throttled
// call in 1,000.
//
// The audit event kinds it writes (execution.*) are defined, with their
// payloads, in the audit package.
//
// This package imports the domain (request), store, audit and aliyun
// packages; it must not import policy, workflow or web.
package executor
