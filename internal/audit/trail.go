package audit

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"regexp"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// trail reads the sealed events from a sequence number on and the
// checkpoints whose head is at or after it, merged in export order: each
// checkpoint right after the event at its head. With a pool, events and
// checkpoints stream on two connections that share one exported snapshot,
// so a checkpoint never claims a head the event stream cannot see and
// memory stays constant; otherwise the checkpoints are read first, then the
// events, through the one Querier.
type trail struct {
	events pgx.Rows
	cps    pgx.Rows
	cpList []Checkpoint
	// db answers the final count, in the events' snapshot.
	db      Querier
	cleanup []func()

	ev      Event
	evOK    bool // ev holds the next event
	evDone  bool
	cp      Checkpoint
	cpOK    bool
	cpDone  bool
	skipEvs bool
	scan    eventScanner
}

const trailEventsSQL = `SELECT ` + selectColumns + ` FROM audit_events WHERE seq >= $1 ORDER BY seq`
const trailCheckpointsSQL = `SELECT ` + checkpointColumns + ` FROM audit_checkpoints WHERE head_seq >= $1 ORDER BY seq`

var snapshotID = regexp.MustCompile(`^[0-9A-Fa-f-]+$`)

func openTrail(ctx context.Context, db Querier, fromSeq int64) (t *trail, err error) {
	t = &trail{}
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	pool, ok := db.(*pgxpool.Pool)
	if !ok {
		rows, err := db.Query(ctx, trailCheckpointsSQL, fromSeq)
		if err != nil {
			return nil, fmt.Errorf("read checkpoints: %w", err)
		}
		for rows.Next() {
			var cp Checkpoint
			if err := scanCheckpoint(rows, &cp); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read checkpoints: %w", err)
			}
			t.cpList = append(t.cpList, cp)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read checkpoints: %w", err)
		}
		t.db = db
		if t.events, err = db.Query(ctx, trailEventsSQL, fromSeq); err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		t.cleanup = append(t.cleanup, t.events.Close)
		return t, nil
	}

	txs := make([]pgx.Tx, 2)
	for i := range txs {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return nil, fmt.Errorf("acquire connection: %w", err)
		}
		t.cleanup = append(t.cleanup, conn.Release)
		tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return nil, fmt.Errorf("begin snapshot: %w", err)
		}
		t.cleanup = append(t.cleanup, func() { _ = tx.Rollback(context.WithoutCancel(ctx)) })
		txs[i] = tx
	}
	var snap string
	if err := txs[0].QueryRow(ctx, `SELECT pg_export_snapshot()`).Scan(&snap); err != nil {
		return nil, fmt.Errorf("export snapshot: %w", err)
	}
	if !snapshotID.MatchString(snap) {
		return nil, fmt.Errorf("export snapshot: unexpected id %q", snap)
	}
	if _, err := txs[1].Exec(ctx, `SET TRANSACTION SNAPSHOT '`+snap+`'`); err != nil {
		return nil, fmt.Errorf("share snapshot: %w", err)
	}
	// One long, simple index scan: compiling it costs more than it saves.
	if _, err := txs[0].Exec(ctx, `SET LOCAL jit = off`); err != nil {
		return nil, fmt.Errorf("configure snapshot: %w", err)
	}
	t.db = txs[0]
	if t.cps, err = txs[1].Query(ctx, trailCheckpointsSQL, fromSeq); err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	t.cleanup = append(t.cleanup, t.cps.Close)
	if t.events, err = txs[0].Query(ctx, trailEventsSQL, fromSeq); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	t.cleanup = append(t.cleanup, t.events.Close)
	return t, nil
}

// close releases everything, in reverse order of acquisition.
func (t *trail) close() {
	for i := len(t.cleanup) - 1; i >= 0; i-- {
		t.cleanup[i]()
	}
	t.cleanup = nil
}

// skipEvents stops reading events: next returns only checkpoints from now on.
func (t *trail) skipEvents() {
	t.skipEvs, t.evOK, t.evDone = true, false, true
	t.events.Close()
}

// next returns the next event or checkpoint in export order, or neither at
// the end. The values are reused by the following call.
func (t *trail) next() (*Event, *Checkpoint, error) {
	if !t.evOK && !t.evDone {
		if t.events.Next() {
			if err := t.scan.scan(t.events, &t.ev); err != nil {
				return nil, nil, fmt.Errorf("read event: %w", err)
			}
			t.evOK = true
		} else {
			t.evDone = true
			if err := t.events.Err(); err != nil && !t.skipEvs {
				return nil, nil, fmt.Errorf("read events: %w", err)
			}
		}
	}
	if !t.cpOK && !t.cpDone {
		switch {
		case t.cps != nil && t.cps.Next():
			if err := scanCheckpoint(t.cps, &t.cp); err != nil {
				return nil, nil, fmt.Errorf("read checkpoint: %w", err)
			}
			t.cpOK = true
		case t.cps != nil:
			t.cpDone = true
			if err := t.cps.Err(); err != nil {
				return nil, nil, fmt.Errorf("read checkpoints: %w", err)
			}
		case len(t.cpList) > 0:
			t.cp, t.cpList, t.cpOK = t.cpList[0], t.cpList[1:], true
		default:
			t.cpDone = true
		}
	}
	switch {
	case t.evOK && (!t.cpOK || t.ev.Seq <= t.cp.HeadSeq):
		t.evOK = false
		return &t.ev, nil, nil
	case t.cpOK:
		t.cpOK = false
		return nil, &t.cp, nil
	}
	return nil, nil, nil
}

