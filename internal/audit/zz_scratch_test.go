package audit

import (
	"context"
	"os"
	"testing"
	"time"
	"log/slog"
	"io"

	"github.com/rdsgate/rdsgate/internal/store"
)

func TestZZScratchGen(t *testing.T) {
	url := os.Getenv("SCRATCH_URL")
	if url == "" {
		return
	}
	ctx := context.Background()
	pool, err := store.Open(ctx, url)
	if err != nil { t.Fatal(err) }
	defer pool.Close()
	if err := store.Migrate(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil { t.Fatal(err) }
	if os.Getenv("SCRATCH_GEN") != "" {
		s := NewSealer(pool, slog.Default(), 50*time.Millisecond)
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { s.Run(sctx); close(done) }()
		res, err := Generate(ctx, pool, GenerateOptions{Count: 1000000, Writers: 16, Batch: 50})
		t.Logf("gen %+v %v", res, err)
		cancel(); <-done
		st := time.Now()
		n, err := s.Flush(ctx)
		t.Logf("sealed rest %d in %v %v", n, time.Since(st), err)
	}
	if os.Getenv("SCRATCH_APPEND") != "" {
		s := NewSealer(pool, slog.Default(), 100*time.Millisecond)
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { if os.Getenv("NOSEAL") == "" { s.Run(sctx) }; close(done) }()
		res, err := Generate(ctx, pool, GenerateOptions{Duration: 10 * time.Second, Writers: 16, Batch: 1, ExplicitTx: os.Getenv("EXPLICIT") != ""})
		t.Logf("append %+v %v: %.0f/s", res, err, float64(res.Events)/res.Took.Seconds())
		cancel(); <-done
		st := time.Now()
		n, err := s.Flush(ctx)
		t.Logf("sealed rest %d in %v %v", n, time.Since(st), err)
	}
	if os.Getenv("SCRATCH_FLUSH") != "" {
		st := time.Now()
		n, err := NewSealer(pool, nil, 0).Flush(ctx)
		t.Logf("flush %d in %v %v", n, time.Since(st), err)
	}
	st := time.Now()
	rep, err := Verify(ctx, pool)
	el := time.Since(st)
	t.Logf("verify %+v %v in %v: %.0f/s", rep, err, el, float64(rep.Checked)/el.Seconds())
}
