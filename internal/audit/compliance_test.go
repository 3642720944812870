package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/testdb"
)

// bundle is what the compliance tests share: a fresh database, a signing
// key and a checkpointer writing to a temporary directory.
type bundle struct {
	pool *pgxpool.Pool
	key  ed25519.PrivateKey
	pub  ed25519.PublicKey
	dir  string
	cp   *audit.Checkpointer
	seal *audit.Sealer
}

func setup(t *testing.T) *bundle {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pool := testdb.New(t)
	dir := t.TempDir()
	return &bundle{pool: pool, key: key, pub: pub, dir: dir,
		cp: audit.NewCheckpointer(pool, nil, key, dir, time.Minute), seal: audit.NewSealer(pool, nil, 0)}
}

// everyKind is one event of every kind the service writes, with the
// optional columns used the way the service uses them.
func everyKind(rid uuid.UUID) []audit.Record {
	inst := "rm-bp1abcdefgh"
	return []audit.Record{
		{Kind: audit.KindTokenCreated, Actor: "cli", Payload: map[string]any{"subject": "alice", "groups": []string{"developers"}}},
		{Kind: audit.KindPolicyDecided, Actor: "alice", RequestID: rid, DBInstanceID: inst, Payload: map[string]any{"allow": true}},
		{Kind: audit.KindRequestCreated, Actor: "alice", RequestID: rid, DBInstanceID: inst,
			Payload: map[string]any{"justification": "incident <b>&</b> \"quoted\"\nline two, ünïcödé, \u2028"}},
		{Kind: audit.KindRequestDenied, Actor: "mallory", RequestID: uuid.New(), DBInstanceID: inst, Payload: map[string]any{"reasons": []string{"no"}}},
		{Kind: audit.KindApprovalGranted, Actor: "bob", RequestID: rid, DBInstanceID: inst, Payload: map[string]any{"decision": "approve"}},
		{Kind: audit.KindApprovalRejected, Actor: "carol", RequestID: uuid.New(), DBInstanceID: inst, Payload: map[string]any{"decision": "reject"}},
		{Kind: audit.KindRequestApproved, Actor: "bob", RequestID: rid, DBInstanceID: inst},
		{Kind: audit.KindRequestRejected, Actor: "carol", RequestID: uuid.New(), DBInstanceID: inst},
		{Kind: audit.KindRequestCancelled, Actor: "alice", RequestID: uuid.New(), DBInstanceID: inst},
		{Kind: audit.KindRequestExpired, Actor: "rdsgate", RequestID: uuid.New(), DBInstanceID: inst},
		{Kind: audit.KindExecutionStarted, Actor: "rdsgate", RequestID: rid, DBInstanceID: inst},
		{Kind: audit.KindExecutionFailed, Actor: "rdsgate", RequestID: rid, DBInstanceID: inst,
			ErrorCode: "IncorrectDBInstanceState", AlibabaRequestID: "1AC6E1C5-6B2B-4C1D-9A1E-0F0B3C1D2E3F", Payload: map[string]any{"attempt": 1}},
		{Kind: audit.KindExecutionSucceeded, Actor: "rdsgate", RequestID: rid, DBInstanceID: inst,
			AlibabaRequestID: "2BD7F2D6-7C3C-5D2E-AB2F-1A1C4D2E3F40", Payload: map[string]any{"attempt": 2}},
		{Kind: audit.KindPolicyReloaded, Actor: "rdsgate", Payload: map[string]any{"revision": "abc"}},
		{Kind: audit.KindPolicyReloadFailed, Actor: "rdsgate", ErrorCode: "PolicyLoadFailed", Payload: map[string]any{"error": "parse"}},
		// A cell a spreadsheet would run as a formula.
		{Kind: "test.formula", Actor: "=HYPERLINK(\"http://evil\")", Payload: map[string]any{"comment": "-2+3", "reason": "@SUM(A1)"}},
	}
}

func (b *bundle) append(t *testing.T, recs ...audit.Record) {
	t.Helper()
	ctx := context.Background()
	if err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error { return audit.Append(ctx, tx, recs...) }); err != nil {
		t.Fatal(err)
	}
}

func (b *bundle) appendN(t *testing.T, n int) {
	t.Helper()
	recs := make([]audit.Record, n)
	for i := range recs {
		recs[i] = audit.Record{Kind: audit.KindRequestCreated, Actor: fmt.Sprintf("user%d", i%3), RequestID: uuid.New(),
			DBInstanceID: "rm-abcd1234", Payload: map[string]any{"i": i}}
	}
	for _, r := range recs {
		b.append(t, r)
	}
}

