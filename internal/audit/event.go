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

// Event kinds. The list is open: executor and policy events use the same
// record, each kind documented where it is written.
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
	// Execution of an approved request against the Alibaba Cloud API. The
	// outcome events carry the API's RequestId (AlibabaRequestID) and, on
	// failure, its error code (ErrorCode).
	KindExecutionStarted   = "execution.started"
	KindExecutionSucceeded = "execution.succeeded"
	KindExecutionFailed    = "execution.failed"
	// Policy reloads by the running service.
	KindPolicyReloaded     = "policy.reloaded"
	KindPolicyReloadFailed = "policy.reload_failed"
)

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

// Genesis is the prev_hash of the first event in the chain.
var Genesis = make([]byte, sha256.Size)

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
