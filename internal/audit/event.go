package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"hash"
	"time"

	"github.com/google/uuid"
)

// Event kinds. This block is the one place where kinds are defined: every
// writer uses these constants, and Kinds lists them all.
const (
	KindPolicyDecided    = "policy.decided"
	KindRequestCreated   = "request.created"
	KindRequestDenied    = "request.denied"
	KindApprovalGranted  = "approval.granted"
	KindApprovalRejected = "approval.rejected"
	KindRequestApproved  = "request.approved"
	KindRequestRejected  = "request.rejected"
	KindRequestCancelled = "request.cancelled"
	KindRequestExpired   = "request.expired"
	KindTokenCreated     = "token.created"
	// KindTokenRevoked records a revoked API token: payload token_id,
	// subject, groups.
	KindTokenRevoked = "token.revoked"
	// KindAccessDenied records a caller refused for lacking the role an
	// action needs: payload action, role, groups.
	KindAccessDenied = "access.denied"
	// Sign-in, sign-out and failed sign-ins to the pages: payload method,
	// and for a failure the reason.
	KindSignedIn     = "auth.signed_in"
	KindSignedOut    = "auth.signed_out"
	KindSignInFailed = "auth.sign_in_failed"
	// Reads of the audit trail itself, as PCI DSS asks: payload the
	// filters, and the events answered (searched, exported) or the
	// verification's outcome (integrity checked).
	KindAuditSearched        = "audit.searched"
	KindAuditExported        = "audit.exported"
	KindAuditIntegrityViewed = "audit.integrity_checked"

	// Execution of an approved request against the Alibaba Cloud API
	// (internal/executor, actor "rdsgate"). Every one carries the request id
	// and instance id; the ones that follow an API call also fill ErrorCode
	// (on failure) and AlibabaRequestID (whenever the API answered).

	// KindExecutionStarted is written, with the transition approved →
	// executing, before a ReleaseInstanceConnection call. Payload: attempt,
	// release_attempt, max_attempts, operation, region_id, parameters (the
	// call's query parameters; there is no secret among them).
	KindExecutionStarted = "execution.started"
	// KindExecutionSucceeded follows a release the API answered with
	// success. Payload: attempt, operation, outcome, http_status,
	// alibaba_request_id, status.
	KindExecutionSucceeded = "execution.succeeded"
	// KindExecutionFailed follows a release that failed, whatever the
	// classification (an unknown outcome leaves the request executing until
	// reconciled), and marks a request given up on. Payload: attempt,
	// operation, outcome, http_status, error_code, error_message,
	// classification, retry_after_ms, alibaba_request_id, status (the
	// request's status after it) and, when a retry or reconciliation
	// follows, retry_in_ms; reason when the executor gave up; not_sent when
	// the call never left the process.
	KindExecutionFailed = "execution.failed"
	// KindExecutionReconciled records a DescribeDBInstanceNetInfo check of
	// whether an unknown-outcome release happened. Payload: the attempt
	// payload plus found ("released": the request becomes succeeded;
	// "present": approved, to be called again) and settled_attempts; with
	// late:true the request had already left executing when the answer
	// came, and status is the state found, left alone.
	KindExecutionReconciled = "execution.reconciled"
	// KindExecutionReconcileFailed records a reconciliation check that
	// itself failed; payload as KindExecutionFailed (late:true as for
	// KindExecutionReconciled).
	KindExecutionReconcileFailed = "execution.reconcile_failed"
	// KindExecutionRequeued is written by the executor's sweeper when it
	// puts a new job on the queue for a request whose job was lost.
	// Payload: status, requeue.
	KindExecutionRequeued = "execution.requeued"

	// Deliveries of notifications (package notify, actor "rdsgate"), one
	// event per attempt. Payload: channel (its name, never its URL), event
	// (request.pending, execution.failed, …), delivery_id (the same on
	// every attempt of one delivery), attempt, http_status (0 when there
	// was no HTTP answer); a failure adds error and final (no retry
	// follows).
	KindNotificationSent   = "notification.sent"
	KindNotificationFailed = "notification.failed"

	// Policy reloads by the running service (actor "rdsgate"). Payload:
	// revision; on failure, error (and ErrorCode "PolicyLoadFailed").
	KindPolicyReloaded     = "policy.reloaded"
	KindPolicyReloadFailed = "policy.reload_failed"

	// KindBypassDetected is a release ActionTrail recorded that rdsgate did
	// not make (actor "rdsgate"): a call around the gate. DBInstanceID and
	// AlibabaRequestID are the trail event's; payload: account_id,
	// region_id, event_id, event_name (the API), event_time,
	// connection_string, user_identity (type, user_name, principal_id,
	// account_id, access_key_id masked), source_ip, error_code.
	KindBypassDetected = "bypass.detected"
	// KindExecutionConfirmed is ActionTrail's record of a release rdsgate
	// made (actor "rdsgate"): the request's call, seen by the account's own
	// trail. Payload: event_id, event_name, event_time, attempt.
	KindExecutionConfirmed = "execution.confirmed"
)

