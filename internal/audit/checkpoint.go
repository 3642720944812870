package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Checkpoint is a signed statement "the chain had head HeadSeq with hash
// HeadHash at CreatedAt", chained to the checkpoint before it by
// PrevSignature. Checkpoints are numbered 1, 2, 3… by Seq; each covers a
// strictly later head than the one before.
type Checkpoint struct {
	Seq       int64     `json:"seq"`
	HeadSeq   int64     `json:"head_seq"`
	HeadHash  HexBytes  `json:"head_hash"`
	CreatedAt time.Time `json:"created_at"`
	// KeyID names the signing key: KeyID(public key). It is not signed;
	// it only selects the key to check the signature with.
	KeyID         string   `json:"key_id"`
	PrevSignature HexBytes `json:"prev_signature"`
	Signature     HexBytes `json:"signature"`
}

// checkpointMagic starts the signed message; it also separates this use of
// the key from any other.
const checkpointMagic = "rdsgate-audit-checkpoint-v1\x00"

// CheckpointMessageSize is the length of the signed message.
const CheckpointMessageSize = len(checkpointMagic) + 8 + 8 + sha256.Size + 8 + ed25519.SignatureSize

// noSignature is the PrevSignature of the first checkpoint.
var noSignature = make([]byte, ed25519.SignatureSize)

// Message returns the exact bytes that are signed, a fixed layout of
// CheckpointMessageSize (148) bytes:
//
//	offset size field
//	     0   28 "rdsgate-audit-checkpoint-v1" followed by one zero byte
//	    28    8 Seq, big-endian
//	    36    8 HeadSeq, big-endian
//	    44   32 HeadHash (SHA-256 of the event at HeadSeq)
//	    76    8 CreatedAt as Unix microseconds, big-endian two's complement
//	    84   64 PrevSignature (64 zero bytes for checkpoint 1)
//
// A HeadHash or PrevSignature of the wrong length is padded or cut to its
// slot, which makes the signature fail rather than shift the layout.
func (c *Checkpoint) Message() []byte {
	b := make([]byte, 0, CheckpointMessageSize)
	b = append(b, checkpointMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Seq))
	b = binary.BigEndian.AppendUint64(b, uint64(c.HeadSeq))
	b = appendFixed(b, c.HeadHash, sha256.Size)
	b = binary.BigEndian.AppendUint64(b, uint64(c.CreatedAt.UnixMicro()))
	b = appendFixed(b, c.PrevSignature, ed25519.SignatureSize)
	return b
}

func appendFixed(b, v []byte, n int) []byte {
	if len(v) > n {
		v = v[:n]
	}
	b = append(b, v...)
	return append(b, make([]byte, n-len(v))...)
}

// equal reports whether two checkpoints are the same in every field.
func (c *Checkpoint) equal(o *Checkpoint) bool {
	return c.Seq == o.Seq && c.HeadSeq == o.HeadSeq && bytes.Equal(c.HeadHash, o.HeadHash) &&
		c.CreatedAt.Equal(o.CreatedAt) && c.KeyID == o.KeyID &&
		bytes.Equal(c.PrevSignature, o.PrevSignature) && bytes.Equal(c.Signature, o.Signature)
}

// KeyID identifies an Ed25519 public key: the first 8 bytes of the SHA-256
// of its 32 raw bytes, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// SignCheckpoint fills c.KeyID and c.Signature.
func SignCheckpoint(key ed25519.PrivateKey, c *Checkpoint) {
	c.KeyID = KeyID(key.Public().(ed25519.PublicKey))
	c.Signature = ed25519.Sign(key, c.Message())
}

const checkpointColumns = `seq, head_seq, head_hash, created_at, key_id, prev_signature, signature`

func scanCheckpoint(row pgx.Row, c *Checkpoint) error {
	if err := row.Scan(&c.Seq, &c.HeadSeq, &c.HeadHash, &c.CreatedAt, &c.KeyID, &c.PrevSignature, &c.Signature); err != nil {
		return err
	}
	c.CreatedAt = c.CreatedAt.UTC()
	return nil
}

// ErrNoCheckpoint is returned by LastCheckpoint before the first checkpoint.
var ErrNoCheckpoint = errors.New("no audit checkpoint yet")

