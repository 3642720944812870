-- +goose Up
-- Catching releases made around the gate (issue 19): rdsgate reads each
-- account's ActionTrail for release events.
--
-- trail_cursors: per account and region, the end of the last window read;
-- the next read starts RDSGATE_TRAIL_LOOKBACK before it (events appear
-- late), so windows overlap.
CREATE TABLE trail_cursors (
    account_id  text        NOT NULL,
    region_id   text        NOT NULL,
    read_until  timestamptz NOT NULL,
    PRIMARY KEY (account_id, region_id)
);

-- trail_events: every release event seen, once: the overlap reads it again,
-- the primary key keeps it from being counted twice. request_id is the
-- rdsgate request whose call it is (a confirmation), NULL for a bypass.
CREATE TABLE trail_events (
    account_id         text        NOT NULL,
    event_id           text        NOT NULL,
    event_name         text        NOT NULL,
    event_time         timestamptz NOT NULL,
    alibaba_request_id text        NOT NULL,
    db_instance_id     text        NOT NULL DEFAULT '',
    request_id         uuid        REFERENCES requests (id),
    seen_at            timestamptz NOT NULL,
    PRIMARY KEY (account_id, event_id)
);
CREATE INDEX trail_events_request_idx ON trail_events (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX execution_attempts_alibaba_request_idx ON execution_attempts (alibaba_request_id)
    WHERE alibaba_request_id <> '';

-- +goose Down
DROP INDEX execution_attempts_alibaba_request_idx;
DROP TABLE trail_events;
DROP TABLE trail_cursors;
