package executor

import (
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river/rivertype"
)

// backoff returns the delay before retry number n (n >= 1): base·2^(n-1),
// capped at max, with "equal jitter" (a uniformly random half added to the
// other half), so that replicas retrying together spread out. A retry hint
// from the API (RetryAfter) is a floor: the delay is never shorter.
func backoff(n int, base, limit, retryAfter time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	if d > 1 {
		d = d/2 + rand.N(d/2+1)
	}
	if retryAfter > 0 {
		// The hint says when a slot frees; a little jitter keeps many
		// throttled callers from arriving in the same millisecond.
		floor := retryAfter + rand.N(retryAfter/10+time.Millisecond)
		d = max(d, floor)
	}
	return d
}

// retryPolicy is River's retry policy for failures of the job itself (a
// database error, a panic, a rescued job whose worker died): the same
// exponential backoff with jitter, by River's attempt count. API outcomes
// never go through it: the worker snoozes the job instead, with the delay
// the outcome calls for.
type retryPolicy struct {
	base, limit time.Duration
}

// NextRetry implements river.ClientRetryPolicy.
func (p retryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	return time.Now().Add(backoff(max(job.Attempt, 1), p.base, p.limit, 0))
}
