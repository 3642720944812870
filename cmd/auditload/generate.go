package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rdsgate/rdsgate/internal/audit"
)

// GenerateOptions configure Generate.
type GenerateOptions struct {
	// Count is how many events to append. With Duration set, generation
	// also stops when it elapses; one of the two is required.
	Count    int64
	Duration time.Duration
	// Writers append concurrently (default 16).
	Writers int
	// Batch is how many events each transaction appends (default 50); 1
	// gives one single-event transaction per event, the shape of a busy
	// service.
	Batch int
	// Span spreads occurred_at evenly over [now-Span, now] in Count mode
	// (default 90 days); otherwise events occur now.
	Span time.Duration
	// Seed makes the content reproducible.
	Seed uint64
	// ExplicitTx wraps each audit.Append in BEGIN … COMMIT (three round
	// trips) instead of sending it as one statement, which PostgreSQL runs
	// as one implicit transaction. Either way each batch is atomic.
	ExplicitTx bool
}

// GenerateResult says what Generate appended.
type GenerateResult struct {
	Events       int64         `json:"events"`
	Transactions int64         `json:"transactions"`
	Took         time.Duration `json:"took"`
}

// Generate appends realistic events of every kind — request lifecycles from
// the policy decision through the votes to the Alibaba call and its outcome
// (RequestIds, error codes), plus tokens and policy reloads — through
// audit.Append in transactions, exactly as the service does. It does not
// seal; run an audit.Sealer beside it (run does). It exists for benchmarks
// and demonstrations.
func Generate(ctx context.Context, pool *pgxpool.Pool, o GenerateOptions) (GenerateResult, error) {
	if o.Count <= 0 && o.Duration <= 0 {
		return GenerateResult{}, errors.New("generate audit events: a count or a duration is required")
	}
	if o.Writers <= 0 {
		o.Writers = 16
	}
	if o.Batch <= 0 {
		o.Batch = 50
	}
	if o.Span <= 0 {
		o.Span = 90 * 24 * time.Hour
	}
	start := time.Now()
	var deadline time.Time
	if o.Duration > 0 {
		deadline = start.Add(o.Duration)
	}
	var (
		reserved, appended, txs atomic.Int64
		wg                      sync.WaitGroup
		errOnce                 sync.Once
		firstErr                error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := 0; w < o.Writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			g := newLifecycles(o.Seed, uint64(w))
			recs := make([]audit.Record, 0, o.Batch)
			for ctx.Err() == nil {
				if !deadline.IsZero() && time.Now().After(deadline) {
					return
				}
				n := int64(o.Batch)
				first := reserved.Add(n) - n
				if o.Count > 0 && first >= o.Count {
					return
				}
				if o.Count > 0 && first+n > o.Count {
					n = o.Count - first
				}
				recs = recs[:0]
				for i := int64(0); i < n; i++ {
					r := g.next()
					if o.Count > 0 && o.Duration <= 0 {
						r.At = start.Add(-o.Span + time.Duration(float64(o.Span)*float64(first+i)/float64(o.Count)))
					}
					recs = append(recs, r)
				}
				var err error
				if o.ExplicitTx {
					err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return audit.Append(ctx, tx, recs...) })
				} else {
					err = audit.Append(ctx, pool, recs...)
				}
				if err != nil {
					if ctx.Err() == nil {
						errOnce.Do(func() { firstErr = err; cancel() })
					}
					return
				}
				appended.Add(n)
				txs.Add(1)
			}
		}(w)
	}
	wg.Wait()
	res := GenerateResult{Events: appended.Load(), Transactions: txs.Load(), Took: time.Since(start)}
	if firstErr != nil {
		return res, fmt.Errorf("generate audit events: %w", firstErr)
	}
	return res, nil
}

// lifecycles produces a stream of events that look like rdsgate's own.
type lifecycles struct {
	rnd     *rand.Rand
	pending []audit.Record
}

func newLifecycles(seed, stream uint64) *lifecycles {
	return &lifecycles{rnd: rand.New(rand.NewPCG(seed, stream))}
}

var (
	genErrorCodes = []string{"IncorrectDBInstanceState", "InvalidDBInstanceId.NotFound", "Throttling.User",
		"ServiceUnavailable", "OperationDenied.DBInstanceStatus", "InvalidConnectionString.NotFound"}
	genRegions = []string{"cn-hangzhou", "cn-shanghai", "cn-beijing", "ap-southeast-1", "eu-central-1"}
)

func (g *lifecycles) next() audit.Record {
	if len(g.pending) == 0 {
		g.fill()
	}
	r := g.pending[0]
	g.pending = g.pending[1:]
	return r
}

// requestID is a UUIDv7 at the current generation time, as the service
// makes them (time-ordered).
func (g *lifecycles) requestID() uuid.UUID {
	u := g.uuid()
	ms := uint64(time.Now().UnixMilli())
	for i := 0; i < 6; i++ {
		u[i] = byte(ms >> (40 - 8*i))
	}
	u[6] = (u[6] & 0x0f) | 0x70
	return u
}

