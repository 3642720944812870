-- +goose Up
-- One row per call the executor makes for a request: the releases
-- (ReleaseInstanceConnection) and the reconciliation checks
-- (DescribeDBInstanceNetInfo) that follow an attempt whose outcome is
-- unknown. attempt numbers both kinds together, 1, 2, 3… per request, in the
-- order the calls were made. A release row is inserted before the call, in
-- the transaction that moves the request to executing, and completed after
-- it; a row whose finished_at is still NULL is a call whose worker died, and
-- the next run reconciles it. See internal/executor's package documentation.
CREATE TABLE execution_attempts (
    request_id         uuid        NOT NULL REFERENCES requests (id),
    attempt            integer     NOT NULL CHECK (attempt > 0),
    operation          text        NOT NULL CHECK (operation IN
        ('ReleaseInstanceConnection', 'DescribeDBInstanceNetInfo')),
    started_at         timestamptz NOT NULL,
    finished_at        timestamptz,
    -- succeeded: the API answered 2xx; failed: it answered an error (or the
    -- call was never sent); unknown: the call may or may not have happened.
    outcome            text        CHECK (outcome IN ('succeeded', 'failed', 'unknown')),
    -- aliyun.Class of a failure: retryable, permanent, unknown_outcome.
    classification     text        NOT NULL DEFAULT '',
    http_status        integer,
    error_code         text        NOT NULL DEFAULT '',
    error_message      text        NOT NULL DEFAULT '',
    alibaba_request_id text        NOT NULL DEFAULT '',
    -- The wait the API asked for (x-ratelimit-user-api TimeLeft).
    retry_after_ms     bigint      NOT NULL DEFAULT 0 CHECK (retry_after_ms >= 0),
    -- Reconciliation checks only: whether the requested public endpoint was
    -- still there (present) or gone (released).
    found              text        CHECK (found IN ('present', 'released')),
    PRIMARY KEY (request_id, attempt),
    CHECK ((finished_at IS NULL) = (outcome IS NULL)),
    CHECK (found IS NULL OR operation = 'DescribeDBInstanceNetInfo')
);

-- The shared rate limiter: one row per (Alibaba account, API operation).
-- next_at is the earliest start of the next free call slot, on the
-- database's clock; every replica reserves a slot by advancing it (see
-- internal/executor/limiter.go), so all replicas together respect the
-- API's quota.
CREATE TABLE rate_limits (
    account_id  text        NOT NULL,
    operation   text        NOT NULL,
    next_at     timestamptz NOT NULL,
    PRIMARY KEY (account_id, operation)
);

-- +goose Down
DROP TABLE rate_limits;
DROP TABLE execution_attempts;
