//! One-time enrollment codes that a phone exchanges for a device token.

use super::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m20261124_000006_enrollment",
    postgres: SCRIPT,
    sqlite: SCRIPT,
};

const SCRIPT: &str = r#"
CREATE TABLE enrollment_codes (
    code_hash TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members (member_id),
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    used_at_ms BIGINT,
    device_id TEXT
)
"#;
