//! The audit chain: every change (a push's applied ops, a device created or revoked) is an entry
//! that carries the hash of the entry before it, so altering or deleting history is detectable.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261124_000002_audit_chain"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let script = match manager.get_database_backend() {
            DbBackend::Postgres => POSTGRES,
            _ => SQLITE,
        };
        super::run_script(manager, script).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

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
