package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// DefaultShutdownTimeout bounds Close: Kubernetes kills a pod 30 s after
// asking it to stop (terminationGracePeriodSeconds' default), and the
// other 5 s are the process's exit and slack.
const DefaultShutdownTimeout = 25 * time.Second

// shutdownPlan holds the deadline of each phase of Close, as shares of the
// budget (with the default 25 s: 15, 20, 24 and 25 s after the start):
//
//   - drain, 60 %: the HTTP server stops accepting and lets the requests in
//     flight finish; side by side, the executor stops taking jobs and lets
//     the running ones finish (one RDS call takes 10 s at most by default).
//   - cancel, to 80 %: connections still open are closed, which cancels
//     their requests, and jobs still running are cancelled; a call cut
//     short records an unknown outcome, which the next run reconciles.
//   - seal, to 96 %: the last seal and signed checkpoint, so that what this
//     process recorded does not wait unsigned for the next start.
//   - end, 100 %: the background loops and the pools stop; whatever still
//     runs then is left behind and Close returns.
//
// A phase that finishes early leaves its time to the next ones.
type shutdownPlan struct {
	start, drain, cancel, seal, end time.Time
}

func newShutdownPlan(start time.Time, budget time.Duration) shutdownPlan {
	at := func(percent int64) time.Time { return start.Add(budget * time.Duration(percent) / 100) }
	return shutdownPlan{start: start, drain: at(60), cancel: at(80), seal: at(96), end: at(100)}
}

// Close stops the application within Config.ShutdownTimeout, in reverse
// order of its start (see shutdownPlan), and returns what had to be cut
// short. A second Close does nothing.
func (a *App) Close() error {
	var err error
	a.closeOnce.Do(func() {
		p := newShutdownPlan(time.Now(), a.shutdownTimeout)
		a.log.Info("shutting down", slog.Duration("within", a.shutdownTimeout))
		err = a.shutdown(p)
		a.log.Info("stopped", slog.Duration("took", time.Since(p.start).Round(time.Millisecond)), slog.Bool("clean", err == nil))
	})
	return err
}

// shutdown stops what Start started, whatever it reached, by the plan's
// deadlines.
func (a *App) shutdown(p shutdownPlan) error {
	var (
		mu   sync.Mutex
		errs []error
	)
	fail := func(err error) {
		a.log.Error("shutdown", slog.Any("err", err))
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	var running sync.WaitGroup
	if a.http != nil {
		running.Go(func() {
			ctx, done := context.WithDeadline(context.Background(), p.drain)
			defer done()
			if err := a.http.Shutdown(ctx); err != nil {
				a.http.Close()
				fail(fmt.Errorf("http requests still running after %s were cut off: %w", p.drain.Sub(p.start).Round(time.Millisecond), err))
			}
		})
	}
	if a.Executor != nil {
		running.Go(func() {
			ctx, done := context.WithDeadline(context.Background(), p.cancel)
			defer done()
			if err := a.Executor.Stop(ctx, time.Until(p.drain)); err != nil {
				fail(err)
			}
		})
	}
	running.Wait()
	if a.finalCheckpoint != nil {
		ctx, done := context.WithDeadline(context.Background(), p.seal)
		a.finalCheckpoint(ctx)
		done()
	}

	a.cancel()
	closers := a.closers
	a.closers = nil
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		a.wg.Wait()
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]() // a pool waits here for connections still in use
		}
	}()
	end := time.NewTimer(time.Until(p.end))
	defer end.Stop()
	select {
	case <-stopped:
	case <-end.C:
		fail(fmt.Errorf("background loops and database pools still stopping after %s: left behind", p.end.Sub(p.start).Round(time.Millisecond)))
	}
	return errors.Join(errs...)
}
