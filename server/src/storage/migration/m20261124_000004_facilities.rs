//! Facilities and services that JMETs monitor.

use super::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m20261124_000004_facilities",
    postgres: SCRIPT,
    sqlite: SCRIPT,
};

const SCRIPT: &str = r#"
CREATE TABLE facilities (
    code TEXT PRIMARY KEY,
    municipality_code TEXT NOT NULL REFERENCES territories (code),
    kind TEXT NOT NULL,
    name_ky TEXT NOT NULL,
    name_ru TEXT NOT NULL,
    name_en TEXT NOT NULL,
    lat DOUBLE PRECISION NOT NULL,
    lon DOUBLE PRECISION NOT NULL,
    delegated INTEGER NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX facilities_municipality ON facilities (municipality_code)
"#;
