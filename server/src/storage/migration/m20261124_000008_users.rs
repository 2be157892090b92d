//! Web and script users, their scopes, browser sessions and API tokens.

use super::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m20261124_000008_users",
    postgres: SCRIPT,
    sqlite: SCRIPT,
};

// A scope is a territory code (oblast, rayon or municipality) or `*` for the whole country, so it
// is checked by the server rather than by a foreign key.
const SCRIPT: &str = r#"
CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    disabled_at_ms BIGINT
);
CREATE TABLE user_scopes (
    user_id TEXT NOT NULL REFERENCES users (user_id),
    scope TEXT NOT NULL,
    PRIMARY KEY (user_id, scope)
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (user_id),
    csrf_token TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE TABLE api_tokens (
    token_id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users (user_id),
    label TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id)
"#;
