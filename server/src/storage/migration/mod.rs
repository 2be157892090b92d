//! Schema migrations. A landed migration is never edited; changes come as new migrations.

use sea_orm_migration::prelude::*;

mod m20261124_000001_sync_core;
mod m20261124_000002_audit_chain;
mod m20261124_000003_territories;
mod m20261124_000004_facilities;
mod m20261124_000005_teams;
mod m20261124_000006_enrollment;
mod m20261124_000007_indicators;
mod m20261124_000008_users;
mod m20261124_000009_forms;
mod m20261124_000010_sedp;
mod m20261124_000011_evidence;
mod m20261125_000012_indicator_values;
mod m20261125_000013_review_queue;
mod m20261130_000014_published_heads;
mod m20261130_000015_council_decisions;
mod m20261130_000016_openrosa;
mod m20261201_000017_value_accumulators;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_sync_core::MIGRATION),
            Box::new(m20261124_000002_audit_chain::MIGRATION),
            Box::new(m20261124_000003_territories::MIGRATION),
            Box::new(m20261124_000004_facilities::MIGRATION),
            Box::new(m20261124_000005_teams::MIGRATION),
            Box::new(m20261124_000006_enrollment::MIGRATION),
            Box::new(m20261124_000007_indicators::MIGRATION),
            Box::new(m20261124_000008_users::MIGRATION),
            Box::new(m20261124_000009_forms::MIGRATION),
            Box::new(m20261124_000010_sedp::MIGRATION),
            Box::new(m20261124_000011_evidence::MIGRATION),
            Box::new(m20261125_000012_indicator_values::MIGRATION),
            Box::new(m20261125_000013_review_queue::MIGRATION),
            Box::new(m20261130_000014_published_heads::MIGRATION),
            Box::new(m20261130_000015_council_decisions::MIGRATION),
            Box::new(m20261130_000016_openrosa::MIGRATION),
            Box::new(m20261201_000017_value_accumulators::MIGRATION),
        ]
    }
}

/// A migration written as one SQL script per backend, applied in one transaction.
pub(crate) struct SqlMigration {
    pub name: &'static str,
    pub postgres: &'static str,
    pub sqlite: &'static str,
}

impl MigrationName for SqlMigration {
    fn name(&self) -> &str {
        self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SqlMigration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let script = match manager.get_database_backend() {
            sea_orm::DbBackend::Postgres => self.postgres,
            _ => self.sqlite,
        };
        run_script(manager, script).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// Runs one SQL script statement by statement (`;` at a line end separates statements).
async fn run_script(manager: &SchemaManager<'_>, script: &str) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    for statement in script.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
        conn.execute_unprepared(statement).await?;
    }
    Ok(())
}
