-- +goose Up
-- Session tokens are credentials: the sessions table now holds only the hex
-- SHA-256 of the cookie value (internal/auth.SessionTokenHash), never the
-- token. Rows written before this change hold tokens in clear; they are
-- deleted (everyone signed in must sign in again), and the check makes the
-- database refuse anything that is not a SHA-256 hex digest.
DELETE FROM sessions;
ALTER TABLE sessions
    ADD CONSTRAINT sessions_token_is_sha256 CHECK (token ~ '^[0-9a-f]{64}$');

-- +goose Down
-- Code from before this migration looks sessions up by the clear token, so
-- the hashed rows are of no use to it.
DELETE FROM sessions;
ALTER TABLE sessions DROP CONSTRAINT sessions_token_is_sha256;
