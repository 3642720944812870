package web

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/rdsgate/rdsgate/internal/audit"
	"github.com/rdsgate/rdsgate/internal/lifecycle"
	"github.com/rdsgate/rdsgate/internal/request"
)

// bulkView is what a bulk request's page shows beyond a single request's:
// the targets with their decisions and outcomes, and the progress.
type bulkView struct {
	Targets  []targetRow
	Progress request.Progress
	// Allowed and Denied count the targets by the policy's decision.
	Allowed, Denied int
	// Done is how many allowed targets ended (succeeded, failed or
	// cancelled): the progress bar's value of Progress.Total.
	Done int
	// Percent is Done of Total, rounded down.
	Percent int
	// Running: the release is under way (approved or executing).
	Running bool
	// ShowProgress: the release started (it may have ended since).
	ShowProgress bool
	// ETA is the estimate of the time left, in words ("" when none).
	ETA string
	// CanCancelRest: the viewer is the requester and targets are left to
	// withdraw.
	CanCancelRest bool
	// Environments are the allowed targets' environments, each once, in
	// the targets' order; Prod is true when one is production.
	Environments []string
	Prod         bool
}

// targetRow is one target of a bulk request as its table shows it.
type targetRow struct {
	request.BulkTarget
	// N is the target's number from 1, as people count.
	N    int
	Prod bool
	// RequestIDs and ErrorCodes are the Alibaba RequestIds and error codes
	// of its attempts, oldest first, each once.
	RequestIDs, ErrorCodes []string
}

// parentView links a bulk request's target request to the bulk request.
type parentView struct {
	ID uuid.UUID
	// N is the target's number (from 1) and Of the bulk request's targets;
	// zero when the bulk request could not be read.
	N, Of int
}

// newBulkView lays out d's targets and progress for the page; mine says
// whether the viewer filed the bulk request.
func (s *Server) newBulkView(c echo.Context, d *lifecycle.Detail, mine bool) *bulkView {
	b := &bulkView{Progress: d.Progress, Targets: make([]targetRow, len(d.Targets))}
	seenEnv := map[string]bool{}
	for i, t := range d.Targets {
		row := targetRow{BulkTarget: t, N: t.Index + 1, Prod: isProduction(t.Decision.Environment)}
		for _, a := range t.Attempts {
			if a.AlibabaRequestID != "" && !containsString(row.RequestIDs, a.AlibabaRequestID) {
				row.RequestIDs = append(row.RequestIDs, a.AlibabaRequestID)
			}
			if a.ErrorCode != "" && !containsString(row.ErrorCodes, a.ErrorCode) {
				row.ErrorCodes = append(row.ErrorCodes, a.ErrorCode)
			}
		}
		b.Targets[i] = row
		if !t.Decision.Allow {
			b.Denied++
			continue
		}
		b.Allowed++
		if env := t.Decision.Environment; env != "" && !seenEnv[env] {
			seenEnv[env] = true
			b.Environments = append(b.Environments, env)
			b.Prod = b.Prod || row.Prod
		}
	}
	p := d.Progress
	b.Done = p.Succeeded + p.Failed + p.Cancelled
	if p.Total > 0 {
		b.Percent = b.Done * 100 / p.Total
	}
	b.Running = d.Status == request.StatusApproved || d.Status == request.StatusExecuting
	if b.Running && p.Remaining > 0 {
		b.ETA = s.etaText(c, p.ETASeconds)
	}
	switch d.Status {
	case request.StatusApproved, request.StatusExecuting, request.StatusSucceeded, request.StatusFailed:
		b.ShowProgress = p.Total > 0
	case request.StatusCancelled:
		b.ShowProgress = p.Total > 0 && p.Succeeded+p.Failed > 0
	}
	b.CanCancelRest = mine && d.Status == request.StatusExecuting && p.Remaining > 0
	return b
}

