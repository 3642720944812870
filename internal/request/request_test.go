package request

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestTransitions(t *testing.T) {
	t.Parallel()
	legal := map[[2]Status]bool{
		{StatusPending, StatusApproved}: true, {StatusPending, StatusRejected}: true,
		{StatusPending, StatusExpired}: true, {StatusPending, StatusCancelled}: true,
		{StatusApproved, StatusExecuting}: true, {StatusApproved, StatusFailed}: true,
		{StatusApproved, StatusCancelled}: true, {StatusExecuting, StatusCancelled}: true,
		{StatusExecuting, StatusSucceeded}: true, {StatusExecuting, StatusFailed}: true,
		{StatusExecuting, StatusApproved}: true,
	}
	// Every pair of states: exactly the listed ones are legal, every other
	// one is refused with ErrConflict.
	for _, from := range Statuses {
		for _, to := range Statuses {
			err := Transition(from, to)
			if legal[[2]Status{from, to}] {
				if err != nil {
					t.Errorf("%s → %s refused: %v", from, to, err)
				}
				continue
			}
			if !errors.Is(err, ErrConflict) {
				t.Errorf("%s → %s: err = %v, want ErrConflict", from, to, err)
			}
		}
	}
	for _, s := range []Status{StatusSucceeded, StatusFailed, StatusRejected, StatusExpired, StatusCancelled, StatusDenied} {
		if !s.Terminal() {
			t.Errorf("%s should be terminal", s)
		}
	}
	if StatusPending.Terminal() || Status("bogus").Valid() {
		t.Error("pending is not terminal; bogus is not a status")
	}
}

func validSpec() Spec {
	return Spec{RegionID: "cn-hangzhou", DBInstanceID: "rm-bp1abcdef0123", ConnectionString: "rm-bp1abcdef0123.mysql.rds.aliyuncs.com",
		NetworkType: "0", Justification: "decommissioning the public endpoint", Ticket: "OPS-1"}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		field string
		mod   func(*Spec)
	}{
		{"region_id", func(s *Spec) { s.RegionID = "" }},
		{"region_id", func(s *Spec) { s.RegionID = "Hangzhou" }},
		{"db_instance_id", func(s *Spec) { s.DBInstanceID = "" }},
		{"db_instance_id", func(s *Spec) { s.DBInstanceID = "i-bp1abcdef" }},
		{"db_instance_id", func(s *Spec) { s.DBInstanceID = "rm-BP1ABCDEF" }},
		{"db_instance_id", func(s *Spec) { s.DBInstanceID = "rm-bp1;drop" }},
		{"connection_string", func(s *Spec) { s.ConnectionString = "" }},
		{"connection_string", func(s *Spec) { s.ConnectionString = "http://x.example.com" }},
		{"connection_string", func(s *Spec) { s.ConnectionString = "localhost" }},
		{"connection_string", func(s *Spec) { s.ConnectionString = "a..b" }},
		{"network_type", func(s *Spec) { s.NetworkType = "VPC" }},
		{"network_type", func(s *Spec) { s.NetworkType = "" }},
		{"justification", func(s *Spec) { s.Justification = "   " }},
		{"justification", func(s *Spec) { s.Justification = strings.Repeat("x", MaxJustification+1) }},
		{"ticket", func(s *Spec) { s.Ticket = strings.Repeat("x", MaxTicket+1) }},
	}
	for _, tc := range cases {
		s := validSpec()
		tc.mod(&s)
		err := s.Normalize().Validate()
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field || !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: err = %v, want a validation error on %s", s, err, tc.field)
		}
	}
	for _, id := range []string{"rm-bp1abcd", "rr-uf6wjk5xxxx", "pgm-bp1stagexample", "pgr-2ze1234", "mr-abc123def", "rdsaiqmbqajqmbqa"} {
		s := validSpec()
		s.DBInstanceID = id
		if err := s.Validate(); err != nil {
			t.Errorf("%s refused: %v", id, err)
		}
	}
	if err := validSpec().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestPayloadHashBindsEveryField(t *testing.T) {
	t.Parallel()
	id := uuid.New()
	base := PayloadHash(id, "alice", validSpec())
	if base != PayloadHash(id, "alice", validSpec()) {
		t.Fatal("hash is not deterministic")
	}
	mods := []func(*Spec){
		func(s *Spec) { s.RegionID = "cn-beijing" }, func(s *Spec) { s.DBInstanceID = "rm-other000" },
		func(s *Spec) { s.ConnectionString = "other.example.com" }, func(s *Spec) { s.NetworkType = "1" },
		func(s *Spec) { s.Justification += "!" }, func(s *Spec) { s.Ticket = "OPS-2" },
	}
	for i, m := range mods {
		s := validSpec()
		m(&s)
		if PayloadHash(id, "alice", s) == base {
			t.Errorf("modification %d does not change the hash", i)
		}
	}
	if PayloadHash(id, "bob", validSpec()) == base || PayloadHash(uuid.New(), "alice", validSpec()) == base {
		t.Error("requester and id must be covered")
	}
}

