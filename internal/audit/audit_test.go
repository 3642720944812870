package audit_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/testdb"
)

func appendN(t *testing.T, pool *pgxpool.Pool, n int) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return audit.Append(ctx, tx, audit.Record{
				Kind: audit.KindRequestCreated, Actor: fmt.Sprintf("user%d", i%3),
				RequestID: uuid.New(), DBInstanceID: "rm-abcd1234",
				Payload: map[string]any{"i": i, "text": "line\nbreak <b>"},
			})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestAppendSealVerify(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	appendN(t, pool, 25)
	rep := testdb.SealAndVerify(t, pool)
	if !rep.OK() || rep.Checked != 25 || rep.HeadSeq != 25 || rep.Unsealed != 0 {
		t.Fatalf("report = %+v", rep)
	}
	// Sealing again is a no-op and the chain extends cleanly afterwards.
	appendN(t, pool, 5)
	rep = testdb.SealAndVerify(t, pool)
	if !rep.OK() || rep.Checked != 30 {
		t.Fatalf("after second batch: %+v", rep)
	}
}

func TestAppendOnlyEnforcedByDatabase(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	appendN(t, pool, 3)
	testdb.SealAndVerify(t, pool)
	ctx := context.Background()
	for _, sql := range []string{
		`UPDATE audit_events SET actor = 'mallory' WHERE seq = 2`,
		`UPDATE audit_events SET seq = 99 WHERE seq = 2`,
		`DELETE FROM audit_events WHERE seq = 2`,
		`TRUNCATE audit_events`,
	} {
		_, err := pool.Exec(ctx, sql)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want append-only refusal", sql, err)
		}
	}
	if rep := testdb.SealAndVerify(t, pool); !rep.OK() || rep.Checked != 3 {
		t.Fatalf("chain changed: %+v", rep)
	}
}

// tamper runs sql as the superuser with the guard trigger disabled, as a
// DBA covering their tracks would.
func tamper(t *testing.T, pool *pgxpool.Pool, sqls ...string) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `ALTER TABLE audit_events DISABLE TRIGGER USER`); err != nil {
			return err
		}
		for _, s := range sqls {
			if _, err := tx.Exec(ctx, s); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		_, err := tx.Exec(ctx, `ALTER TABLE audit_events ENABLE TRIGGER USER`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestVerifyFindsTampering(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		sql     []string
		wantSeq int64
		reason  string
	}{
		{"modified payload", []string{`UPDATE audit_events SET payload = '{"i":4}' WHERE seq = 5`}, 5, "modified"},
		{"modified actor", []string{`UPDATE audit_events SET actor = 'mallory' WHERE seq = 7`}, 7, "modified"},
		{"deleted", []string{`DELETE FROM audit_events WHERE seq = 4`}, 5, "expected seq 4"},
		{"deleted and renumbered", []string{`DELETE FROM audit_events WHERE seq = 4`,
			`UPDATE audit_events SET seq = seq - 1 WHERE seq > 4`}, 4, "prev_hash"},
		{"inserted", []string{`UPDATE audit_events SET seq = -(seq + 1) WHERE seq >= 6`, `UPDATE audit_events SET seq = -seq WHERE seq < 0`,
			`INSERT INTO audit_events (occurred_at, kind, actor, payload, seq, prev_hash, hash)
			 SELECT occurred_at, kind, 'mallory', payload, 6, prev_hash, hash FROM audit_events WHERE seq = 5`}, 6, "prev_hash"},
		{"reordered", []string{`UPDATE audit_events SET seq = -1 WHERE seq = 3`,
			`UPDATE audit_events SET seq = 3 WHERE seq = 4`, `UPDATE audit_events SET seq = 4 WHERE seq = -1`}, 3, "prev_hash"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool := testdb.New(t)
			appendN(t, pool, 10)
			if rep := testdb.SealAndVerify(t, pool); !rep.OK() {
				t.Fatalf("clean chain: %+v", rep)
			}
			tamper(t, pool, tc.sql...)
			rep, err := audit.Verify(context.Background(), pool)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatalf("tampering not detected: %+v", rep)
			}
			if rep.Problem.Seq != tc.wantSeq || !strings.Contains(rep.Problem.Reason, tc.reason) {
				t.Fatalf("problem = %+v, want seq %d with %q", rep.Problem, tc.wantSeq, tc.reason)
			}
		})
	}
}