// LastCheckpoint returns the newest checkpoint, or an error wrapping
// ErrNoCheckpoint when there is none.
func LastCheckpoint(ctx context.Context, db Querier) (*Checkpoint, error) {
	var c Checkpoint
	err := scanCheckpoint(db.QueryRow(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`), &c)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoCheckpoint
	}
	if err != nil {
		return nil, fmt.Errorf("read last audit checkpoint: %w", err)
	}
	return &c, nil
}

// ErrNoEvents is returned by Checkpointer.Checkpoint when no event has been
// sealed yet: there is no head to sign.
var ErrNoEvents = errors.New("no sealed audit event to checkpoint")

// DefaultCheckpointInterval is how often Run signs a checkpoint when the
// head has moved.
const DefaultCheckpointInterval = time.Minute

// Checkpointer signs the chain head. Run one per process; replicas
// coordinate through the sealer's advisory lock, so checkpoints stay one
// linear chain and a head is never signed twice.
type Checkpointer struct {
	pool     *pgxpool.Pool
	log      *slog.Logger
	key      ed25519.PrivateKey
	keyID    string
	dir      string
	interval time.Duration
	now      func() time.Time
}

// NewCheckpointer returns a Checkpointer signing with key every interval
// (DefaultCheckpointInterval when <= 0) and writing each checkpoint to
// dir/<seq>.json as well, unless dir is empty. log may be nil.
func NewCheckpointer(pool *pgxpool.Pool, log *slog.Logger, key ed25519.PrivateKey, dir string, interval time.Duration) *Checkpointer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if interval <= 0 {
		interval = DefaultCheckpointInterval
	}
	return &Checkpointer{pool: pool, log: log, key: key, keyID: KeyID(key.Public().(ed25519.PublicKey)),
		dir: dir, interval: interval, now: time.Now}
}

// Run signs a checkpoint every interval when sealed events arrived since the
// last one, until ctx is done. A failure is logged at error level and
// retried at the next tick: a refusal to sign (the chain does not extend the
// last signed head) is an alarm, not a reason to stop.
func (c *Checkpointer) Run(ctx context.Context) error {
	if c.dir == "" {
		c.log.WarnContext(ctx, "audit checkpoints are kept in the database only: no checkpoint directory configured")
	}
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		cp, created, err := c.checkpoint(ctx, false)
		switch {
		case err != nil && ctx.Err() == nil && !errors.Is(err, ErrNoEvents):
			c.log.ErrorContext(ctx, "audit checkpoint", slog.Any("err", err))
		case created:
			c.log.InfoContext(ctx, "audit checkpoint signed", slog.Int64("checkpoint", cp.Seq),
				slog.Int64("head_seq", cp.HeadSeq), slog.String("key_id", cp.KeyID))
		}
	}
}

// Checkpoint signs the current sealed head now, unless the last checkpoint
// already covers it, in which case it returns that one (created false).
// It does not seal pending events; call Sealer.SealAll first for "now".
func (c *Checkpointer) Checkpoint(ctx context.Context) (cp *Checkpoint, created bool, err error) {
	return c.checkpoint(ctx, true)
}

func (c *Checkpointer) checkpoint(ctx context.Context, onDemand bool) (*Checkpoint, bool, error) {
	var (
		cp      *Checkpoint
		created bool
	)
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		// The sealer's lock: the head cannot move while it is signed, and
		// two replicas cannot both create checkpoint n.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, sealLockKey); err != nil {
			return fmt.Errorf("lock chain head: %w", err)
		}
		last, err := LastCheckpoint(ctx, tx)
		if errors.Is(err, ErrNoCheckpoint) {
			last = nil
		} else if err != nil {
			return err
		}
		var headSeq int64
		var headHash []byte
		err = tx.QueryRow(ctx, `SELECT seq, hash FROM audit_events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1`).Scan(&headSeq, &headHash)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNoEvents
		}
		if err != nil {
			return fmt.Errorf("read chain head: %w", err)
		}
		if last != nil && last.HeadSeq >= headSeq {
			cp = last
			return nil
		}
		if err := c.checkExtends(ctx, tx, last, headSeq, headHash); err != nil {
			return err
		}
		next := &Checkpoint{Seq: 1, HeadSeq: headSeq, HeadHash: headHash,
			CreatedAt: c.now().UTC().Truncate(time.Microsecond), PrevSignature: bytes.Clone(noSignature)}
		if last != nil {
			next.Seq, next.PrevSignature = last.Seq+1, last.Signature
		}
		SignCheckpoint(c.key, next)
		if _, err := tx.Exec(ctx, `INSERT INTO audit_checkpoints (`+checkpointColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
			next.Seq, next.HeadSeq, []byte(next.HeadHash), next.CreatedAt, next.KeyID, []byte(next.PrevSignature), []byte(next.Signature)); err != nil {
			return fmt.Errorf("store checkpoint %d: %w", next.Seq, err)
		}
		cp, created = next, true
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("audit checkpoint: %w", err)
	}
	// After the commit: a file for a checkpoint that was rolled back would be
	// a false witness. A failed write is retried by the next call.
	if c.dir != "" && (created || onDemand || !fileExists(c.path(cp.Seq))) {
		if err := WriteCheckpointFile(c.dir, cp); err != nil {
			return cp, created, fmt.Errorf("audit checkpoint %d committed, but: %w", cp.Seq, err)
		}
	}
	return cp, created, nil
}

// checkExtends refuses to sign a head that does not extend the last signed
// one: it checks the last checkpoint's signature (when it is ours) and
// re-hashes the events sealed since, so a chain rewritten in the database
// is never blessed by a fresh signature.
func (c *Checkpointer) checkExtends(ctx context.Context, tx pgx.Tx, last *Checkpoint, headSeq int64, headHash []byte) error {
	ch := NewChain()
	if last != nil {
		switch {
		case last.KeyID == c.keyID:
			if !ed25519.Verify(c.key.Public().(ed25519.PublicKey), last.Message(), last.Signature) {
				return fmt.Errorf("refusing to sign: checkpoint %d does not carry a valid signature of key %s", last.Seq, c.keyID)
			}
		default:
			c.log.WarnContext(ctx, "last audit checkpoint was signed by another key; continuing its chain (key rotation?)",
				slog.Int64("checkpoint", last.Seq), slog.String("key_id", last.KeyID), slog.String("our_key_id", c.keyID))
		}
		ch = newChainAt(last.HeadSeq, last.HeadHash)
	}
	from := int64(1)
	if last != nil {
		from = last.HeadSeq + 1
	}
	rows, err := tx.Query(ctx, `SELECT `+selectColumns+` FROM audit_events WHERE seq >= $1 AND seq <= $2 ORDER BY seq`, from, headSeq)
	if err != nil {
		return fmt.Errorf("read events to sign: %w", err)
	}
	defer rows.Close()
	var (
		e  Event
		sc eventScanner
	)
	for rows.Next() {
		if err := sc.scan(rows, &e); err != nil {
			return fmt.Errorf("read events to sign: %w", err)
		}
		if p := ch.Next(&e); p != nil {
			return fmt.Errorf("refusing to sign: %w", p)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read events to sign: %w", err)
	}
	if ch.Report.HeadSeq != headSeq || !bytes.Equal(ch.prev, headHash) {
		return fmt.Errorf("refusing to sign: the chain from seq %d ends at seq %d, not at the head %d", from, ch.Report.HeadSeq, headSeq)
	}
	return nil
}

func (c *Checkpointer) path(seq int64) string {
	return filepath.Join(c.dir, strconv.FormatInt(seq, 10)+".json")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// checkpointFile is the JSON of a checkpoint file and of a "checkpoint"
// export line.
type checkpointFile struct {
	Type string `json:"type"`
	Checkpoint
}

// WriteCheckpointFile writes cp to dir/<seq>.json (created with the
// directory if needed), atomically: a reader sees the whole file or none.
func WriteCheckpointFile(dir string, cp *Checkpoint) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write checkpoint file: %w", err)
	}
	b, err := json.MarshalIndent(checkpointFile{Type: "checkpoint", Checkpoint: *cp}, "", "  ")
	if err != nil {
		return fmt.Errorf("write checkpoint file: %w", err)
	}
	b = append(b, '\n')
	final := filepath.Join(dir, strconv.FormatInt(cp.Seq, 10)+".json")
	tmp, err := os.CreateTemp(dir, ".checkpoint-*")
	if err != nil {
		return fmt.Errorf("write checkpoint file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write checkpoint file %s: %w", final, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write checkpoint file %s: %w", final, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write checkpoint file %s: %w", final, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write checkpoint file %s: %w", final, err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return fmt.Errorf("write checkpoint file %s: %w", final, err)
	}
	return nil
}

// ReadCheckpointFile reads a file written by WriteCheckpointFile.
func ReadCheckpointFile(path string) (*Checkpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint file: %w", err)
	}
	var f checkpointFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("read checkpoint file %s: %w", path, err)
	}
	if f.Type != "checkpoint" {
		return nil, fmt.Errorf("read checkpoint file %s: type %q, want \"checkpoint\"", path, f.Type)
	}
	f.CreatedAt = f.CreatedAt.UTC()
	return &f.Checkpoint, nil
}
