//! The council's decision log: what the local council (kenesh) decided at a session about the
//! SEDP's indicators and the JMET's recommendations, and through which instrument.

use super::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m20261130_000015_council_decisions",
    postgres: SCRIPT,
    sqlite: SCRIPT,
};

const SCRIPT: &str = r#"
CREATE TABLE council_decisions (
    decision_id TEXT PRIMARY KEY,
    municipality_code TEXT NOT NULL REFERENCES territories (code),
    session_on TEXT NOT NULL,
    instrument TEXT NOT NULL,
    decision TEXT NOT NULL,
    status TEXT NOT NULL,
    indicators TEXT NOT NULL,
    recommendations TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at_ms BIGINT NOT NULL
);
CREATE INDEX council_decisions_municipality ON council_decisions (municipality_code, session_on)
"#;