// unsealed counts the events committed but not sealed, in the snapshot of
// the events (call it after the events are read).
func (t *trail) unsealed(ctx context.Context) (int64, error) {
	if !t.evDone {
		t.skipEvents()
	}
	var n int64
	err := t.db.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE seq IS NULL`).Scan(&n)
	return n, err
}

// eventScanner reads the rows of selectColumns into a reused Event without
// allocating per row: it decodes pgx's raw values (binary int8,
// timestamptz, uuid and bytea; text, json) and interns the repetitive
// strings. It falls back to scanEvent when the result formats are not the
// expected ones. The Event's slices are overwritten by the next row.
type eventScanner struct {
	checked, fast bool
	strs          map[string]string
}

// internLimit bounds the interned strings (kinds, actors, instances, error
// codes repeat; a table of unique actors must not grow memory unbounded).
const internLimit = 100_000

// pgEpochMicros is 2000-01-01 00:00:00 UTC, PostgreSQL's timestamp epoch,
// in Unix microseconds.
const pgEpochMicros = 946_684_800_000_000

func (s *eventScanner) scan(rows pgx.Rows, e *Event) error {
	if !s.checked {
		s.checked, s.fast = true, rawScannable(rows.FieldDescriptions())
		s.strs = map[string]string{}
	}
	if !s.fast {
		return scanEvent(rows, e)
	}
	v := rows.RawValues()
	if len(v) != 12 || v[0] == nil || len(v[0]) != 8 || len(v[2]) != 8 || v[3] == nil || v[4] == nil || v[9] == nil {
		return errors.New("scan event: unexpected row shape")
	}
	e.ID = int64(binary.BigEndian.Uint64(v[0]))
	e.Seq = 0
	if v[1] != nil {
		if len(v[1]) != 8 {
			return errors.New("scan event: bad seq")
		}
		e.Seq = int64(binary.BigEndian.Uint64(v[1]))
	}
	us := int64(binary.BigEndian.Uint64(v[2]))
	if us == math.MaxInt64 || us == math.MinInt64 {
		return fmt.Errorf("scan event %d: infinite occurred_at", e.ID)
	}
	e.OccurredAt = time.UnixMicro(pgEpochMicros + us).UTC()
	e.Kind, e.Actor = s.str(v[3]), s.str(v[4])
	e.RequestID.Valid = v[5] != nil
	if e.RequestID.Valid {
		if len(v[5]) != 16 {
			return errors.New("scan event: bad request_id")
		}
		copy(e.RequestID.UUID[:], v[5])
	} else {
		e.RequestID.UUID = uuid.Nil
	}
	e.DBInstanceID, e.ErrorCode = s.str(v[6]), s.str(v[7])
	e.AlibabaRequestID = string(v[8])
	e.Payload = append(e.Payload[:0], v[9]...)
	e.PrevHash = appendNullable(e.PrevHash, v[10])
	e.Hash = appendNullable(e.Hash, v[11])
	return nil
}

func appendNullable(dst, v []byte) []byte {
	if v == nil {
		return nil
	}
	return append(dst[:0], v...)
}

func (s *eventScanner) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if v, ok := s.strs[string(b)]; ok {
		return v
	}
	v := string(b)
	if len(s.strs) < internLimit {
		s.strs[v] = v
	}
	return v
}

// rawScannable reports whether the result has the column types and formats
// eventScanner decodes.
func rawScannable(fds []pgconn.FieldDescription) bool {
	const (
		int8OID, textOID, jsonOID, byteaOID, timestamptzOID, uuidOID = 20, 25, 114, 17, 1184, 2950
	)
	want := []uint32{int8OID, int8OID, timestamptzOID, textOID, textOID, uuidOID, textOID, textOID, textOID, jsonOID, byteaOID, byteaOID}
	if len(fds) != len(want) {
		return false
	}
	for i, fd := range fds {
		if fd.DataTypeOID != want[i] {
			return false
		}
		binaryOnly := fd.DataTypeOID != textOID && fd.DataTypeOID != jsonOID
		if binaryOnly && fd.Format != pgx.BinaryFormatCode {
			return false
		}
	}
	return true
}
