//! The audit chain head published once a day on the open panel: whoever copies it can later
//! check that history up to it was not rewritten.

use super::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m20261130_000014_published_heads",
    postgres: SCRIPT,
    sqlite: SCRIPT,
};

const SCRIPT: &str = r#"
CREATE TABLE published_heads (
    day TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    published_at_ms BIGINT NOT NULL
)
"#;
