package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Options configure an Engine.
type Options struct {
	// Dir is the data directory: ram.json and one of org.json, org.yaml or
	// org.yml; with several Alibaba Cloud accounts also accounts.json and
	// ram/<account_id>.json (policies/README.md). "" serves the embedded
	// example data (policies/examples).
	Dir string
	// PolicyDir, when set, is the organisation's own Rego (every .rego file
	// but the _test.rego ones, RDSGATE_POLICY_DIR): loaded beside the
	// shipped modules, part of the revision, watched like Dir. Its rules in
	// package rdsgate.custom (deny, require, note) join every decision; a
	// file with the path of a shipped module (ram/ram.rego) replaces it.
	// ram/system/policies.json is read from it when present. Replaced
	// modules must keep rdsgate.ram's applies, condition_problems and
	// lookup, which the engine calls itself (see docs/POLICY.md).
	PolicyDir string
	// AccountID, when set, is the Alibaba Cloud account id in the resource
	// ARNs (acs:rds:{region}:{account}:dbinstance/{id}) of requests that
	// name no account, in place of ram.json's account_id
	// (RDSGATE_ACCOUNT_ID). With accounts.json it must be one of its
	// accounts, and is the default account (DefaultAccountID).
	AccountID string
	// Logger receives reload messages; nil discards them.
	Logger *slog.Logger
	// DecisionLog, when set, receives every decision as a line of OPA's
	// decision-log format (RDSGATE_DECISION_LOG), besides the audit event
	// the caller records.
	DecisionLog io.Writer
	// OnReload is called after every reload attempt: with the new serving
	// revision and nil (the revision is unchanged when the files are), or
	// with the refused revision ("" when the files could not be read) and
	// the reason, while the old revision keeps serving.
	OnReload func(revision string, err error)
}

// Engine decides requests and votes with one prepared revision of the
// policies and data at a time. It is safe for concurrent use.
type Engine struct {
	opts     Options
	log      *slog.Logger
	cur      atomic.Pointer[revision]
	reloadMu sync.Mutex // one reload at a time
	now      func() time.Time
	// watching, when set, is called once Watch listens for changes (tests).
	watching func()
	// decisions is Options.DecisionLog, nil when unset.
	decisions *decisionLog
}

// New loads, compiles and prepares the policies and data; it fails when they
// do not load.
func New(ctx context.Context, opts Options) (*Engine, error) {
	e := &Engine{opts: opts, log: opts.Logger, now: time.Now}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if opts.DecisionLog != nil {
		e.decisions = &decisionLog{w: opts.DecisionLog, log: e.log}
	}
	s, err := e.sources()
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	rev, err := buildRevision(ctx, s, s.revisionID())
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	e.cur.Store(rev)
	e.log.InfoContext(ctx, "policy revision loaded", slog.String("revision", rev.id), slog.Int("users", len(rev.users)))
	return e, nil
}

// Revision returns the serving revision: a SHA-256 of the Rego modules and
// the data files.
func (e *Engine) Revision() string { return e.cur.Load().id }

// AccountID returns the Alibaba Cloud account id of the resource ARNs of a
// request that names no account: DefaultAccountID. Without accounts.json
// that is Options.AccountID, or ram.json's account_id.
func (e *Engine) AccountID() string { return e.DefaultAccountID() }

// Users returns the names of the users in the default account's RAM data
// (ram.json, or ram/<id>.json), sorted; nil when there is no default
// account.
func (e *Engine) Users() []string { return slices.Clone(e.cur.Load().users) }

// UserGroups returns the groups of RAM user subject in the default account's
// RAM data, nil for an unknown user.
func (e *Engine) UserGroups(subject string) []string {
	return slices.Clone(e.cur.Load().userGroups[subject])
}

// Data returns the compiled data document of the serving revision,
// {"ram": ..., "org": ...}, as the policies read it under data, with every
// user's statements (which the engine itself keeps in an index, see
// lookup.go). It is for inspection and for serving the same data elsewhere,
// such as an OPA server.
func (e *Engine) Data() (map[string]any, error) {
	v, err := ast.InterfaceToValue(e.cur.Load().data())
	if err != nil {
		return nil, fmt.Errorf("policy data: %w", err)
	}
	j, err := ast.JSON(v)
	if err != nil {
		return nil, fmt.Errorf("policy data: %w", err)
	}
	m, _ := j.(map[string]any)
	return m, nil
}

// Modules returns the Rego modules of the serving revision, by path.
func (e *Engine) Modules() map[string][]byte { return maps.Clone(e.cur.Load().src.modules) }