func pending(required int, reqs ...Requirement) *Request {
	r := &Request{ID: uuid.New(), Requester: "alice", Spec: validSpec(), Status: StatusPending,
		RequiredApprovals: required, ApproverRequirements: reqs}
	r.PayloadHash = PayloadHash(r.ID, r.Requester, r.Spec)
	return r
}

func TestCast(t *testing.T) {
	t.Parallel()
	type step struct {
		approver, decision, group string
		want                      Status
		err                       error
	}
	dba, sec := Requirement{"dba", 1}, Requirement{"security", 1}
	cases := []struct {
		name     string
		required int
		reqs     []Requirement
		steps    []step
	}{
		{"one approval", 1, []Requirement{dba}, []step{{"bob", Approve, "dba", StatusApproved, nil}}},
		{"self approval refused", 1, nil, []step{{"alice", Approve, "dba", "", ErrForbidden}}},
		{"self rejection refused", 1, nil, []step{{"alice", Reject, "dba", "", ErrForbidden}}},
		{"double vote refused", 2, nil, []step{
			{"bob", Approve, "dba", StatusPending, nil}, {"bob", Approve, "dba", "", ErrConflict}}},
		{"rejection ends it", 2, nil, []step{
			{"bob", Approve, "dba", StatusPending, nil}, {"carol", Reject, "security", StatusRejected, nil}}},
		{"AND requirements", 2, []Requirement{dba, sec}, []step{
			{"bob", Approve, "dba", StatusPending, nil}, {"erin", Approve, "dba", StatusPending, nil},
			{"carol", Approve, "security", StatusApproved, nil}}},
		{"count beyond requirements", 3, []Requirement{dba}, []step{
			{"bob", Approve, "dba", StatusPending, nil}, {"carol", Approve, "security", StatusPending, nil},
			{"erin", Approve, "dba", StatusApproved, nil}}},
		{"bad decision", 1, nil, []step{{"bob", "maybe", "dba", "", ErrInvalid}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := pending(tc.required, tc.reqs...)
			for i, s := range tc.steps {
				v := Vote{Approver: s.approver, Decision: s.decision, Group: s.group, PayloadHash: r.PayloadHash}
				got, err := r.Cast(v)
				if tc := s.err; tc != nil {
					if !errors.Is(err, tc) {
						t.Fatalf("step %d: err = %v, want %v", i, err, tc)
					}
					continue
				}
				if err != nil || got != s.want {
					t.Fatalf("step %d: (%s, %v), want %s", i, got, err, s.want)
				}
				r.Votes = append(r.Votes, v)
				r.Status = got
			}
		})
	}
}

func TestCastRefusesOtherStatesAndStalePayload(t *testing.T) {
	t.Parallel()
	for _, st := range Statuses {
		if st == StatusPending {
			continue
		}
		r := pending(1)
		r.Status = st
		if _, err := r.Cast(Vote{Approver: "bob", Decision: Approve, PayloadHash: r.PayloadHash}); !errors.Is(err, ErrConflict) {
			t.Errorf("vote on %s: err = %v, want ErrConflict", st, err)
		}
	}
	r := pending(1)
	stale := PayloadHash(r.ID, r.Requester, Spec{RegionID: "cn-beijing"})
	if _, err := r.Cast(Vote{Approver: "bob", Decision: Approve, PayloadHash: stale}); !errors.Is(err, ErrConflict) {
		t.Errorf("stale payload: err = %v, want ErrConflict", err)
	}
}

func TestOpenRequirements(t *testing.T) {
	t.Parallel()
	reqs := []Requirement{{"dba", 2}, {"security", 1}}
	open := OpenRequirements(reqs, []Vote{{Approver: "bob", Decision: Approve, Group: "dba"}, {Approver: "x", Decision: Reject, Group: "security"}})
	if len(open) != 2 || open[0] != (Requirement{"dba", 1}) || open[1] != (Requirement{"security", 1}) {
		t.Fatalf("open = %v", open)
	}
}