func TestConcurrentWritersOneChain(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	sealer := audit.NewSealer(pool, nil, 0)
	var wg sync.WaitGroup
	const writers, each = 16, 20
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					return audit.Append(ctx, tx, audit.Record{Kind: "test.event", Actor: fmt.Sprint("w", w), Payload: map[string]int{"i": i}})
				})
				if err != nil {
					errs <- err
					return
				}
				// Sealers race the writers, as on a busy server with replicas.
				if i%5 == 0 {
					if _, err := sealer.SealAll(ctx); err != nil {
						errs <- err
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rep := testdb.SealAndVerify(t, pool)
	if !rep.OK() || rep.Checked != writers*each || rep.Unsealed != 0 {
		t.Fatalf("report = %+v", rep)
	}
}

// runSealer runs s until the test ends.
func runSealer(t *testing.T, s *audit.Sealer) {
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-stopped; err != nil {
			t.Error(err)
		}
	})
}

// Under a burst of commits, each kicking the sealer, Run seals in rounds at
// least the spacing apart, and kicks alone seal every event (the poll
// interval is an hour).
func TestSealerSpacesRoundsUnderKicks(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	sealer := audit.NewSealer(pool, nil, time.Hour)
	const spacing, events = 400 * time.Millisecond, 40
	audit.SetSpacing(sealer, spacing)
	rounds := make(chan int, 1024)
	audit.OnRound(sealer, func(n int) { rounds <- n })
	runSealer(t, sealer)
	if n := <-rounds; n != 0 {
		t.Fatalf("first round sealed %d events of an empty trail", n)
	}

	start := time.Now()
	for i := range events {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return audit.Append(ctx, tx, audit.Record{Kind: "test.event", Actor: "burst", Payload: map[string]int{"i": i}})
		})
		if err != nil {
			t.Fatal(err)
		}
		sealer.Kick()
	}
	burst := time.Since(start)

	sealed, busy := 0, 0
	deadline := time.After(30 * time.Second)
	for sealed < events {
		select {
		case n := <-rounds:
			sealed += n
			if n > 0 {
				busy++
			}
		case <-deadline:
			t.Fatalf("%d of %d events sealed after 30 s: a kick was lost", sealed, events)
		}
	}
	// Round starts are at least the spacing apart: at most one per spacing
	// over the burst, and one after it.
	if most := int(burst/spacing) + 2; busy > most {
		t.Fatalf("%d events took %d sealing rounds in a burst of %v; with rounds %v apart at most %d",
			events, busy, burst.Round(time.Millisecond), spacing, most)
	}
	if rep, err := audit.Verify(ctx, pool); err != nil || !rep.OK() || rep.Checked != events || rep.Unsealed != 0 {
		t.Fatalf("verify = %+v, %v", rep, err)
	}
}

// A kick that comes after a round has read the unsealed events (here, from
// the end of the first round) is served by a later round, although the poll
// interval is an hour.
func TestSealerServesAKickThatComesDuringARound(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	sealer := audit.NewSealer(pool, nil, time.Hour)
	audit.SetSpacing(sealer, 10*time.Millisecond)
	rounds := make(chan int, 64)
	var once sync.Once
	audit.OnRound(sealer, func(n int) {
		once.Do(func() {
			err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				return audit.Append(ctx, tx, audit.Record{Kind: "test.event", Actor: "late", Payload: map[string]int{}})
			})
			if err != nil {
				t.Error(err)
			}
			sealer.Kick()
		})
		rounds <- n
	})
	runSealer(t, sealer)
	deadline := time.After(30 * time.Second)
	for sealed := 0; sealed < 1; {
		select {
		case n := <-rounds:
			sealed += n
		case <-deadline:
			t.Fatal("the event committed and kicked during a round is still unsealed after 30 s: the kick was lost")
		}
	}
}
