//! The audit chain: every change (a push's applied ops, a device created or revoked) is an entry
//! that carries the hash of the entry before it, so altering or deleting history is detectable.

use super::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m20261124_000002_audit_chain",
    postgres: POSTGRES,
    sqlite: SQLITE,
};

const POSTGRES: &str = r#"
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
ALTER TABLE op_log ADD COLUMN audit_seq BIGINT;
ALTER TABLE op_log ADD COLUMN audit_pos INTEGER;
CREATE INDEX op_log_audit ON op_log (audit_seq, audit_pos)
"#;

const SQLITE: &str = r#"
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
ALTER TABLE op_log ADD COLUMN audit_seq INTEGER;
ALTER TABLE op_log ADD COLUMN audit_pos INTEGER;
CREATE INDEX op_log_audit ON op_log (audit_seq, audit_pos)
"#;
