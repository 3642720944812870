-- +goose Up
-- "My votes" pages an approver's votes newest first, by (created_at,
-- request_id): this index answers it without reading every vote.
CREATE INDEX approvals_by_approver ON approvals (approver, created_at DESC, request_id DESC);

-- +goose Down
DROP INDEX approvals_by_approver;
