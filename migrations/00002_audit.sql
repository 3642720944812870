-- +goose Up
-- The audit trail. A row is inserted in the same transaction as the state
-- change it records (id = insertion order); the sealer later gives it its
-- place in the hash chain (seq, prev_hash, hash), exactly once. See
-- docs/ARCHITECTURE.md, "Audit chain".
CREATE TABLE audit_events (
    id                 bigserial   PRIMARY KEY,
    occurred_at        timestamptz NOT NULL,
    kind               text        NOT NULL,
    actor              text        NOT NULL,
    request_id         uuid,
    db_instance_id     text,
    error_code         text,
    alibaba_request_id text,
    -- json, not jsonb: the exact bytes that were hashed are kept.
    payload            json        NOT NULL,
    seq                bigint      UNIQUE,
    prev_hash          bytea,
    hash               bytea,
    CHECK ((seq IS NULL) = (hash IS NULL) AND (seq IS NULL) = (prev_hash IS NULL))
);
CREATE INDEX audit_events_unsealed_idx ON audit_events (id) WHERE seq IS NULL;
CREATE INDEX audit_events_request_idx  ON audit_events (request_id, id) WHERE request_id IS NOT NULL;

-- Append-only, enforced by the database: no DELETE, no TRUNCATE, and the one
-- UPDATE allowed is the sealer's, which fills seq/prev_hash/hash once and
-- changes nothing else.
-- +goose StatementBegin
CREATE FUNCTION audit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND OLD.seq IS NULL AND NEW.seq IS NOT NULL
       AND NEW.id = OLD.id
       AND NEW.occurred_at = OLD.occurred_at
       AND NEW.kind = OLD.kind
       AND NEW.actor = OLD.actor
       AND NEW.request_id IS NOT DISTINCT FROM OLD.request_id
       AND NEW.db_instance_id IS NOT DISTINCT FROM OLD.db_instance_id
       AND NEW.error_code IS NOT DISTINCT FROM OLD.error_code
       AND NEW.alibaba_request_id IS NOT DISTINCT FROM OLD.alibaba_request_id
       AND NEW.payload::text = OLD.payload::text THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_events_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_guard();
CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_guard();

-- +goose Down
DROP TABLE audit_events;
DROP FUNCTION audit_events_guard();
