//! SEDP indicators of a municipality and the JMET's M&E plan approved by the council.

use super::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m20261124_000007_indicators",
    postgres: SCRIPT,
    sqlite: SCRIPT,
};

const SCRIPT: &str = r#"
CREATE TABLE indicators (
    code TEXT PRIMARY KEY,
    municipality_code TEXT NOT NULL REFERENCES territories (code),
    name_ky TEXT NOT NULL,
    name_ru TEXT NOT NULL,
    name_en TEXT NOT NULL,
    level TEXT NOT NULL,
    kind TEXT NOT NULL,
    unit TEXT NOT NULL,
    baseline DOUBLE PRECISION,
    targets TEXT NOT NULL,
    measured_by TEXT NOT NULL,
    delegated INTEGER NOT NULL,
    rule TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX indicators_municipality ON indicators (municipality_code);
CREATE TABLE me_plans (
    municipality_code TEXT PRIMARY KEY REFERENCES territories (code),
    status TEXT NOT NULL,
    approved_on TEXT,
    decision TEXT
);
CREATE TABLE me_plan_indicators (
    municipality_code TEXT NOT NULL REFERENCES me_plans (municipality_code),
    indicator_code TEXT NOT NULL REFERENCES indicators (code),
    PRIMARY KEY (municipality_code, indicator_code)
)
"#;
