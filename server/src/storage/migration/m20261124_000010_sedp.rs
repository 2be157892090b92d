//! A municipality's SEDP: adopted and replaced as one document (period, goals, JAP actions).

use super::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m20261124_000010_sedp",
    postgres: SCRIPT,
    sqlite: SCRIPT,
};

const SCRIPT: &str = r#"
CREATE TABLE sedps (
    municipality_code TEXT PRIMARY KEY REFERENCES territories (code),
    from_year INTEGER NOT NULL,
    to_year INTEGER NOT NULL,
    document TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
)
"#;
