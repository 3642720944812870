package executor

import (
	"context"
	"log/slog"

	"github.com/riverqueue/river"
)

// sweepArgs is the periodic job that runs Sweep on the leader.
type sweepArgs struct{}

// Kind implements river.JobArgs.
func (sweepArgs) Kind() string { return "rdsgate.execution_sweep" }

type sweepWorker struct {
	river.WorkerDefaults[sweepArgs]
	e *Executor
}

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[sweepArgs]) error {
	_, err := w.e.Sweep(ctx)
	return err
}

// Sweep re-enqueues requests that are approved or executing but have no
// live job (River discarded it after its own attempts ran out, or the
// request was approved while no executor ran), so that none stays there
// forever; after maxRequeues such re-enqueues it fails the request
// instead. It returns how many requests it acted on. The executor runs it
// periodically on River's leader.
func (e *Executor) Sweep(ctx context.Context) (int, error) {
	ids, err := e.requests.Orphans(ctx, e.cfg.RescueAfter)
	if err != nil {
		return 0, err
	}
	n := 0
	var acted []string
	for _, id := range ids {
		ok, err := e.requests.Requeue(ctx, id, maxRequeues)
		if err != nil {
			return n, err
		}
		if ok {
			n++
			acted = append(acted, id.String())
		}
	}
	if n > 0 {
		e.log.WarnContext(ctx, "requeued orphaned requests", slog.Int("count", n), slog.Any("request_ids", acted))
	}
	return n, nil
}
