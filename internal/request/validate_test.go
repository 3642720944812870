package request

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestValidateReportsEveryField: a form with several mistakes learns of
// all of them at once, each field once (its first problem), in the form's
// order; the error still is ErrInvalid and its first *ValidationError is
// what errors.As finds.
func TestValidateReportsEveryField(t *testing.T) {
	t.Parallel()
	s := Spec{RegionID: "Hangzhou", DBInstanceID: "", ConnectionString: "localhost", NetworkType: "0",
		Justification: "ok\x00", Ticket: "OPS-1"}
	err := s.Validate()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	var first *ValidationError
	if !errors.As(err, &first) || first.Field != "region_id" {
		t.Fatalf("errors.As found %v, want the region_id error", first)
	}
	var got []string
	for _, ve := range Fields(err) {
		got = append(got, ve.Field+": "+ve.Message)
	}
	want := []string{
		"region_id: must be an Alibaba Cloud region id such as cn-hangzhou",
		"db_instance_id: is required",
		"connection_string: must be a host name such as rm-xxxx.mysql.rds.aliyuncs.com",
		"justification: must not contain NUL characters",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("fields (-want +got):\n%s", d)
	}
	if err.Error() != "region_id: must be an Alibaba Cloud region id such as cn-hangzhou; db_instance_id: is required; "+
		"connection_string: must be a host name such as rm-xxxx.mysql.rds.aliyuncs.com; justification: must not contain NUL characters" {
		t.Errorf("Error() = %q", err.Error())
	}
	if Fields(Invalid("limit", "too big"))[0].Field != "limit" || Fields(ErrConflict) != nil {
		t.Error("Fields of a single *ValidationError or of another error")
	}
}

// TestAlreadyVotedIsAConflict: the second-vote error is told apart from
// other conflicts and reads as one.
func TestAlreadyVotedIsAConflict(t *testing.T) {
	t.Parallel()
	r := &Request{Requester: "alice", Status: StatusPending, RequiredApprovals: 2}
	r.PayloadHash = PayloadHash(r.ID, r.Requester, r.Spec)
	r.Votes = []Vote{{Approver: "bob", Decision: Approve, PayloadHash: r.PayloadHash}}
	_, err := r.Cast(Vote{Approver: "bob", Decision: Approve, PayloadHash: r.PayloadHash})
	if !errors.Is(err, ErrAlreadyVoted) || !errors.Is(err, ErrConflict) || err.Error() != "bob has already voted on this request: conflict" {
		t.Errorf("second vote: %v", err)
	}
	_, err = r.Cast(Vote{Approver: "carol", Decision: Approve})
	if !errors.Is(err, ErrConflict) || errors.Is(err, ErrAlreadyVoted) {
		t.Errorf("stale payload: %v", err)
	}
}
