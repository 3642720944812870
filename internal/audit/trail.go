package audit

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
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
		return 0, errors.New("events not fully read")
	}
	var n int64
	err := t.db.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE seq IS NULL`).Scan(&n)
	return n, err
}

// eventScanner reads event rows; see scan.
type eventScanner struct{}

func (s *eventScanner) scan(rows pgx.Rows, e *Event) error { return scanEvent(rows, e) }