// Decide decides a release request. It records nothing: the caller audits
// the decision (see Decision.LogEntry). A zero in.Context.CurrentTime is the
// current time.
func (e *Engine) Decide(ctx context.Context, in Input) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{}, fmt.Errorf("decide: %w", err)
	}
	rev := e.cur.Load()
	now := e.now().UTC()
	if in.Context.CurrentTime.IsZero() {
		in.Context.CurrentTime = now
	}
	cancel, stop := cancelWith(ctx)
	defer stop()
	rs, err := rev.decide.Eval(ctx,
		rego.EvalParsedInput(decideInput(in)),
		rego.EvalInterQueryBuiltinValueCache(rev.cache),
		rego.EvalExternalCancel(cancel),
		rego.EvalMetrics(noMetrics),
		rego.EvalGenerateJSON(keepAST),
	)
	if err != nil {
		return Decision{}, fmt.Errorf("decide: %w", err)
	}
	d, err := decisionOf(rs)
	if err != nil {
		return Decision{}, fmt.Errorf("decide: %w", err)
	}
	d.Revision = rev.id
	d.DecisionID = uuid.NewString()
	d.Path = DecidePath
	d.Timestamp = now
	if e.decisions != nil {
		e.decisions.write(d.LogEntry(in))
	}
	return d, nil
}

// MayApprove decides whether in.Approver may vote on a request, and which
// open requirement the vote counts toward.
func (e *Engine) MayApprove(ctx context.Context, in ApproveInput) (ApproveDecision, error) {
	if err := ctx.Err(); err != nil {
		return ApproveDecision{}, fmt.Errorf("may approve: %w", err)
	}
	rev := e.cur.Load()
	now := e.now().UTC()
	cancel, stop := cancelWith(ctx)
	defer stop()
	rs, err := rev.approve.Eval(ctx,
		rego.EvalParsedInput(approveInput(in)),
		rego.EvalInterQueryBuiltinValueCache(rev.cache),
		rego.EvalExternalCancel(cancel),
		rego.EvalMetrics(noMetrics),
	)
	if err != nil {
		return ApproveDecision{}, fmt.Errorf("may approve: %w", err)
	}
	out, err := singleObject(rs)
	if err != nil {
		return ApproveDecision{}, fmt.Errorf("may approve: %w", err)
	}
	d := ApproveDecision{
		Allow:      out["allow"] == true,
		Reasons:    stringSlice(out["reasons"]),
		Group:      str(out["group"]),
		Revision:   rev.id,
		DecisionID: uuid.NewString(),
		Path:       ApprovePath,
		Timestamp:  now,
	}
	if e.decisions != nil {
		e.decisions.write(d.LogEntry(in))
	}
	return d, nil
}

// Reload reads, compiles and prepares the files again and swaps the new
// revision in atomically. When they fail to load, the old revision keeps
// serving and Reload returns the reason; either way OnReload hears of it.
func (e *Engine) Reload(ctx context.Context) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	old := e.cur.Load()
	id, err := e.reload(ctx, old)
	if err != nil {
		e.log.ErrorContext(ctx, "policy reload refused; the previous revision keeps serving",
			slog.String("serving", old.id), slog.String("refused", id), slog.Any("error", err))
		if e.opts.OnReload != nil {
			e.opts.OnReload(id, err)
		}
		return fmt.Errorf("reload policy: %w", err)
	}
	if id == old.id {
		e.log.InfoContext(ctx, "policy reloaded; revision unchanged", slog.String("revision", id))
	} else {
		e.log.InfoContext(ctx, "policy revision loaded", slog.String("revision", id), slog.String("previous", old.id))
	}
	if e.opts.OnReload != nil {
		e.opts.OnReload(id, nil)
	}
	return nil
}

// sources reads the modules and data that e's options name.
func (e *Engine) sources() (sources, error) {
	s, err := readSources(e.opts.PolicyDir, e.opts.Dir)
	s.accountID = e.opts.AccountID
	return s, err
}

func (e *Engine) reload(ctx context.Context, old *revision) (string, error) {
	s, err := e.sources()
	if err != nil {
		return "", err
	}
	id := s.revisionID()
	if id == old.id {
		return id, nil
	}
	rev, err := buildRevision(ctx, s, id)
	if err != nil {
		return id, err
	}
	e.cur.Store(rev)
	return id, nil
}

// The input document's fields, interned once.
var (
	keyGroup           = ast.InternedTerm("group")
	keyCount           = ast.InternedTerm("count")
	keyPrincipal       = ast.InternedTerm("principal")
	keyRequest         = ast.InternedTerm("request")
	keyRegionID        = ast.InternedTerm("region_id")
	keyDBInstanceID    = ast.InternedTerm("db_instance_id")
	keyAccountID       = ast.InternedTerm("account_id")
	keyJustification   = ast.InternedTerm("justification")
	keyTicket          = ast.InternedTerm("ticket")
	keyBreakGlass      = ast.InternedTerm("break_glass")
	keyContext         = ast.InternedTerm("context")
	keySourceIP        = ast.InternedTerm("source_ip")
	keyCurrentTime     = ast.InternedTerm("current_time")
	keySecureTransport = ast.InternedTerm("secure_transport")
	keyMFAPresent      = ast.InternedTerm("mfa_present")
	keyPending         = ast.InternedTerm("pending_requests")
	keySubject         = ast.InternedTerm("subject")
)

