package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river"

	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

// Register adds the delivery worker to workers; svc records every attempt
// (RecordDelivery) and answers whether a reminder's request is still
// pending.
func (n *Notifier) Register(workers *river.Workers, svc *lifecycle.Service) error {
	if err := river.AddWorkerSafely(workers, &worker{n: n, svc: svc}); err != nil {
		return fmt.Errorf("register notification worker: %w", err)
	}
	return nil
}

// Queues is the queue the delivery worker works, for river.Config.Queues.
func (n *Notifier) Queues() map[string]river.QueueConfig {
	return map[string]river.QueueConfig{lifecycle.NotifyQueue: {MaxWorkers: n.cfg.Workers}}
}

// worker delivers one NotifyJob to its channel. Each job is one channel,
// so a channel that failed is retried alone; the job's own backoff
// (NextRetry) lets a receiver that is down for minutes get everything once
// it is back.
type worker struct {
	river.WorkerDefaults[lifecycle.NotifyJob]
	n   *Notifier
	svc *lifecycle.Service
}

func (w *worker) Work(ctx context.Context, job *river.Job[lifecycle.NotifyJob]) error {
	a := job.Args
	if a.Trace != "" {
		ctx = lifecycle.WithTrace(ctx, a.Trace)
	}
	log := w.n.log.With(slog.String("channel", a.Channel), slog.String("event", a.Notice.Event),
		slog.String("request_id", a.Notice.RequestID.String()), slog.String("delivery_id", a.DeliveryID.String()),
		slog.Int("attempt", job.Attempt))
	if a.Notice.Event == lifecycle.EventExpiring {
		r, err := w.svc.Get(ctx, a.Notice.RequestID)
		if err != nil {
			return fmt.Errorf("reminder of request %s: %w", a.Notice.RequestID, err)
		}
		if r.Status != request.StatusPending {
			log.DebugContext(ctx, "reminder not sent: the request is no longer pending", slog.String("status", string(r.Status)))
			return nil
		}
	}
	d := lifecycle.Delivery{Job: a, Attempt: job.Attempt}
	s, err := w.n.channel(a.Channel)
	if err == nil {
		d.HTTPStatus, d.Err = s.send(ctx, a)
	} else {
		d.Err, d.Final = err, true
	}
	if d.Err != nil && job.Attempt >= job.MaxAttempts {
		d.Final = true
	}
	if rerr := w.svc.RecordDelivery(context.WithoutCancel(ctx), d); rerr != nil {
		// Not recorded: the attempt is made again, with the same delivery
		// id, so that no delivery goes unrecorded.
		log.ErrorContext(ctx, "record notification delivery", slog.Any("err", rerr), slog.Bool("sent", d.Err == nil))
		return errors.Join(d.Err, rerr)
	}
	switch {
	case err != nil:
		log.ErrorContext(ctx, "notification not sent: channel not configured", slog.Any("err", err))
		return river.JobCancel(err)
	case d.Err != nil:
		log.WarnContext(ctx, "notification failed", slog.Int("http_status", d.HTTPStatus), slog.Any("err", d.Err),
			slog.Bool("final", d.Final))
		return d.Err
	}
	log.InfoContext(ctx, "notification sent", slog.Int("http_status", d.HTTPStatus))
	return nil
}

// NextRetry is capped exponential backoff with jitter: RetryMin doubling
// per attempt up to RetryMax (1 s … 5 min by default: a receiver down for
// a minute has everything within about two minutes of its return).
func (w *worker) NextRetry(job *river.Job[lifecycle.NotifyJob]) time.Time {
	return time.Now().Add(backoff(job.Attempt, w.n.cfg.RetryMin, w.n.cfg.RetryMax))
}

// Timeout bounds one attempt: the HTTP (or SMTP) timeout and a margin for
// recording it.
func (w *worker) Timeout(*river.Job[lifecycle.NotifyJob]) time.Duration {
	return w.n.cfg.Timeout + 15*time.Second
}

// backoff is the wait after the attempt-th failure: base·2^(attempt-1),
// at most limit, minus up to a tenth at random so that the deliveries a
// receiver's outage held back do not all return at once.
func backoff(attempt int, base, limit time.Duration) time.Duration {
	d := limit
	if attempt < 1 {
		attempt = 1
	}
	if attempt <= 30 && base<<(attempt-1) > 0 && base<<(attempt-1) < limit {
		d = base << (attempt - 1)
	}
	return d - time.Duration(rand.Int64N(int64(d/10)+1))
}