func (b *bundle) flush(t *testing.T) {
	t.Helper()
	if _, err := b.seal.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (b *bundle) checkpoint(t *testing.T) *audit.Checkpoint {
	t.Helper()
	b.flush(t)
	cp, _, err := b.cp.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func (b *bundle) verify(t *testing.T, o audit.VerifyOptions) audit.Report {
	t.Helper()
	rep, err := audit.VerifyWith(context.Background(), b.pool, o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func (b *bundle) export(t *testing.T, o audit.ExportOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := audit.Export(context.Background(), b.pool, &buf, o); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func verifyBytes(t *testing.T, export []byte, o audit.VerifyOptions) audit.Report {
	t.Helper()
	rep, err := audit.VerifyStream(bytes.NewReader(export), o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// tamperAll runs sql as the superuser with the guard triggers of both
// audit tables disabled, as a DBA covering their tracks would.
func tamperAll(t *testing.T, pool *pgxpool.Pool, sqls ...string) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, s := range []string{`ALTER TABLE audit_events DISABLE TRIGGER USER`, `ALTER TABLE audit_checkpoints DISABLE TRIGGER USER`} {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
		for _, s := range sqls {
			if _, err := tx.Exec(ctx, s); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		for _, s := range []string{`ALTER TABLE audit_events ENABLE TRIGGER USER`, `ALTER TABLE audit_checkpoints ENABLE TRIGGER USER`} {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// rehashFrom rewrites the chain from seq on with correct hashes, as a DBA
// who knows the (public) hash layout would after changing an event.
func rehashFrom(t *testing.T, pool *pgxpool.Pool, from int64) {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT id, seq, occurred_at, kind, actor, request_id, coalesce(db_instance_id, ''),
        coalesce(error_code, ''), coalesce(alibaba_request_id, ''), payload::text, prev_hash, hash
        FROM audit_events WHERE seq >= $1 - 1 ORDER BY seq`, from)
	if err != nil {
		t.Fatal(err)
	}
	var all []audit.Event
	for rows.Next() {
		var e audit.Event
		var payload string
		if err := rows.Scan(&e.ID, &e.Seq, &e.OccurredAt, &e.Kind, &e.Actor, &e.RequestID, &e.DBInstanceID,
			&e.ErrorCode, &e.AlibabaRequestID, &payload, &e.PrevHash, &e.Hash); err != nil {
			t.Fatal(err)
		}
		e.Payload = json.RawMessage(payload)
		all = append(all, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	h := audit.NewHasher()
	prev := all[0].Hash
	var sqls []string
	for _, e := range all[1:] {
		sum := h.Sum(prev, &e)
		sqls = append(sqls, fmt.Sprintf(`UPDATE audit_events SET prev_hash = '\x%x', hash = '\x%x' WHERE seq = %d`, prev, sum, e.Seq))
		prev = sum
	}
	tamperAll(t, pool, sqls...)
}

func TestCheckpointChain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if _, _, err := b.cp.Checkpoint(ctx); !errors.Is(err, audit.ErrNoEvents) {
		t.Fatalf("checkpoint of an empty trail: err = %v, want ErrNoEvents", err)
	}
	b.appendN(t, 4)
	cp1 := b.checkpoint(t)
	if cp1.Seq != 1 || cp1.HeadSeq != 4 || !bytes.Equal(cp1.PrevSignature, make([]byte, 64)) || cp1.KeyID != audit.KeyID(b.pub) {
		t.Fatalf("first checkpoint = %+v", cp1)
	}
	if !ed25519.Verify(b.pub, cp1.Message(), cp1.Signature) {
		t.Fatal("first checkpoint signature does not verify")
	}
	again, created, err := b.cp.Checkpoint(ctx)
	if err != nil || created || again.Seq != 1 {
		t.Fatalf("checkpoint without new events: %+v created=%v err=%v, want checkpoint 1 again", again, created, err)
	}
	b.appendN(t, 3)
	cp2 := b.checkpoint(t)
	if cp2.Seq != 2 || cp2.HeadSeq != 7 || !bytes.Equal(cp2.PrevSignature, cp1.Signature) {
		t.Fatalf("second checkpoint = %+v", cp2)
	}
	for _, cp := range []*audit.Checkpoint{cp1, cp2} {
		got, err := audit.ReadCheckpointFile(filepath.Join(b.dir, fmt.Sprintf("%d.json", cp.Seq)))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(cp, got); diff != "" {
			t.Errorf("checkpoint file %d differs (-db +file):\n%s", cp.Seq, diff)
		}
	}
	b.appendN(t, 2)
	b.flush(t)
	rep := b.verify(t, audit.VerifyOptions{Keys: []ed25519.PublicKey{b.pub}, CheckpointDir: b.dir})
	if !rep.Complete() || rep.Checked != 9 || rep.Checkpoints != 2 || rep.Unsigned != 2 || rep.LastCheckpoint.Seq != 2 {
		t.Fatalf("report = %+v", rep)
	}
	// A checkpoint directory that does not exist yet holds no copies.
	if rep := b.verify(t, audit.VerifyOptions{Keys: []ed25519.PublicKey{b.pub}, CheckpointDir: filepath.Join(b.dir, "none")}); !rep.Complete() {
		t.Fatalf("report with a missing checkpoint directory = %+v", rep)
	}
	// Without a key the chain still checks, but the report is no proof.
	rep = b.verify(t, audit.VerifyOptions{})
	if !rep.OK() || rep.Complete() || rep.SignaturesUnchecked != 2 {
		t.Fatalf("report without key = %+v", rep)
	}
}

func TestCheckpointMessageLayout(t *testing.T) {
	t.Parallel()
	cp := audit.Checkpoint{Seq: 2, HeadSeq: 0x0102, HeadHash: bytes.Repeat([]byte{0xaa}, 32),
		CreatedAt: time.UnixMicro(0x0a0b0c).UTC(), PrevSignature: bytes.Repeat([]byte{0xbb}, 64)}
	want := hex.EncodeToString([]byte("rdsgate-audit-checkpoint-v1\x00")) +
		"0000000000000002" + "0000000000000102" + strings.Repeat("aa", 32) + "00000000000a0b0c" + strings.Repeat("bb", 64)
	if got := hex.EncodeToString(cp.Message()); got != want {
		t.Fatalf("message =\n%s\nwant\n%s", got, want)
	}
	if len(cp.Message()) != audit.CheckpointMessageSize || audit.CheckpointMessageSize != 148 {
		t.Fatalf("message size %d", len(cp.Message()))
	}
}

// trail12 builds 12 sealed events with checkpoint 1 at seq 5 and
// checkpoint 2 at seq 10; events 11 and 12 are not signed yet.
func trail12(t *testing.T) *bundle {
	t.Helper()
	b := setup(t)
	b.appendN(t, 5)
	b.checkpoint(t)
	b.appendN(t, 5)
	b.checkpoint(t)
	b.appendN(t, 2)
	b.flush(t)
	return b
}

func TestTamperingCaughtOnlineAndOffline(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		sql    []string
		rehash int64 // rewrite the hashes from this seq on after sql
		useDir bool
		// The problem: first bad event, checkpoint contradicted, reason.
		seq, checkpoint int64
		reason          string
	}{
		{name: "modified payload", sql: []string{`UPDATE audit_events SET payload = '{"i":99}' WHERE seq = 7`},
			seq: 7, checkpoint: 2, reason: "modified"},
		{name: "modified error code", sql: []string{`UPDATE audit_events SET error_code = 'Forged' WHERE seq = 3`},
			seq: 3, checkpoint: 1, reason: "modified"},
		{name: "modified in the unsigned tail", sql: []string{`UPDATE audit_events SET actor = 'mallory' WHERE seq = 12`},
			seq: 12, checkpoint: 0, reason: "modified"},
		{name: "deleted", sql: []string{`DELETE FROM audit_events WHERE seq = 7`},
			seq: 8, checkpoint: 2, reason: "expected seq 7"},
		{name: "deleted and renumbered", sql: []string{`DELETE FROM audit_events WHERE seq = 7`,
			`UPDATE audit_events SET seq = seq - 1 WHERE seq > 7`}, seq: 7, checkpoint: 2, reason: "prev_hash"},
		{name: "inserted", sql: []string{`UPDATE audit_events SET seq = -(seq + 1) WHERE seq >= 7`, `UPDATE audit_events SET seq = -seq WHERE seq < 0`,
			`INSERT INTO audit_events (occurred_at, kind, actor, payload, seq, prev_hash, hash)
			 SELECT occurred_at, kind, 'mallory', payload, 7, prev_hash, hash FROM audit_events WHERE seq = 6`},
			seq: 7, checkpoint: 2, reason: "prev_hash"},
		{name: "reordered", sql: []string{`UPDATE audit_events SET seq = -1 WHERE seq = 6`,
			`UPDATE audit_events SET seq = 6 WHERE seq = 7`, `UPDATE audit_events SET seq = 7 WHERE seq = -1`},
			seq: 6, checkpoint: 2, reason: "prev_hash"},
		{name: "tail truncated behind a checkpoint", sql: []string{`DELETE FROM audit_events WHERE seq >= 9`},
			seq: 9, checkpoint: 2, reason: "tail truncated"},
		{name: "modified and re-hashed", sql: []string{`UPDATE audit_events SET actor = 'mallory' WHERE seq = 7`}, rehash: 7,
			seq: 10, checkpoint: 2, reason: "rewritten and re-hashed"},
		{name: "checkpoint deleted", sql: []string{`DELETE FROM audit_checkpoints WHERE seq = 1`},
			seq: 10, checkpoint: 2, reason: "expected checkpoint 1"},
		{name: "checkpoint head moved", sql: []string{`UPDATE audit_checkpoints SET head_seq = 9 WHERE seq = 2`},
			seq: 9, checkpoint: 2, reason: "signature does not verify"},
		{name: "tail and its checkpoint removed, caught by the external copies",
			sql:    []string{`DELETE FROM audit_events WHERE seq >= 9`, `DELETE FROM audit_checkpoints WHERE seq = 2`},
			useDir: true, seq: 9, checkpoint: 2, reason: "tail truncated"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := trail12(t)
			opts := audit.VerifyOptions{Keys: []ed25519.PublicKey{b.pub}}
			if tc.useDir {
				opts.CheckpointDir = b.dir
			}
			if rep := b.verify(t, opts); !rep.Complete() {
				t.Fatalf("clean trail: %+v", rep)
			}
			tamperAll(t, b.pool, tc.sql...)
			if tc.rehash > 0 {
				rehashFrom(t, b.pool, tc.rehash)
			}
			check := func(where string, rep audit.Report) {
				t.Helper()
				p := rep.Problem
				if p == nil {
					t.Fatalf("%s: tampering not detected: %+v", where, rep)
				}
				if p.Seq != tc.seq || p.Checkpoint != tc.checkpoint || !strings.Contains(p.Reason, tc.reason) {
					t.Fatalf("%s: problem = %+v\nwant seq %d, checkpoint %d, reason containing %q", where, p, tc.seq, tc.checkpoint, tc.reason)
				}
			}
			check("online", b.verify(t, opts))
			check("offline", verifyBytes(t, b.export(t, audit.ExportOptions{}), opts))
			check("offline csv", verifyBytes(t, b.export(t, audit.ExportOptions{Format: audit.FormatCSV}), opts))
		})
	}
}

func TestTamperedExportFileCaught(t *testing.T) {
	t.Parallel()
	b := trail12(t)
	opts := audit.VerifyOptions{Keys: []ed25519.PublicKey{b.pub}}
	clean := b.export(t, audit.ExportOptions{})
	if rep := verifyBytes(t, clean, opts); !rep.Complete() || rep.Checked != 12 || rep.Checkpoints != 2 {
		t.Fatalf("clean export: %+v", rep)
	}
	lines := strings.SplitAfter(strings.TrimSuffix(string(clean), "\n"), "\n")
	// lines: events 1-5, checkpoint 1, events 6-10, checkpoint 2, events 11-12.
	if len(lines) != 14 || !strings.Contains(lines[5], `"type":"checkpoint"`) || !strings.Contains(lines[11], `"type":"checkpoint"`) {
		t.Fatalf("export layout:\n%s", clean)
	}
	edit := func(f func(ls []string) []string) []byte {
		return []byte(strings.Join(f(append([]string(nil), lines...)), ""))
	}
	cases := []struct {
		name            string
		file            []byte
		seq, checkpoint int64
		reason          string
	}{
		{"modified line", edit(func(ls []string) []string {
			ls[7] = strings.Replace(ls[7], `"actor":"user`, `"actor":"xuser`, 1)
			return ls
		}), 7, 2, "modified"},
		{"deleted line", edit(func(ls []string) []string { return append(ls[:7], ls[8:]...) }), 8, 2, "expected seq 7"},
		{"swapped lines", edit(func(ls []string) []string { ls[6], ls[7] = ls[7], ls[6]; return ls }), 7, 2, "expected seq 6"},
		{"truncated after a checkpoint's head, checkpoint kept", edit(func(ls []string) []string { return append(ls[:8], ls[11]) }),
			8, 2, "tail truncated"},
		{"checkpoint from another key", []byte(strings.Join(lines[:11], "") + foreignCheckpoint(t, lines[11]) + strings.Join(lines[12:], "")),
			10, 2, "not a trusted key"},
	}
	for _, tc := range cases {
		rep := verifyBytes(t, tc.file, opts)
		p := rep.Problem
		if p == nil || p.Seq != tc.seq || p.Checkpoint != tc.checkpoint || !strings.Contains(p.Reason, tc.reason) {
			t.Errorf("%s: problem = %+v, want seq %d, checkpoint %d, %q", tc.name, p, tc.seq, tc.checkpoint, tc.reason)
		}
	}
}

// foreignCheckpoint re-signs a checkpoint line with a fresh key.
func foreignCheckpoint(t *testing.T, line string) string {
	t.Helper()
	var cp audit.Checkpoint
	if err := json.Unmarshal([]byte(line), &cp); err != nil {
		t.Fatal(err)
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	audit.SignCheckpoint(other, &cp)
	b, _ := json.Marshal(struct {
		Type string `json:"type"`
		audit.Checkpoint
	}{"checkpoint", cp})
	return string(b) + "\n"
}

func TestCheckpointOfAnotherKeyRejected(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	foreign := audit.NewCheckpointer(b.pool, nil, otherKey, "", time.Minute)
	b.appendN(t, 3)
	b.flush(t)
	if _, _, err := foreign.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	opts := audit.VerifyOptions{Keys: []ed25519.PublicKey{b.pub}}
	for where, rep := range map[string]audit.Report{
		"online": b.verify(t, opts), "offline": verifyBytes(t, b.export(t, audit.ExportOptions{}), opts)} {
		if p := rep.Problem; p == nil || p.Checkpoint != 1 || !strings.Contains(p.Reason, "not a trusted key") {
			t.Errorf("%s: problem = %+v, want checkpoint 1 signed by an untrusted key", where, p)
		}
	}
	// A forger who also copies our key id is caught by the signature itself.
	tamperAll(t, b.pool, fmt.Sprintf(`UPDATE audit_checkpoints SET key_id = '%s' WHERE seq = 1`, audit.KeyID(b.pub)))
	if p := b.verify(t, opts).Problem; p == nil || p.Checkpoint != 1 || !strings.Contains(p.Reason, "signature does not verify") {
		t.Errorf("forged key id: problem = %+v", p)
	}
}

func TestCheckpointerRefusesRewrittenChain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.appendN(t, 5)
	b.checkpoint(t)
	b.appendN(t, 3)
	b.flush(t)
	tamperAll(t, b.pool, `UPDATE audit_events SET actor = 'mallory' WHERE seq = 4`)
	rehashFrom(t, b.pool, 4)
	_, _, err := b.cp.Checkpoint(context.Background())
	if err == nil || !strings.Contains(err.Error(), "refusing to sign") {
		t.Fatalf("checkpoint over a rewritten chain: err = %v, want a refusal", err)
	}
	if _, err := os.Stat(filepath.Join(b.dir, "2.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused checkpoint left a file: %v", err)
	}
}

func TestExportRoundTripEveryKind(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	rid := uuid.New()
	recs := everyKind(rid)
	b.append(t, recs[:6]...)
	b.checkpoint(t)
	b.append(t, recs[6:]...)
	// Payloads only a DBA appending by hand would write: surrounding space,
	// line breaks, a bare null. They must survive the export byte for byte.
	if _, err := b.pool.Exec(ctx, `INSERT INTO audit_events (occurred_at, kind, actor, payload) VALUES
        (now(), 'manual.note', 'dba', E' {"a":  1}\n'), (now(), 'manual.note', 'dba', 'null'),
        (now(), 'manual.note', 'dba', E'[1,\r\n2]')`); err != nil {
		t.Fatal(err)
	}
	b.checkpoint(t)
	b.appendN(t, 2)
	b.flush(t)
	b.appendN(t, 1) // committed, not sealed: counted, not exported
	total := int64(len(recs) + 3 + 2)

	var buf bytes.Buffer
	res, err := audit.Export(ctx, b.pool, &buf, audit.ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != total || res.Checkpoints != 2 || res.Unsealed != 1 || res.LastSeq != total {
		t.Fatalf("export result = %+v", res)
	}
	opts := audit.VerifyOptions{Keys: []ed25519.PublicKey{b.pub}, CheckpointDir: b.dir}
	rep := verifyBytes(t, buf.Bytes(), opts)
	if !rep.Complete() || rep.Checked != total || rep.Checkpoints != 2 || rep.Unsigned != 2 {
		t.Fatalf("offline verify of the export: %+v", rep)
	}
	online := b.verify(t, opts)
	if online.HeadSeq != rep.HeadSeq || !bytes.Equal(online.HeadHash, rep.HeadHash) || online.Unsealed != 1 {
		t.Fatalf("online %+v and offline %+v disagree", online, rep)
	}

	// Every line is an object with a type; every event carries its hash and
	// its predecessor's; each checkpoint follows the event at its head.
	kinds := map[string]bool{}
	var prevSeq int64
	sc := bufio.NewScanner(bytes.NewReader(buf.Bytes()))
	for sc.Scan() {
		var l struct {
			Type     string          `json:"type"`
			Seq      int64           `json:"seq"`
			HeadSeq  int64           `json:"head_seq"`
			Kind     string          `json:"kind"`
			Hash     string          `json:"hash"`
			PrevHash string          `json:"prev_hash"`
			Payload  json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		switch l.Type {
		case "event":
			kinds[l.Kind] = true
			if len(l.Hash) != 64 || len(l.PrevHash) != 64 {
				t.Errorf("event %d lacks its hashes: %s", l.Seq, sc.Text())
			}
			prevSeq = l.Seq
		case "checkpoint":
			if l.HeadSeq != prevSeq {
				t.Errorf("checkpoint %d (head %d) follows event %d", l.Seq, l.HeadSeq, prevSeq)
			}
		default:
			t.Errorf("line of type %q", l.Type)
		}
	}
	for _, r := range recs {
		if !kinds[r.Kind] {
			t.Errorf("kind %s missing from the export", r.Kind)
		}
	}
	if !strings.Contains(buf.String(), `"payload":null,"payload_text":" {\"a\":  1}\n"`) {
		t.Errorf("a payload with surrounding space is not kept as text:\n%s", buf.String())
	}

	// CSV carries the same trail.
	csvOut := b.export(t, audit.ExportOptions{Format: audit.FormatCSV})
	if rep := verifyBytes(t, csvOut, opts); !rep.Complete() || rep.Checked != total || rep.Checkpoints != 2 {
		t.Fatalf("csv verify: %+v", rep)
	}

	// A resumed export verifies on its own as a partial trail, and not as a
	// whole one.
	part := b.export(t, audit.ExportOptions{FromSeq: 4})
	if rep := verifyBytes(t, part, audit.VerifyOptions{Keys: opts.Keys, Partial: true}); !rep.Complete() || rep.Checked != total-3 {
		t.Fatalf("partial export: %+v", rep)
	}
	if rep := verifyBytes(t, part, audit.VerifyOptions{Keys: opts.Keys}); rep.OK() || rep.Problem.Seq != 4 {
		t.Fatalf("partial export verified as whole: %+v", rep)
	}
	// Resuming where the first export stopped and concatenating gives the
	// whole trail again.
	first := b.export(t, audit.ExportOptions{})
	b.appendN(t, 2)
	b.checkpoint(t)
	rest := b.export(t, audit.ExportOptions{FromSeq: res.LastSeq + 1})
	if rep := verifyBytes(t, append(first, rest...), opts); !rep.Complete() || rep.Checked != total+3 || rep.Checkpoints != 3 {
		t.Fatalf("concatenated exports: %+v", rep)
	}
}

func TestExportCSVShape(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rid := uuid.New()
	b.append(t, everyKind(rid)...)
	cp := b.checkpoint(t)
	out := b.export(t, audit.ExportOptions{Format: audit.FormatCSV})
	rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// The record's columns where they always were, then the payload's.
	wantHeader := []string{"type", "seq", "id", "occurred_at", "kind", "actor", "request_id", "db_instance_id",
		"error_code", "alibaba_request_id", "payload", "prev_hash", "hash",
		"head_seq", "head_hash", "key_id", "prev_signature", "signature",
		"environment", "region_id", "connection_string", "justification", "ticket",
		"decision", "comment", "group", "subject", "groups", "roles", "expires_at", "status", "reason",
		"method", "action", "role", "source_ip", "channel", "attempt", "http_status", "error_message"}
	if diff := cmp.Diff(wantHeader, rows[0]); diff != "" {
		t.Fatalf("header (-want +got):\n%s", diff)
	}
	n := len(everyKind(rid))
	if len(rows) != 1+n+1 {
		t.Fatalf("%d rows, want header + %d events + 1 checkpoint", len(rows), n)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	var failed []string
	for _, r := range rows[1 : 1+n] {
		if r[col["type"]] != "event" || len(r[col["hash"]]) != 64 || len(r[col["prev_hash"]]) != 64 || r[col["head_seq"]] != "" {
			t.Errorf("event row %v", r)
		}
		if r[col["kind"]] == audit.KindExecutionFailed {
			failed = r
		}
		if r[col["kind"]] == "test.formula" && (r[col["actor"]] != `'=HYPERLINK("http://evil")` ||
			r[col["comment"]] != "'-2+3" || r[col["reason"]] != "'@SUM(A1)") {
			t.Errorf("formula cell not guarded: %q", r)
		}
	}
	// The payload's fields, one column each.
	byKind := map[string][]string{}
	for _, r := range rows[1 : 1+n] {
		byKind[r[col["kind"]]] = r
	}
	for _, c := range []struct{ kind, column, want string }{
		{audit.KindTokenCreated, "subject", "alice"},
		{audit.KindTokenCreated, "groups", "developers"},
		{audit.KindRequestCreated, "justification", "incident <b>&</b> \"quoted\"\nline two, ünïcödé, \u2028"},
		{audit.KindRequestDenied, "reason", "no"},
		{audit.KindApprovalGranted, "decision", "approve"},
		{audit.KindApprovalRejected, "decision", "reject"},
		{audit.KindExecutionFailed, "attempt", "1"},
		{audit.KindPolicyReloadFailed, "error_message", "parse"},
		{audit.KindPolicyDecided, "decision", ""}, // no result in this payload
	} {
		if got := byKind[c.kind][col[c.column]]; got != c.want {
			t.Errorf("%s: column %s = %q, want %q", c.kind, c.column, got, c.want)
		}
	}
	if failed == nil || failed[col["error_code"]] != "IncorrectDBInstanceState" || failed[col["alibaba_request_id"]] == "" ||
		failed[col["request_id"]] != rid.String() || failed[col["payload"]] != `{"attempt":1}` {
		t.Errorf("execution.failed row = %v", failed)
	}
	last := rows[len(rows)-1]
	if last[col["type"]] != "checkpoint" || last[col["seq"]] != "1" || last[col["head_seq"]] != fmt.Sprint(cp.HeadSeq) ||
		last[col["signature"]] != hex.EncodeToString(cp.Signature) || last[col["key_id"]] != cp.KeyID {
		t.Errorf("checkpoint row = %v", last)
	}
}

// accountOf is the account of test event i: one of three.
func accountOf(i int) string { return fmt.Sprintf("100000000000000%d", i%3+1) }

func TestSearchFilters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	rids := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	var recs []audit.Record
	for i := 0; i < 120; i++ {
		r := audit.Record{Kind: []string{audit.KindRequestCreated, audit.KindApprovalGranted, audit.KindExecutionFailed}[i%3],
			Actor: fmt.Sprintf("user%d", i%4), RequestID: rids[i%3], DBInstanceID: fmt.Sprintf("rm-%d", i%5),
			At:      base.Add(time.Duration(i/2) * time.Minute), // pairs share a timestamp: the id breaks the tie
			Payload: map[string]any{"i": i, "account_id": accountOf(i)}}
		if r.Kind == audit.KindExecutionFailed {
			r.ErrorCode = []string{"Throttling", "IncorrectDBInstanceState"}[i%2]
			r.AlibabaRequestID = fmt.Sprintf("ALI-%03d", i)
		}
		recs = append(recs, r)
	}
	b.append(t, recs[:60]...)
	b.flush(t)
	b.append(t, recs[60:]...) // the rest stays unsealed: search shows it too

	match := func(f audit.Filter, r audit.Record) bool {
		return (f.From.IsZero() || !r.At.Before(f.From)) && (f.To.IsZero() || r.At.Before(f.To)) &&
			(f.Actor == "" || r.Actor == f.Actor) && (f.RequestID == "" || r.RequestID.String() == f.RequestID) &&
			(f.DBInstanceID == "" || r.DBInstanceID == f.DBInstanceID) && (f.Kind == "" || r.Kind == f.Kind) &&
			(f.ErrorCode == "" || r.ErrorCode == f.ErrorCode) && (f.AlibabaRequestID == "" || r.AlibabaRequestID == f.AlibabaRequestID) &&
			(f.AccountID == "" || r.Payload.(map[string]any)["account_id"] == f.AccountID)
	}
	filters := map[string]audit.Filter{
		"none":         {},
		"time range":   {From: base.Add(10 * time.Minute), To: base.Add(40 * time.Minute)},
		"actor":        {Actor: "user2"},
		"request id":   {RequestID: rids[1].String()},
		"instance":     {DBInstanceID: "rm-3"},
		"kind":         {Kind: audit.KindApprovalGranted},
		"error code":   {ErrorCode: "Throttling"},
		"alibaba id":   {AlibabaRequestID: "ALI-005"},
		"account":      {AccountID: "1000000000000002"},
		"account+kind": {AccountID: "1000000000000001", Kind: audit.KindExecutionFailed},
		"combined":     {Actor: "user1", Kind: audit.KindRequestCreated, From: base.Add(5 * time.Minute)},
		"no match":     {Actor: "nobody"},
		"time + actor": {Actor: "user0", To: base.Add(30 * time.Minute)},
	}
	for name, f := range filters {
		var want []string
		for i := len(recs) - 1; i >= 0; i-- {
			if match(f, recs[i]) {
				want = append(want, fmt.Sprintf(`{"account_id":%q,"i":%d}`, accountOf(i), i))
			}
		}
		f.Limit = 7
		var (
			got  []string
			last audit.Page
		)
		pages := 0
		for {
			page, err := audit.Search(ctx, b.pool, f)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			pages++
			for _, e := range page.Items {
				got = append(got, string(e.Payload))
			}
			if page.NextCursor == "" {
				last = page
				break
			}
			f.Cursor = page.NextCursor
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: newest-first results over %d pages (-want +got):\n%s", name, pages, diff)
		}
		// From the last page back up through PrevCursor: the same events,
		// and the first page has no way further up.
		var back []string
		for page := last; ; {
			var up []string
			for _, e := range page.Items {
				up = append(up, string(e.Payload))
			}
			back = append(up, back...)
			if page.PrevCursor == "" {
				break
			}
			f.Cursor = page.PrevCursor
			var err error
			if page, err = audit.Search(ctx, b.pool, f); err != nil {
				t.Fatalf("%s: up: %v", name, err)
			}
		}
		if diff := cmp.Diff(want, back); diff != "" {
			t.Errorf("%s: pages read back up (-want +got):\n%s", name, diff)
		}
		if tot, err := audit.Count(ctx, b.pool, f); err != nil || tot != (audit.Total{N: int64(len(want)), Exact: true}) {
			t.Errorf("%s: count = %+v, %v; want %d, exact", name, tot, err, len(want))
		}
	}
	for field, f := range map[string]audit.Filter{
		"request_id": {RequestID: "not-a-uuid"},
		"cursor":     {Cursor: "!!"},
		"limit":      {Limit: audit.MaxPageSize + 1},
		"to":         {From: base, To: base},
	} {
		_, err := audit.Search(ctx, b.pool, f)
		var fe *audit.FilterError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("bad %s: err = %v, want a FilterError naming it", field, err)
		}
	}

	tl, err := audit.Timeline(ctx, b.pool, rids[2])
	if err != nil {
		t.Fatal(err)
	}
	if len(tl) != 40 {
		t.Fatalf("timeline has %d events, want 40", len(tl))
	}
	for i := 1; i < len(tl); i++ {
		a, c := tl[i-1], tl[i]
		if c.OccurredAt.Before(a.OccurredAt) || (c.OccurredAt.Equal(a.OccurredAt) && c.ID < a.ID) {
			t.Fatalf("timeline not oldest first at %d", i)
		}
	}

	var buf bytes.Buffer
	n, err := audit.ExportSearch(ctx, b.pool, &buf, audit.FormatJSONL, audit.Filter{ErrorCode: "Throttling"})
	if err != nil || n != 20 || strings.Count(buf.String(), "\n") != 20 {
		t.Fatalf("filtered export: n=%d err=%v\n%s", n, err, buf.String())
	}
}

func TestRoleSplit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	cfg := b.pool.Config().Copy()
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `SET ROLE rdsgate_service`)
		return err
	}
	svc, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	var role string
	if err := svc.QueryRow(ctx, `SELECT current_user`).Scan(&role); err != nil || role != "rdsgate_service" {
		t.Fatalf("current_user = %q, %v", role, err)
	}

	// Everything the service does works under its role: append, seal,
	// checkpoint, verify, export, search.
	if err := pgx.BeginFunc(ctx, svc, func(tx pgx.Tx) error {
		return audit.Append(ctx, tx, everyKind(uuid.New())...)
	}); err != nil {
		t.Fatalf("append as the service: %v", err)
	}
	if _, err := audit.NewSealer(svc, nil, 0).Flush(ctx); err != nil {
		t.Fatalf("seal as the service: %v", err)
	}
	if _, _, err := audit.NewCheckpointer(svc, nil, b.key, "", time.Minute).Checkpoint(ctx); err != nil {
		t.Fatalf("checkpoint as the service: %v", err)
	}
	if rep, err := audit.VerifyWith(ctx, svc, audit.VerifyOptions{Keys: []ed25519.PublicKey{b.pub}}); err != nil || !rep.Complete() {
		t.Fatalf("verify as the service: %+v %v", rep, err)
	}
	if _, err := audit.Export(ctx, svc, io.Discard, audit.ExportOptions{}); err != nil {
		t.Fatalf("export as the service: %v", err)
	}
	if _, err := audit.Search(ctx, svc, audit.Filter{Actor: "alice"}); err != nil {
		t.Fatalf("search as the service: %v", err)
	}

	// What it must not do is refused by privilege, before any trigger.
	for _, sql := range []string{
		`UPDATE audit_events SET actor = 'mallory' WHERE seq = 2`,
		`UPDATE audit_events SET payload = '{}' WHERE seq = 2`,
		`DELETE FROM audit_events WHERE seq = 2`,
		`TRUNCATE audit_events`,
		`UPDATE audit_checkpoints SET head_seq = 1`,
		`DELETE FROM audit_checkpoints`,
		`TRUNCATE audit_checkpoints`,
		`ALTER TABLE audit_events DISABLE TRIGGER USER`,
		`DROP TRIGGER audit_events_no_update_delete ON audit_events`,
		`SELECT setval('audit_events_id_seq', 1)`,
	} {
		_, err := svc.Exec(ctx, sql)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Errorf("%s as the service: err = %v, want insufficient_privilege (42501)", sql, err)
		}
	}
	// The one update it may make, filling the chain columns, is refused by
	// the trigger once they are filled.
	_, err = svc.Exec(ctx, `UPDATE audit_events SET hash = prev_hash WHERE seq = 2`)
	if err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("re-sealing as the service: err = %v, want the append-only refusal", err)
	}
}

func TestIntegrityMonitorCaches(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.appendN(t, 3)
	b.checkpoint(t)
	m := audit.NewMonitor(b.pool, audit.VerifyOptions{Keys: []ed25519.PublicKey{b.pub}}, time.Hour)
	var wg sync.WaitGroup
	got := make([]audit.Integrity, 8)
	errs := make([]error, 8)
	for i := range got {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			got[i], errs[i] = m.Status(ctx)
		}(i)
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil || !got[i].Complete || !got[i].VerifiedAt.Equal(got[0].VerifiedAt) || got[i].LastCheckpoint == nil {
			t.Fatalf("concurrent status %d = %+v, %v (first %v)", i, got[i], errs[i], got[0].VerifiedAt)
		}
	}
	// Cached: new events do not show in the report, but a new checkpoint does.
	b.appendN(t, 2)
	b.checkpoint(t)
	st, err := m.Status(ctx)
	if err != nil || st.Report.Checked != 3 || st.LastCheckpoint.Seq != 2 || !st.VerifiedAt.Equal(got[0].VerifiedAt) {
		t.Fatalf("cached status = %+v, %v", st, err)
	}
	fresh, err := audit.NewMonitor(b.pool, audit.VerifyOptions{}, time.Nanosecond).Status(ctx)
	if err != nil || fresh.Report.Checked != 5 || !fresh.OK || fresh.Complete {
		t.Fatalf("fresh status without key = %+v, %v", fresh, err)
	}
}

func TestKeyFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.pem")
	key, err := audit.GenerateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := audit.LoadSigningKey(path)
	if err != nil || !loaded.Equal(key) {
		t.Fatalf("LoadSigningKey = %v, %v", loaded, err)
	}
	for _, p := range []string{path + ".pub", path} {
		pub, err := audit.LoadPublicKey(p)
		if err != nil || !pub.Equal(key.Public()) {
			t.Fatalf("LoadPublicKey(%s) = %v, %v", p, pub, err)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode: %v %v", fi.Mode(), err)
	}
	if _, err := audit.GenerateKeyFile(path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("overwrite: err = %v, want fs.ErrExist", err)
	}
	// Keys made by `openssl genpkey -algorithm ed25519` (test-only key).
	okey, err := audit.LoadSigningKey("testdata/openssl-ed25519.pem")
	if err != nil {
		t.Fatal(err)
	}
	opub, err := audit.LoadPublicKey("testdata/openssl-ed25519.pub")
	if err != nil || !opub.Equal(okey.Public()) {
		t.Fatalf("openssl public key = %v, %v", opub, err)
	}
	if _, err := audit.LoadSigningKey("testdata/openssl-ed25519.pub"); err == nil {
		t.Fatal("a public key loaded as a signing key")
	}
}

