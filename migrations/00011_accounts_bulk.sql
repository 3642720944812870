-- +goose Up
-- Many Alibaba Cloud accounts and bulk requests (issue 18).
--
-- account_id: the account of a request's instance; '' is the one account
-- rdsgate is configured with (RDSGATE_ACCOUNT_ID).
-- A bulk request is a requests row with target_count > 0 and no endpoint of
-- its own; its targets are request_targets rows. When it is approved each
-- allowed target becomes a request of its own (parent_id = the bulk
-- request), created approved, which the executor releases like any other;
-- the target whose request ends last settles the bulk request in the same
-- transaction.
ALTER TABLE requests
    ADD COLUMN account_id   text    NOT NULL DEFAULT '',
    ADD COLUMN parent_id    uuid    REFERENCES requests (id),
    ADD COLUMN target_count integer NOT NULL DEFAULT 0 CHECK (target_count >= 0),
    DROP CONSTRAINT requests_network_type_check,
    ADD CONSTRAINT requests_network_type_check CHECK (network_type IN ('0', '1') OR (target_count > 0 AND network_type = '')),
    ADD CONSTRAINT requests_bulk_child_check CHECK (parent_id IS NULL OR target_count = 0);
CREATE INDEX requests_parent_idx ON requests (parent_id, status) WHERE parent_id IS NOT NULL;

CREATE TABLE request_targets (
    request_id        uuid    NOT NULL REFERENCES requests (id),
    idx               integer NOT NULL CHECK (idx >= 0),
    account_id        text    NOT NULL,
    region_id         text    NOT NULL,
    db_instance_id    text    NOT NULL,
    connection_string text    NOT NULL,
    network_type      text    NOT NULL CHECK (network_type IN ('0', '1')),
    -- The policy's verdict on this target (request.TargetDecision).
    allowed           boolean NOT NULL,
    decision          jsonb   NOT NULL,
    -- The id the target's own request gets when the bulk request is
    -- approved (allowed targets only).
    child_id          uuid    UNIQUE,
    PRIMARY KEY (request_id, idx),
    CHECK (allowed = (child_id IS NOT NULL))
);

-- +goose Down
-- A bulk request has no endpoint of its own (network_type ''): the old
-- constraint cannot hold once there is one, so going back refuses then.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM requests WHERE target_count > 0) THEN
        RAISE EXCEPTION 'bulk requests exist: migration 00011 cannot be reverted without losing them';
    END IF;
END $$;
-- +goose StatementEnd
DROP TABLE request_targets;
DROP INDEX requests_parent_idx;
ALTER TABLE requests
    DROP CONSTRAINT requests_bulk_child_check,
    DROP CONSTRAINT requests_network_type_check,
    ADD CONSTRAINT requests_network_type_check CHECK (network_type IN ('0', '1')),
    DROP COLUMN target_count,
    DROP COLUMN parent_id,
    DROP COLUMN account_id;
