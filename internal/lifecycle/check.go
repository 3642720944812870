package lifecycle

import (
	"context"
	"fmt"

	"github.com/rdsgate/rdsgate/internal/policy"
	"github.com/rdsgate/rdsgate/internal/request"
)

// Check answers what File would decide on spec for a now, and records
// nothing: no request, no audit event. It is the new-request form's "Check
// with policy", so that a typo in a ticket is caught before it files a
// request that stays denied.
//
// It does not validate spec: a form half filled in still learns which org
// rules its ticket and justification break; the caller shows
// spec.Validate's errors beside the decision. The requester's pending
// count is read as File reads it, without the lock: a filing of theirs
// that commits meanwhile may make File's answer differ.
func (s *Service) Check(ctx context.Context, a Actor, spec request.Spec, breakGlass bool) (policy.Decision, error) {
	_, d, err := s.decideFiling(ctx, a, spec.Normalize(), breakGlass, s.clock())
	if err != nil {
		return policy.Decision{}, fmt.Errorf("check request: %w", err)
	}
	return d, nil
}
