package request

import (
	"fmt"
	"time"
)

// Decision of one vote.
const (
	Approve = "approve"
	Reject  = "reject"
)

// Vote is one approver's decision on a request, bound to the payload hash the
// approver saw.
type Vote struct {
	Approver    string    `json:"approver"`
	Decision    string    `json:"decision"`
	Group       string    `json:"group,omitempty"`
	Comment     string    `json:"comment,omitempty"`
	PayloadHash Hash      `json:"payload_hash"`
	CreatedAt   time.Time `json:"created_at"`
}

// MaxComment bounds a vote's comment.
const MaxComment = 2000

// Cast applies v to r under the quorum rules and returns the request's new
// status (still pending, approved or rejected). It does not modify r.
//
// The rules: only a pending request takes votes; the requester never votes
// on their own request; one vote per approver; the vote must cover the
// request's current payload hash; one rejection ends the request; the request
// is approved once RequiredApprovals distinct approvers have approved and
// every requirement has its count.
func (r *Request) Cast(v Vote) (Status, error) {
	if v.Decision != Approve && v.Decision != Reject {
		return "", Invalid("decision", `must be "approve" or "reject"`)
	}
	if len(v.Comment) > MaxComment {
		return "", Invalid("comment", "must be at most %d characters", MaxComment)
	}
	if r.Status != StatusPending {
		return "", fmt.Errorf("request is %s and takes no more votes: %w", r.Status, ErrConflict)
	}
	if v.Approver == r.Requester {
		return "", fmt.Errorf("%s may not vote on their own request: %w", v.Approver, ErrForbidden)
	}
	for _, old := range r.Votes {
		if old.Approver == v.Approver {
			return "", fmt.Errorf("%s has already voted on this request: %w", v.Approver, ErrAlreadyVoted)
		}
	}
	if v.PayloadHash != r.PayloadHash {
		return "", fmt.Errorf("vote covers payload %s but the request is %s: %w", v.PayloadHash, r.PayloadHash, ErrConflict)
	}
	if v.Decision == Reject {
		return StatusRejected, nil
	}
	if QuorumReached(r.RequiredApprovals, r.ApproverRequirements, append(r.Votes[:len(r.Votes):len(r.Votes)], v)) {
		return StatusApproved, nil
	}
	return StatusPending, nil
}

// QuorumReached reports whether votes hold required distinct approvals and
// satisfy every requirement. A vote counts toward the requirement of its
// Group only, so one person in two groups never fills two requirements.
func QuorumReached(required int, reqs []Requirement, votes []Vote) bool {
	approvers := map[string]bool{}
	perGroup := map[string]int{}
	for _, v := range votes {
		if v.Decision != Approve || approvers[v.Approver] {
			continue
		}
		approvers[v.Approver] = true
		perGroup[v.Group]++
	}
	if len(approvers) < required {
		return false
	}
	for _, rq := range reqs {
		if perGroup[rq.Group] < rq.Count {
			return false
		}
	}
	return true
}

// OpenRequirements returns the requirements that still miss approvals.
func OpenRequirements(reqs []Requirement, votes []Vote) []Requirement {
	perGroup := map[string]int{}
	for _, v := range votes {
		if v.Decision == Approve {
			perGroup[v.Group]++
		}
	}
	var open []Requirement
	for _, rq := range reqs {
		if missing := rq.Count - perGroup[rq.Group]; missing > 0 {
			open = append(open, Requirement{Group: rq.Group, Count: missing})
		}
	}
	return open
}