// Kinds returns every event kind defined above, in a fixed order (intake,
// approval, execution, administration), as a new slice the caller may
// modify: the audit page's kind filter offers these.
func Kinds() []string {
	return []string{
		KindPolicyDecided, KindRequestCreated, KindRequestDenied,
		KindApprovalGranted, KindApprovalRejected,
		KindRequestApproved, KindRequestRejected, KindRequestCancelled, KindRequestExpired,
		KindExecutionStarted, KindExecutionSucceeded, KindExecutionFailed,
		KindExecutionReconciled, KindExecutionReconcileFailed, KindExecutionRequeued, KindExecutionConfirmed,
		KindBypassDetected, KindNotificationSent, KindNotificationFailed,
		KindTokenCreated, KindTokenRevoked, KindPolicyReloaded, KindPolicyReloadFailed, KindAccessDenied,
		KindSignedIn, KindSignedOut, KindSignInFailed, KindAuditSearched, KindAuditExported, KindAuditIntegrityViewed,
	}
}

// Event is one audit record. Seq, PrevHash and Hash are zero until the event
// is sealed into the chain.
type Event struct {
	ID               int64           `json:"id"`
	Seq              int64           `json:"seq"`
	OccurredAt       time.Time       `json:"occurred_at"`
	Kind             string          `json:"kind"`
	Actor            string          `json:"actor"`
	RequestID        uuid.NullUUID   `json:"request_id"`
	DBInstanceID     string          `json:"db_instance_id,omitempty"`
	ErrorCode        string          `json:"error_code,omitempty"`
	AlibabaRequestID string          `json:"alibaba_request_id,omitempty"`
	Payload          json.RawMessage `json:"payload"`
	PrevHash         HexBytes        `json:"prev_hash,omitempty"`
	Hash             HexBytes        `json:"hash,omitempty"`
}

// HexBytes is a byte string that encodes as hex in JSON.
type HexBytes []byte

// MarshalText encodes b as lower-case hex.
func (b HexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(b)), nil }

// UnmarshalText decodes hex.
func (b *HexBytes) UnmarshalText(t []byte) error {
	d, err := hex.DecodeString(string(t))
	*b = d
	return err
}

// genesis is the prev_hash of the first event in the chain.
var genesis = make([]byte, sha256.Size)

// hashVersion prefixes the hashed content so the layout can evolve.
const hashVersion = "rdsgate-audit-v1\x00"

// Hasher computes chain hashes, reusing its buffers; not safe for concurrent
// use.
type Hasher struct {
	h   hash.Hash
	buf []byte
}

// NewHasher returns a Hasher.
func NewHasher() *Hasher { return &Hasher{h: sha256.New(), buf: make([]byte, 0, 512)} }

// Sum returns SHA-256(prev || canonical(e)) where canonical(e) is the
// version tag, seq, id and occurred_at (Unix microseconds) as big-endian
// int64, then kind, actor, request id, instance id, error code, Alibaba
// RequestId and payload, each prefixed by its length as a uvarint. The
// layout is unambiguous, so no two different events hash the same content.
func (x *Hasher) Sum(prev []byte, e *Event) []byte {
	return x.sumInto(nil, prev, e)
}

// sumInto is Sum appending to dst, which lets the caller reuse a buffer.
func (x *Hasher) sumInto(dst, prev []byte, e *Event) []byte {
	b := x.buf[:0]
	b = append(b, hashVersion...)
	b = append(b, prev...)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Seq))
	b = binary.BigEndian.AppendUint64(b, uint64(e.ID))
	b = binary.BigEndian.AppendUint64(b, uint64(e.OccurredAt.UnixMicro()))
	rid := ""
	if e.RequestID.Valid {
		rid = e.RequestID.UUID.String()
	}
	for _, s := range [...]string{e.Kind, e.Actor, rid, e.DBInstanceID, e.ErrorCode, e.AlibabaRequestID} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Payload)))
	b = append(b, e.Payload...)
	x.buf = b
	x.h.Reset()
	x.h.Write(b)
	return x.h.Sum(dst)
}
