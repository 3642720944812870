package audit

import (
	"context"
	"fmt"
	"time"
)

// Backlog is how far the trail's protection lags what was committed, for
// monitoring: events not chained yet, chained events no signed checkpoint
// covers, and the age of the newest checkpoint.
type Backlog struct {
	// Unsealed counts committed events the sealer has not chained yet.
	Unsealed int64
	// Unsigned counts sealed events after the newest checkpoint's head
	// (every sealed event when there is no checkpoint).
	Unsigned int64
	// Checkpointed says whether a checkpoint exists; CheckpointAge is the
	// time since the newest was made, on the database's clock.
	Checkpointed  bool
	CheckpointAge time.Duration
}

// ReadBacklog reads the Backlog in one statement over indexes: the partial
// index of unsealed events, the unique index of seq and the checkpoints'
// primary key.
func ReadBacklog(ctx context.Context, db Querier) (Backlog, error) {
	var (
		b        Backlog
		head     int64
		signed   *int64
		ageMicro *int64
	)
	err := db.QueryRow(ctx, `SELECT
  (SELECT count(*) FROM audit_events WHERE seq IS NULL),
  coalesce((SELECT max(seq) FROM audit_events WHERE seq IS NOT NULL), 0),
  c.head_seq,
  (extract(epoch FROM clock_timestamp() - c.created_at) * 1000000)::bigint
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (SELECT head_seq, created_at FROM audit_checkpoints ORDER BY seq DESC LIMIT 1) AS c ON true`).
		Scan(&b.Unsealed, &head, &signed, &ageMicro)
	if err != nil {
		return Backlog{}, fmt.Errorf("read audit backlog: %w", err)
	}
	b.Unsigned = head
	if signed != nil {
		b.Unsigned = max(0, head-*signed)
		b.Checkpointed = true
		b.CheckpointAge = max(0, time.Duration(*ageMicro)*time.Microsecond)
	}
	return b, nil
}
