-- +goose Up
-- Filing a request counts the requester's pending requests under their lock;
-- this partial index makes that count touch only pending rows, however many
-- requests the requester has filed before.
CREATE INDEX requests_pending_by_requester_idx ON requests (requester) WHERE status = 'pending';

-- +goose Down
DROP INDEX requests_pending_by_requester_idx;
