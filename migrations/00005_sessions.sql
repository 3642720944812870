-- +goose Up
-- Browser sessions (github.com/alexedwards/scs/pgxstore; the table its README
-- defines). The token column holds the hex SHA-256 of the random cookie
-- value, never the value itself (internal/auth.SessionTokenHash; enforced by
-- 00006_sessions_token_hash.sql); data is the scs-encoded session (the
-- signed-in user, the OIDC sign-in state, flash messages).
CREATE TABLE sessions (
    token  text        PRIMARY KEY,
    data   bytea       NOT NULL,
    expiry timestamptz NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

-- +goose Down
DROP TABLE sessions;