// etaText is an estimate of the time left in words.
func (s *Server) etaText(c echo.Context, seconds float64) string {
	n := int(math.Ceil(seconds))
	switch {
	case n <= 1:
		return s.tr(c, "about 1 s left")
	case n < 120:
		return s.tr(c, "about %d s left", n)
	}
	return s.tr(c, "about %d min left", int(math.Ceil(seconds/60)))
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// bulkVersion adds to a bulk request's version what changes while it
// runs: how many targets ended in each way, and its targets' attempts and
// their outcomes.
func bulkVersion(d *lifecycle.Detail) string {
	attempts, finished := 0, 0
	for _, t := range d.Targets {
		attempts += len(t.Attempts)
		for _, a := range t.Attempts {
			if a.Outcome != "" {
				finished++
			}
		}
	}
	p := d.Progress
	return fmt.Sprintf(".t%d.%d.%d.%d.%d.%d", p.Succeeded, p.Failed, p.Cancelled, p.Remaining, attempts, finished)
}

// parentOf reads the bulk request that r releases a target of, for the
// link back; a failure to read it leaves the link without the numbers.
func (s *Server) parentOf(ctx context.Context, r *request.Request) *parentView {
	if r.ParentID == nil {
		return nil
	}
	p := &parentView{ID: *r.ParentID}
	d, err := s.d.Service.Detail(ctx, *r.ParentID)
	if err != nil || d.BulkDetail == nil {
		s.log.WarnContext(ctx, "read the bulk request of a target", "request", r.ID, "parent", *r.ParentID, "error", err)
		return p
	}
	p.Of = len(d.Targets)
	for _, t := range d.Targets {
		if t.RequestID == r.ID {
			p.N = t.Index + 1
		}
	}
	return p
}

// bulkSummary says where a bulk request stands and what happens next.
func (s *Server) bulkSummary(c echo.Context, d *lifecycle.Detail) summary {
	p := d.Progress
	n := d.TargetCount
	switch d.Status {
	case request.StatusDenied:
		return summary{s.tr(c, "The policy denied every target of this bulk request."),
			s.tr(c, "Nothing will be released. Each target's reasons are in the table below.")}
	case request.StatusPending:
		open := s.requirementsText(c, request.OpenRequirements(d.ApproverRequirements, d.Votes))
		need := d.RequiredApprovals - countApprovals(d.Votes)
		next := s.tr(c, "It still needs %d approval(s).", need)
		if open != "" {
			next = s.tr(c, "It still needs %d approval(s): %s.", need, open)
		}
		return summary{s.tr(c, "The policy allows %d of the %d targets once the bulk request is approved.", p.Total, n),
			next + " " + s.tr(c, "One approval covers every allowed target. Once approved, rdsgate releases them within each account's quota and this page shows the progress.")}
	case request.StatusApproved, request.StatusExecuting:
		return summary{s.tr(c, "Releasing %d endpoints.", p.Total),
			s.tr(c, "%d released, %d failed, %d cancelled, %d to go. The table below shows each target as it is released.", p.Succeeded, p.Failed, p.Cancelled, p.Remaining)}
	case request.StatusSucceeded:
		return summary{s.tr(c, "Released all %d endpoints.", p.Total),
			s.tr(c, "Alibaba Cloud released every allowed target's public connection string. The table below gives each call's RequestId.")}
	case request.StatusFailed:
		return summary{s.tr(c, "Some releases failed."),
			s.tr(c, "%d released, %d failed, %d cancelled. The table below gives each failed target's error code; file a new request for them once the cause is fixed.", p.Succeeded, p.Failed, p.Cancelled)}
	case request.StatusCancelled:
		if p.Succeeded+p.Failed > 0 {
			return summary{s.tr(c, "The rest was cancelled."),
				s.tr(c, "%d released, %d failed, %d withdrawn before their call.", p.Succeeded, p.Failed, p.Cancelled)}
		}
		return summary{s.tr(c, "Cancelled."), s.tr(c, "The requester withdrew this request; nothing will be released.")}
	case request.StatusRejected:
		return summary{s.tr(c, "Rejected."), s.tr(c, "An approver rejected this request; nothing will be released.")}
	case request.StatusExpired:
		return summary{s.tr(c, "Expired."), s.tr(c, "Nobody approved this request in time; nothing will be released. File a new one if it is still needed.")}
	}
	return summary{Headline: string(d.Status)}
}

// cancelRestPage is the requester's "Cancel the rest" of an executing bulk
// request: the targets not yet called are withdrawn
// (lifecycle.Service.CancelRest, which checks who and when); the page
// comes back with what was done.
func (s *Server) cancelRestPage(c echo.Context) error {
	id, err := parseID(c)
	if err != nil {
		return err
	}
	r, err := s.d.Service.Get(c.Request().Context(), id)
	if err != nil {
		return err
	}
	u := userOf(c)
	if !canView(u, r) {
		return notVisible(r.ID)
	}
	n, err := s.d.Service.CancelRest(c.Request().Context(), pageActor(c, u), id, c.FormValue("reason"))
	if err != nil {
		return err
	}
	s.flash(c, s.tr(c, "Withdrew %d target(s) not yet called; targets being called finish.", n))
	return c.Redirect(http.StatusSeeOther, "/requests/"+id.String())
}

// bulkTitle is a bulk request's page title.
func (s *Server) bulkTitle(c echo.Context, r *request.Request) string {
	return s.tr(c, "Bulk request of %d endpoints", r.TargetCount)
}

// foldDecisions replaces a bulk request's policy.decided events, one per
// target, with one line that counts them (the targets' table gives each
// decision): a thousand lines would bury the timeline.
func (s *Server) foldDecisions(c echo.Context, evs []eventView) []eventView {
	out := make([]eventView, 0, len(evs))
	first, allowed, denied := -1, 0, 0
	for _, e := range evs {
		if e.Kind != audit.KindPolicyDecided {
			out = append(out, e)
			continue
		}
		if strings.HasSuffix(e.Title, s.tr(c, "Policy decided: allow")) {
			allowed++
		} else {
			denied++
		}
		if first < 0 {
			first = len(out)
			out = append(out, e)
		}
	}
	if first >= 0 && allowed+denied > 1 {
		out[first].Title = s.tr(c, "Policy decided on %d targets: %d allowed, %d denied", allowed+denied, allowed, denied)
	}
	return out
}
