package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/rdsgate/rdsgate/internal/request"
)

// Filter selects requests for List. Zero fields do not filter.
type Filter struct {
	Status       request.Status
	Requester    string
	DBInstanceID string
	// Cursor is the opaque value of a previous page's NextCursor.
	Cursor string
	Limit  int
}

// MaxPageSize bounds Filter.Limit; DefaultPageSize is a zero Limit's.
const (
	MaxPageSize     = 200
	DefaultPageSize = 50
)

// Page is one page of requests, newest first, without their votes.
type Page struct {
	Items      []*request.Request `json:"items"`
	NextCursor string             `json:"next_cursor,omitempty"`
}

// Detail is a request with its votes and its execution attempts: the one
// read model of a request, for the pages and the API alike.
type Detail struct {
	*request.Request
	Attempts []request.Attempt `json:"attempts"`
	// BulkDetail is a bulk request's targets and progress; nil otherwise.
	*BulkDetail
}

// Get returns a request with its votes.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (*request.Request, error) {
	return s.store.Request(ctx, id)
}

// Detail returns the request, its votes and its execution attempts (each
// with the Alibaba RequestId and error code).
func (s *Service) Detail(ctx context.Context, id uuid.UUID) (*Detail, error) {
	r, err := s.store.Request(ctx, id)
	if err != nil {
		return nil, err
	}
	attempts, err := s.store.Attempts(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("attempts of request %s: %w", id, err)
	}
	if attempts == nil {
		attempts = []request.Attempt{}
	}
	if err := s.confirm(ctx, id, attempts); err != nil {
		return nil, err
	}
	d := &Detail{Request: r, Attempts: attempts}
	if r.Bulk() {
		if d.BulkDetail, err = s.Bulk(ctx, r); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// confirm marks the attempts whose call the account's ActionTrail
// recorded.
func (s *Service) confirm(ctx context.Context, id uuid.UUID, attempts []request.Attempt) error {
	if !slices.ContainsFunc(attempts, func(a request.Attempt) bool {
		return a.Operation == request.OpRelease && a.AlibabaRequestID != ""
	}) {
		return nil // no call answered: nothing the trail can confirm (most reads of a live page)
	}
	seen, err := s.store.Confirmations(ctx, id)
	if err != nil || len(seen) == 0 {
		return err
	}
	for i, a := range attempts {
		if at, ok := seen[a.AlibabaRequestID]; ok && a.AlibabaRequestID != "" && a.Operation == request.OpRelease {
			attempts[i].TrailConfirmedAt = &at
		}
	}
	return nil
}

// List returns a page of requests.
func (s *Service) List(ctx context.Context, f Filter) (Page, error) {
	if f.Limit <= 0 {
		f.Limit = DefaultPageSize
	}
	if f.Limit > MaxPageSize {
		return Page{}, request.Invalid("limit", "must be at most %d", MaxPageSize)
	}
	for _, t := range [][2]string{{"requester", f.Requester}, {"db_instance_id", f.DBInstanceID}, {"cursor", f.Cursor}} {
		if err := request.CheckText(t[0], t[1]); err != nil {
			return Page{}, err
		}
	}
	return s.store.Requests(ctx, f)
}

// InstanceLookup describes an instance's endpoints (the RDS API's
// DescribeDBInstanceNetInfo, within the account's shared quota).
type InstanceLookup interface {
	// NetInfo describes instanceID of accountID ("" the configured
	// account) in regionID.
	NetInfo(ctx context.Context, accountID, regionID, instanceID string) (NetInfo, error)
}

// NetInfo is what the RDS API says about an instance's endpoints.
type NetInfo struct {
	// InstanceNetworkType is "VPC" or "Classic".
	InstanceNetworkType string
	// NetworkType is the request's network_type for it ("0" classic, "1"
	// VPC), empty when the API named a type the release does not know.
	NetworkType string
	Endpoints   []Endpoint
}

// Endpoint is one connection string of an instance.
type Endpoint struct {
	ConnectionString string
	// IPType is "Public", "Private" or "Inner".
	IPType string
	Port   string
	// Type is "Normal" or "ReadWriteSplitting".
	Type string
}

// LookupError is the API's refusal of an instance look-up: its error code,
// the message documented for it (else the API's own) and its RequestId.
type LookupError struct {
	Code, Message, RequestID string
}

func (e *LookupError) Error() string { return e.Code + ": " + e.Message }

// ErrUnavailable: the service has no way to do this (no instance look-up
// configured).
var ErrUnavailable = errors.New("not available")

// CanLookupInstances reports whether LookupInstance has an API to ask.
func (s *Service) CanLookupInstances() bool { return s.instances != nil }

// LookupInstance describes an instance of an account for the new-request
// form: its network type and endpoints. An account, region or instance id
// that is not valid is
// a *request.ValidationError naming it; an answer of the API's that names
// an error is a *LookupError.
func (s *Service) LookupInstance(ctx context.Context, accountID, regionID, instanceID string) (NetInfo, error) {
	if s.instances == nil {
		return NetInfo{}, fmt.Errorf("instance look-up: %w", ErrUnavailable)
	}
	accountID, err := s.account("account_id", accountID)
	if err != nil {
		return NetInfo{}, err
	}
	spec := request.Spec{RegionID: regionID, DBInstanceID: instanceID}.Normalize()
	// Validate checks the region and the instance id first: an error on
	// any later field means those two are fine.
	var ve *request.ValidationError
	if err := spec.Validate(); errors.As(err, &ve) && (ve.Field == "region_id" || ve.Field == "db_instance_id") {
		return NetInfo{}, err
	}
	return s.instances.NetInfo(ctx, accountID, spec.RegionID, spec.DBInstanceID)
}

// MaxAwaiting bounds AwaitingVote: the inbox examines at most this many
// pending requests.
const MaxAwaiting = 1000

// AwaitingVote lists the pending requests approver neither filed nor voted
// on, oldest first, with their votes: the inbox's candidates, before the
// policy's MayApprove picks those approver may vote on. One round trip, so
// that the navigation can count them on every page.
func (s *Service) AwaitingVote(ctx context.Context, approver string) ([]*request.Request, error) {
	if err := request.CheckText("approver", approver); err != nil {
		return nil, err
	}
	return s.store.AwaitingVote(ctx, approver, MaxAwaiting)
}

// VotedRequest is a request (without its votes) as it stands now, with one
// approver's vote on it.
type VotedRequest struct {
	*request.Request
	Vote request.Vote `json:"vote"`
}

// VotePage is one page of an approver's votes, the newest vote first.
type VotePage struct {
	Items      []VotedRequest `json:"items"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

// VotedBy returns one page of the requests approver voted on, the newest
// vote first, each with that vote and the request's current status.
func (s *Service) VotedBy(ctx context.Context, approver, cursor string, limit int) (VotePage, error) {
	if limit <= 0 {
		limit = DefaultPageSize
	}
	if limit > MaxPageSize {
		return VotePage{}, request.Invalid("limit", "must be at most %d", MaxPageSize)
	}
	for _, t := range [][2]string{{"approver", approver}, {"cursor", cursor}} {
		if err := request.CheckText(t[0], t[1]); err != nil {
			return VotePage{}, err
		}
	}
	return s.store.VotedBy(ctx, approver, cursor, limit)
}
