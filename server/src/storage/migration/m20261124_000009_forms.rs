//! Versioned form definitions. A version, once stored, never changes: phones hold answers to it.

use super::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m20261124_000009_forms",
    postgres: SCRIPT,
    sqlite: SCRIPT,
};

const SCRIPT: &str = r#"
CREATE TABLE forms (
    form_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    collection TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (form_id, version)
)
"#;