// The decision's fields.
var (
	keyAllow                = ast.InternedTerm("allow")
	keyRAM                  = ast.InternedTerm("ram")
	keyReasons              = ast.InternedTerm("reasons")
	keyRequiredApprovals    = ast.InternedTerm("required_approvals")
	keyEnvironment          = ast.InternedTerm("environment")
	keyNotes                = ast.InternedTerm("notes")
	keyApproverRequirements = ast.InternedTerm("approver_requirements")
	keyEffect               = ast.InternedTerm("effect")
	keyPolicy               = ast.InternedTerm("policy")
	keyStatement            = ast.InternedTerm("statement")
	keyUnsupported          = ast.InternedTerm("unsupported")
)

// decideInput builds the input document directly as an AST value, which
// spares OPA a JSON round trip per decision.
func decideInput(in Input) ast.Value {
	ctxItems := [][2]*ast.Term{
		ast.Item(keyCurrentTime, ast.StringTerm(in.Context.CurrentTime.Format(time.RFC3339Nano))),
		ast.Item(keySecureTransport, ast.InternedTerm(in.Context.SecureTransport)),
		ast.Item(keyMFAPresent, ast.InternedTerm(in.Context.MFAPresent)),
	}
	if in.Context.SourceIP != "" {
		ctxItems = append(ctxItems, ast.Item(keySourceIP, ast.StringTerm(in.Context.SourceIP)))
	}
	r := in.Request
	req := [][2]*ast.Term{
		ast.Item(keyRegionID, ast.StringTerm(r.RegionID)),
		ast.Item(keyDBInstanceID, ast.StringTerm(r.DBInstanceID)),
		ast.Item(ast.InternedTerm("connection_string"), ast.StringTerm(r.ConnectionString)),
		ast.Item(ast.InternedTerm("network_type"), ast.StringTerm(r.NetworkType)),
		ast.Item(keyJustification, ast.StringTerm(r.Justification)),
		ast.Item(keyTicket, ast.StringTerm(r.Ticket)),
		ast.Item(keyBreakGlass, ast.InternedTerm(r.BreakGlass)),
	}
	// As in the JSON form of Input (omitempty): absent when empty.
	if r.AccountID != "" {
		req = append(req, ast.Item(keyAccountID, ast.StringTerm(r.AccountID)))
	}
	return ast.NewObject(
		ast.Item(keyPrincipal, principalTerm(in.Principal)),
		ast.Item(keyRequest, ast.ObjectTerm(req...)),
		ast.Item(keyContext, ast.ObjectTerm(ctxItems...)),
		ast.Item(keyPending, ast.InternedTerm(in.PendingRequests)),
	)
}

func approveInput(in ApproveInput) ast.Value {
	reqs := make([]*ast.Term, len(in.Requirements))
	for i, r := range in.Requirements {
		reqs[i] = ast.ObjectTerm(
			ast.Item(keyGroup, ast.StringTerm(r.Group)),
			ast.Item(keyCount, ast.InternedTerm(r.Count)),
		)
	}
	votes := make([]*ast.Term, len(in.Votes))
	for i, v := range in.Votes {
		votes[i] = ast.ObjectTerm(
			ast.Item(ast.InternedTerm("approver"), ast.StringTerm(v.Approver)),
			ast.Item(keyGroup, ast.StringTerm(v.Group)),
			ast.Item(ast.InternedTerm("decision"), ast.StringTerm(v.Decision)),
		)
	}
	items := [][2]*ast.Term{
		ast.Item(ast.InternedTerm("approver"), principalTerm(in.Approver)),
		ast.Item(ast.InternedTerm("requester"), ast.StringTerm(in.Requester)),
		ast.Item(ast.InternedTerm("approver_requirements"), ast.ArrayTerm(reqs...)),
		ast.Item(ast.InternedTerm("votes"), ast.ArrayTerm(votes...)),
		ast.Item(ast.InternedTerm("environment"), ast.StringTerm(in.Environment)),
	}
	if in.AccountID != "" {
		items = append(items, ast.Item(keyAccountID, ast.StringTerm(in.AccountID)))
	}
	return ast.NewObject(items...)
}

