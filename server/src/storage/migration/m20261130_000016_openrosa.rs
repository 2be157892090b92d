//! Submissions that came through the OpenRosa API (ODK Collect, KoboCollect): each instance's
//! XML as received, kept whatever became of it, and the record it became. A form version can be
//! closed: it stays readable, but no new submission is taken for it.

use super::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m20261130_000016_openrosa",
    postgres: SCRIPT,
    sqlite: SCRIPT,
};

const SCRIPT: &str = r#"
CREATE TABLE openrosa_submissions (
    instance_id TEXT PRIMARY KEY,
    form_id TEXT NOT NULL,
    form_version INTEGER NOT NULL,
    collection TEXT NOT NULL,
    record_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    deprecated_id TEXT,
    xml_sha256 TEXT NOT NULL,
    xml TEXT NOT NULL,
    complete INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX openrosa_submissions_record ON openrosa_submissions (record_id);
ALTER TABLE forms ADD COLUMN closed_at_ms BIGINT
"#;
