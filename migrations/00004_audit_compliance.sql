-- +goose Up
-- Audit compliance (issue 6): signed checkpoints of the chain head, the
-- indexes that serve every audit search filter, and the role split that
-- makes the audit tables append-only by privilege as well as by trigger.
-- docs/AUDIT.md explains the guarantees and how to run with the roles.

-- Signed checkpoints. Each signs (seq, head_seq, head_hash, created_at,
-- prev_signature) with the service's Ed25519 key; prev_signature chains the
-- checkpoints to each other, head_hash ties them to the event chain.
CREATE TABLE audit_checkpoints (
    seq            bigint      PRIMARY KEY CHECK (seq >= 1),
    head_seq       bigint      NOT NULL CHECK (head_seq >= 1),
    head_hash      bytea       NOT NULL CHECK (length(head_hash) = 32),
    created_at     timestamptz NOT NULL,
    -- 64 zero bytes for the first checkpoint.
    prev_signature bytea       NOT NULL CHECK (length(prev_signature) = 64),
    key_id         text        NOT NULL,
    signature      bytea       NOT NULL CHECK (length(signature) = 64)
);
CREATE INDEX audit_checkpoints_head_idx ON audit_checkpoints (head_seq, seq);

-- +goose StatementBegin
CREATE FUNCTION audit_checkpoints_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_checkpoints is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_checkpoints_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_guard();
CREATE TRIGGER audit_checkpoints_no_truncate
    BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_checkpoints_guard();

-- Search: one index per filter, each ending in (occurred_at, id), the
-- keyset order of audit.Search (newest first), so a filter, a time range
-- and a cursor are one index range scan. They are partial on sealed events:
-- an append then maintains only the primary key and the small index of
-- unsealed events, and the sealer's update (which writes a new row version
-- and its index entries anyway) indexes the event once. Search reads the
-- few unsealed events through audit_events_unsealed_idx.
CREATE INDEX audit_events_time_idx     ON audit_events (occurred_at, id) WHERE seq IS NOT NULL;
CREATE INDEX audit_events_actor_idx    ON audit_events (actor, occurred_at, id) WHERE seq IS NOT NULL;
CREATE INDEX audit_events_kind_idx     ON audit_events (kind, occurred_at, id) WHERE seq IS NOT NULL;
CREATE INDEX audit_events_instance_idx ON audit_events (db_instance_id, occurred_at, id)
    WHERE seq IS NOT NULL AND db_instance_id IS NOT NULL;
CREATE INDEX audit_events_error_idx    ON audit_events (error_code, occurred_at, id)
    WHERE seq IS NOT NULL AND error_code IS NOT NULL;
CREATE INDEX audit_events_alibaba_idx  ON audit_events (alibaba_request_id, occurred_at, id)
    WHERE seq IS NOT NULL AND alibaba_request_id IS NOT NULL;
-- Serves the request_id filter and the per-request timeline; supersedes
-- the (request_id, id) index of 00002.
CREATE INDEX audit_events_request_time_idx ON audit_events (request_id, occurred_at, id)
    WHERE seq IS NOT NULL AND request_id IS NOT NULL;
DROP INDEX audit_events_request_idx;
-- seq stays unique, without an index entry for every unsealed row.
CREATE UNIQUE INDEX audit_events_seq_idx ON audit_events (seq) WHERE seq IS NOT NULL;
ALTER TABLE audit_events DROP CONSTRAINT audit_events_seq_key;

-- Roles. They are cluster-wide and several databases (tests, staging) may
-- migrate at once, so each is created only if missing, and a concurrent
-- creation is not an error. Both are NOLOGIN: an operator gives logins
-- membership (docs/AUDIT.md, "Running with the role split").
--   rdsgate_migrator owns the audit tables (DDL, triggers).
--   rdsgate_service  is what `rdsgate serve` needs: INSERT and SELECT on the
--                    audit tables, UPDATE of exactly (seq, prev_hash, hash)
--                    for the sealer, never DELETE, TRUNCATE or DDL.
-- +goose StatementBegin
DO $$
BEGIN
    BEGIN
        CREATE ROLE rdsgate_migrator NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
    END;
    BEGIN
        CREATE ROLE rdsgate_service NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
    END;
END
$$;
-- +goose StatementEnd

-- A non-superuser migrating must be able to act as the owner it hands the
-- tables to (and keep altering them in later migrations).
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       AND NOT pg_has_role(current_user, 'rdsgate_migrator', 'MEMBER') THEN
        EXECUTE format('GRANT rdsgate_migrator TO %I', current_user);
    END IF;
END
$$;
-- +goose StatementEnd

GRANT USAGE, CREATE ON SCHEMA public TO rdsgate_migrator;
GRANT USAGE ON SCHEMA public TO rdsgate_service;
ALTER TABLE audit_events OWNER TO rdsgate_migrator;
ALTER TABLE audit_checkpoints OWNER TO rdsgate_migrator;

-- The rest of the schema: ordinary read-write for the service, on what
-- exists now and on what the migrating role creates later (later
-- migrations, the job queue's tables).
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO rdsgate_service;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO rdsgate_service;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO rdsgate_service;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO rdsgate_service;
REVOKE INSERT, UPDATE, DELETE ON goose_db_version FROM rdsgate_service;

-- The audit tables: append and read only. The column-level UPDATE is the
-- sealer's; the trigger additionally refuses any update that is not the
-- one-time filling of the chain columns.
REVOKE ALL ON audit_events, audit_checkpoints FROM PUBLIC;
REVOKE ALL ON audit_events, audit_checkpoints FROM rdsgate_service;
GRANT SELECT, INSERT ON audit_events, audit_checkpoints TO rdsgate_service;
GRANT UPDATE (seq, prev_hash, hash) ON audit_events TO rdsgate_service;
GRANT USAGE ON SEQUENCE audit_events_id_seq TO rdsgate_service;
REVOKE SELECT, UPDATE ON SEQUENCE audit_events_id_seq FROM rdsgate_service;

-- +goose Down
-- The roles stay: they are cluster-wide and other databases may use them.
REVOKE ALL ON audit_events FROM rdsgate_service;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM rdsgate_service;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM rdsgate_service;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM rdsgate_service;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM rdsgate_service;
REVOKE ALL ON SCHEMA public FROM rdsgate_service;
ALTER TABLE audit_events OWNER TO CURRENT_USER;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_seq_key UNIQUE (seq);
DROP INDEX audit_events_seq_idx;
CREATE INDEX audit_events_request_idx ON audit_events (request_id, id) WHERE request_id IS NOT NULL;
DROP INDEX audit_events_request_time_idx;
DROP INDEX audit_events_alibaba_idx;
DROP INDEX audit_events_error_idx;
DROP INDEX audit_events_instance_idx;
DROP INDEX audit_events_kind_idx;
DROP INDEX audit_events_actor_idx;
DROP INDEX audit_events_time_idx;
DROP TABLE audit_checkpoints;
DROP FUNCTION audit_checkpoints_guard();
