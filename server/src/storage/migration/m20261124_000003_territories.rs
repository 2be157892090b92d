//! Territories: oblast, rayon, municipality (ayil aimak), village, with boundaries or points.

use super::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m20261124_000003_territories",
    postgres: SCRIPT,
    sqlite: SCRIPT,
};

const SCRIPT: &str = r#"
CREATE TABLE territories (
    code TEXT PRIMARY KEY,
    level TEXT NOT NULL,
    parent_code TEXT REFERENCES territories (code),
    name_ky TEXT NOT NULL,
    name_ru TEXT NOT NULL,
    name_en TEXT NOT NULL,
    geometry TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX territories_parent ON territories (parent_code)
"#;