// uuid is a random (version 4) UUID.
func (g *lifecycles) uuid() uuid.UUID {
	var u uuid.UUID
	for i := 0; i < 16; i += 8 {
		v := g.rnd.Uint64()
		for j := 0; j < 8; j++ {
			u[i+j] = byte(v >> (8 * j))
		}
	}
	u[6] = (u[6] & 0x0f) | 0x40
	u[8] = (u[8] & 0x3f) | 0x80
	return u
}

// fill queues one lifecycle (or a token or policy event).
func (g *lifecycles) fill() {
	r := g.rnd
	switch x := r.IntN(100); {
	case x == 0:
		g.pending = append(g.pending, audit.Record{Kind: audit.KindTokenCreated, Actor: "cli",
			Payload: map[string]any{"subject": fmt.Sprintf("user%03d", r.IntN(300)), "groups": []string{"developers"}}})
		return
	case x == 1:
		if r.IntN(10) == 0 {
			g.pending = append(g.pending, audit.Record{Kind: audit.KindPolicyReloadFailed, Actor: "rdsgate", ErrorCode: "PolicyLoadFailed",
				Payload: map[string]any{"serving_revision": fmt.Sprintf("%016x", r.Uint64()), "error": "rego_parse_error: unexpected eof"}})
		} else {
			g.pending = append(g.pending, audit.Record{Kind: audit.KindPolicyReloaded, Actor: "rdsgate",
				Payload: map[string]any{"revision": fmt.Sprintf("%016x", r.Uint64())}})
		}
		return
	}
	id := g.requestID()
	requester := fmt.Sprintf("user%03d", r.IntN(300))
	inst := fmt.Sprintf("rm-bp1%011d", r.IntN(2000))
	spec := map[string]any{
		"region_id": genRegions[r.IntN(len(genRegions))], "db_instance_id": inst,
		"connection_string": inst + ".mysql.rds.aliyuncs.com", "network_type": "1",
		"justification": "Release the public endpoint after the incident review; INC-" + fmt.Sprint(10000+r.IntN(90000)),
		"ticket":        fmt.Sprintf("OPS-%d", 1000+r.IntN(9000)),
	}
	rec := func(kind, actor string, payload map[string]any) audit.Record {
		return audit.Record{Kind: kind, Actor: actor, RequestID: id, DBInstanceID: inst, Payload: payload}
	}
	decision := map[string]any{"allow": true, "required_approvals": 1 + r.IntN(2), "policy_revision": fmt.Sprintf("%016x", r.Uint64())}
	if r.IntN(10) == 0 {
		decision["allow"] = false
		decision["reasons"] = []string{"outside the change window", "requester is not in an allowed group"}
		g.pending = append(g.pending, rec(audit.KindPolicyDecided, requester, decision), rec(audit.KindRequestDenied, requester, spec))
		return
	}
	g.pending = append(g.pending, rec(audit.KindPolicyDecided, requester, decision), rec(audit.KindRequestCreated, requester, spec))
	approver := fmt.Sprintf("approver%02d", r.IntN(40))
	switch x := r.IntN(100); {
	case x < 5:
		g.pending = append(g.pending, rec(audit.KindRequestCancelled, requester, map[string]any{"reason": "no longer needed"}))
		return
	case x < 10:
		g.pending = append(g.pending, rec(audit.KindRequestExpired, "rdsgate", map[string]any{"ttl": "72h0m0s"}))
		return
	case x < 20:
		g.pending = append(g.pending,
			rec(audit.KindApprovalRejected, approver, map[string]any{"decision": "reject", "comment": "use the bastion instead", "group": "dba"}),
			rec(audit.KindRequestRejected, approver, map[string]any{"from": "pending", "to": "rejected"}))
		return
	}
	for i, n := 0, 1+r.IntN(2); i < n; i++ {
		g.pending = append(g.pending, rec(audit.KindApprovalGranted, fmt.Sprintf("approver%02d", (r.IntN(40)+i)%40),
			map[string]any{"decision": "approve", "comment": "ok, ticket checked", "group": "dba"}))
	}
	g.pending = append(g.pending,
		rec(audit.KindRequestApproved, approver, map[string]any{"from": "pending", "to": "approved"}),
		rec(audit.KindExecutionStarted, "rdsgate", map[string]any{"action": "ReleaseInstanceConnection", "attempt": 1}))
	outcome := rec(audit.KindExecutionSucceeded, "rdsgate", map[string]any{"action": "ReleaseInstanceConnection", "http_status": 200})
	outcome.AlibabaRequestID = strings36(g.uuid())
	if r.IntN(100) < 15 {
		code := genErrorCodes[r.IntN(len(genErrorCodes))]
		outcome.Kind, outcome.ErrorCode = audit.KindExecutionFailed, code
		outcome.Payload = map[string]any{"action": "ReleaseInstanceConnection", "http_status": 400, "code": code,
			"message": "The operation is not permitted due to the status of the instance."}
	}
	g.pending = append(g.pending, outcome)
}

// strings36 formats u the way Alibaba Cloud prints RequestIds.
func strings36(u uuid.UUID) string {
	s := []byte(u.String())
	for i, c := range s {
		if c >= 'a' && c <= 'f' {
			s[i] = c - 'a' + 'A'
		}
	}
	return string(s)
}
