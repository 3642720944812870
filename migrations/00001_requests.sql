-- +goose Up
-- API tokens: only a SHA-256 of the token is stored; the clear token is shown once.
CREATE TABLE api_tokens (
    id          bigserial PRIMARY KEY,
    subject     text        NOT NULL CHECK (subject <> ''),
    groups      text[]      NOT NULL DEFAULT '{}',
    token_hash  bytea       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- Release requests. Ids are UUIDv7, so id order is creation order and serves
-- keyset pagination on its own.
CREATE TABLE requests (
    id                    uuid        PRIMARY KEY,
    requester             text        NOT NULL,
    region_id             text        NOT NULL,
    db_instance_id        text        NOT NULL,
    connection_string     text        NOT NULL,
    network_type          text        NOT NULL CHECK (network_type IN ('0', '1')),
    justification         text        NOT NULL,
    ticket                text        NOT NULL DEFAULT '',
    status                text        NOT NULL CHECK (status IN
        ('pending', 'approved', 'executing', 'succeeded', 'failed',
         'rejected', 'expired', 'cancelled', 'denied')),
    payload_hash          bytea       NOT NULL CHECK (length(payload_hash) = 32),
    required_approvals    integer     NOT NULL CHECK (required_approvals >= 0),
    approver_requirements jsonb       NOT NULL DEFAULT '[]',
    environment           text        NOT NULL DEFAULT '',
    decision              jsonb       NOT NULL,
    policy_revision       text        NOT NULL DEFAULT '',
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL
);
CREATE INDEX requests_status_idx    ON requests (status, id);
CREATE INDEX requests_requester_idx ON requests (requester, id);
CREATE INDEX requests_instance_idx  ON requests (db_instance_id, id);

-- One row per vote; the primary key is the "one vote per approver" rule.
CREATE TABLE approvals (
    request_id    uuid        NOT NULL REFERENCES requests (id),
    approver      text        NOT NULL,
    decision      text        NOT NULL CHECK (decision IN ('approve', 'reject')),
    group_name    text        NOT NULL DEFAULT '',
    comment       text        NOT NULL DEFAULT '',
    payload_hash  bytea       NOT NULL CHECK (length(payload_hash) = 32),
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (request_id, approver)
);

-- +goose Down
DROP TABLE approvals;
DROP TABLE requests;
DROP TABLE api_tokens;
