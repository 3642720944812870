-- +goose Up
-- "Cancel the rest" of a bulk request: when it was asked. A target request
-- that is approved again later (a retryable error, a reconciliation that
-- found the endpoint still there, a re-queue) is withdrawn when its job
-- next starts instead of being called.
ALTER TABLE requests ADD COLUMN rest_cancelled_at timestamptz;

-- +goose Down
ALTER TABLE requests DROP COLUMN rest_cancelled_at;