// TestExportStreamsInConstantMemory is not parallel: it reads the
// process's heap, which parallel tests would disturb (Go runs it before
// resuming any parallel test).
func TestExportStreamsInConstantMemory(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	// 20,000 events of about 2 KB: a 40 MB export.
	if _, err := b.pool.Exec(ctx, `INSERT INTO audit_events (occurred_at, kind, actor, payload)
        SELECT now(), 'bulk.event', 'loader', json_build_object('i', i, 'pad', repeat('x', 2000))
        FROM generate_series(1, 20000) AS i`); err != nil {
		t.Fatal(err)
	}
	b.flush(t)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	w := &heapWatcher{}
	res, err := audit.Export(ctx, b.pool, w, audit.ExportOptions{})
	if err != nil || res.Events != 20000 {
		t.Fatalf("export: %+v, %v", res, err)
	}
	if w.n < 40_000_000 {
		t.Fatalf("exported %d bytes, want over 40 MB", w.n)
	}
	growth := int64(w.peak) - int64(base)
	t.Logf("exported %d MB; heap peak %d MB over a base of %d MB", w.n>>20, growth>>20, base>>20)
	if growth > 16<<20 {
		t.Fatalf("heap grew by %d MB while exporting %d MB: the export is not streamed", growth>>20, w.n>>20)
	}
}