func principalTerm(p Principal) *ast.Term {
	groups := make([]*ast.Term, len(p.Groups))
	for i, g := range p.Groups {
		groups[i] = ast.StringTerm(g)
	}
	return ast.ObjectTerm(
		ast.Item(keySubject, ast.StringTerm(p.Subject)),
		ast.Item(ast.InternedTerm("groups"), ast.ArrayTerm(groups...)),
	)
}

// neverCancelled stands in for OPA's per-evaluation cancellation goroutine
// when ctx cannot be cancelled: starting and waking that goroutine costs more
// than a whole decision on a busy machine.
var neverCancelled = topdown.NewCancel()

// cancelWith returns the cancellation for an evaluation under ctx, and the
// function to call when the evaluation is over: nothing to watch for an
// uncancellable context, otherwise a Cancel that fires when ctx is done.
func cancelWith(ctx context.Context) (topdown.Cancel, func() bool) {
	if ctx.Done() == nil {
		return neverCancelled, func() bool { return false }
	}
	c := topdown.NewCancel()
	return c, context.AfterFunc(ctx, c.Cancel)
}

var errNoResult = errors.New("the policy produced no decision")

// noMetrics spares every evaluation the metrics OPA would otherwise create
// and update (a map and a lock per evaluation, a counter per glob.match).
var noMetrics = metrics.NoOp()

// keepAST hands the decision back as the AST value the evaluation produced;
// decisionOf reads it without the JSON-like intermediate OPA would build.
func keepAST(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }

// decisionOf reads the release decision object.
func decisionOf(rs rego.ResultSet) (Decision, error) {
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return Decision{}, errNoResult
	}
	t, _ := rs[0].Expressions[0].Value.(*ast.Term)
	if t == nil {
		return Decision{}, errNoResult
	}
	obj, ok := t.Value.(ast.Object)
	if !ok {
		return Decision{}, fmt.Errorf("the policy produced %v, not an object", ast.ValueName(t.Value))
	}
	ram, _ := field(obj, keyRAM).(ast.Object)
	d := Decision{
		Allow:             field(obj, keyAllow) == ast.Boolean(true),
		Reasons:           astStrings(field(obj, keyReasons)),
		RequiredApprovals: astInt(field(obj, keyRequiredApprovals)),
		Environment:       astString(field(obj, keyEnvironment)),
		Notes:             astStrings(field(obj, keyNotes)),
	}
	if reqs, ok := field(obj, keyApproverRequirements).(*ast.Array); ok {
		d.ApproverRequirements = make([]Requirement, 0, reqs.Len())
		for i := range reqs.Len() {
			r, _ := reqs.Elem(i).Value.(ast.Object)
			d.ApproverRequirements = append(d.ApproverRequirements, Requirement{
				Group: astString(field(r, keyGroup)),
				Count: astInt(field(r, keyCount)),
			})
		}
	} else {
		d.ApproverRequirements = []Requirement{}
	}
	if ram != nil {
		d.RAM = RAMResult{
			Effect:      astString(field(ram, keyEffect)),
			Policy:      astString(field(ram, keyPolicy)),
			Statement:   astInt(field(ram, keyStatement)),
			Unsupported: astStrings(field(ram, keyUnsupported)),
		}
	}
	return d, nil
}

// field returns obj[key], nil when obj is nil or lacks it.
func field(obj ast.Object, key *ast.Term) ast.Value {
	if obj == nil {
		return nil
	}
	if v := obj.Get(key); v != nil {
		return v.Value
	}
	return nil
}

func astString(v ast.Value) string {
	s, _ := v.(ast.String)
	return string(s)
}

func astInt(v ast.Value) int {
	n, ok := v.(ast.Number)
	if !ok {
		return 0
	}
	i, ok := n.Int()
	if !ok {
		f, _ := n.Float64()
		return int(f)
	}
	return i
}

// astStrings reads an array of strings, or a set of them in sorted order (as
// OPA renders a set in JSON); nil when empty.
func astStrings(v ast.Value) []string {
	var arr *ast.Array
	switch v := v.(type) {
	case *ast.Array:
		arr = v
	case ast.Set:
		if v.Len() == 0 {
			return nil
		}
		arr = v.Sorted()
	}
	if arr == nil || arr.Len() == 0 {
		return nil
	}
	out := make([]string, arr.Len())
	for i := range out {
		out[i] = astString(arr.Elem(i).Value)
	}
	return out
}

func singleObject(rs rego.ResultSet) (map[string]any, error) {
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil, errNoResult
	}
	out, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the policy produced %T, not an object", rs[0].Expressions[0].Value)
	}
	return out, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func stringSlice(v any) []string {
	items, _ := v.([]any)
	if len(items) == 0 {
		return nil
	}
	out := make([]string, 0, len(items))
	for _, item := range items {
		out = append(out, str(item))
	}
	return out
}
