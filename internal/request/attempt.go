package request

import "time"

// Operations rdsgate calls on the RDS API for a request, as the API names
// them. Each is an attempt kind and keys the shared rate limiter.
const (
	OpRelease  = "ReleaseInstanceConnection"
	OpDescribe = "DescribeDBInstanceNetInfo"
)

// Outcomes of an attempt.
const (
	OutcomeSucceeded = "succeeded"
	OutcomeFailed    = "failed"
	// OutcomeUnknown: the call may or may not have happened.
	OutcomeUnknown = "unknown"
)

// What a reconciliation check found of the requested public endpoint.
const (
	FoundPresent  = "present"
	FoundReleased = "released"
)

// Attempt is one call rdsgate made for a request: a release, or a
// reconciliation check (DescribeDBInstanceNetInfo) after a release whose
// outcome is unknown. Attempts are numbered 1, 2, 3… per request in the
// order the calls were made. FinishedAt is nil (and Outcome empty) while
// the call is in flight, or when its worker died during it.
type Attempt struct {
	Attempt        int        `json:"attempt"`
	Operation      string     `json:"operation"`
	StartedAt      time.Time  `json:"started_at"`
	FinishedAt     *time.Time `json:"finished_at,omitempty"`
	Outcome        string     `json:"outcome,omitempty"`
	Classification string     `json:"classification,omitempty"`
	HTTPStatus     int        `json:"http_status,omitempty"`
	ErrorCode      string     `json:"error_code,omitempty"`
	ErrorMessage   string     `json:"error_message,omitempty"`
	// AlibabaRequestID is the RequestId of the API's answer.
	AlibabaRequestID string `json:"alibaba_request_id,omitempty"`
	// RetryAfterMS is the wait the API asked for (x-ratelimit-user-api).
	RetryAfterMS int64 `json:"retry_after_ms,omitempty"`
	// Found is what a reconciliation check found: FoundPresent or
	// FoundReleased.
	Found string `json:"found,omitempty"`
	// TrailConfirmedAt, for a release, is the time of the account's
	// ActionTrail event that records this call (by its RequestId): the
	// trail confirms rdsgate made it. Nil until the trail is read.
	TrailConfirmedAt *time.Time `json:"trail_confirmed_at,omitempty"`
}