// heapWatcher discards what it is given and records the peak heap.
type heapWatcher struct {
	n    int64
	peak uint64
	ms   runtime.MemStats
}

func (h *heapWatcher) Write(p []byte) (int, error) {
	h.n += int64(len(p))
	runtime.ReadMemStats(&h.ms)
	h.peak = max(h.peak, h.ms.HeapAlloc)
	return len(p), nil
}

// A superuser re-hashes a whole trail of old events and deletes every
// checkpoint: each remaining link checks. With a trusted key and the
// checkpoint interval, verify fails all the same, online and offline,
// naming the unsigned span: events that old should have been signed.
func TestRehashedTrailWithCheckpointsDeletedCaught(t *testing.T) {
	t.Parallel()
	b := trail12(t)
	tamperAll(t, b.pool,
		`UPDATE audit_events SET occurred_at = now() - (90 - seq) * interval '1 day', actor = 'mallory' WHERE seq >= 2`,
		`DELETE FROM audit_checkpoints`)
	rehashFrom(t, b.pool, 2)
	loose := audit.VerifyOptions{Keys: []ed25519.PublicKey{b.pub}}
	if rep := b.verify(t, loose); !rep.OK() {
		t.Fatalf("without the rule the forgery must pass every link check (else this test tests nothing): %+v", rep.Problem)
	}
	strict := audit.VerifyOptions{Keys: []ed25519.PublicKey{b.pub}, MaxUnsigned: audit.MaxUnsignedFor(time.Minute)}
	check := func(where string, rep audit.Report) {
		t.Helper()
		p := rep.Problem
		if p == nil || p.Seq != 1 || !strings.Contains(p.Reason, "events 1 to 12 are covered by no signed checkpoint") {
			t.Fatalf("%s: %+v", where, p)
		}
	}
	check("online", b.verify(t, strict))
	check("offline", verifyBytes(t, b.export(t, audit.ExportOptions{}), strict))
	// A fresh trail whose events wait less than the window passes.
	fresh := setup(t)
	fresh.appendN(t, 3)
	fresh.flush(t)
	if rep := fresh.verify(t, strict); !rep.OK() || rep.Unsigned != 3 {
		t.Fatalf("recent unsigned events: %+v", rep)
	}
}
