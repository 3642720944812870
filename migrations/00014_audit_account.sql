-- +goose Up
-- The audit search's account filter (payload account_id: the calls',
-- bypass.detected's and execution.confirmed's events), newest first like
-- the other filters' indexes (migration 00004).
CREATE INDEX audit_events_account_idx ON audit_events ((payload->>'account_id'), occurred_at, id)
    WHERE seq IS NOT NULL AND payload->>'account_id' IS NOT NULL;

-- +goose Down
DROP INDEX audit_events_account_idx;
