//! Schema migrations. A landed migration is never edited; changes come as new migrations.

use sea_orm_migration::prelude::*;

mod m20261124_000001_sync_core;
mod m20261124_000002_audit_chain;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_sync_core::Migration),
            Box::new(m20261124_000002_audit_chain::Migration),
        ]
    }
}

/// Runs one SQL script statement by statement (`;` at a line end separates statements).
pub(crate) async fn run_script(manager: &SchemaManager<'_>, script: &str) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    for statement in script.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
        conn.execute_unprepared(statement).await?;
    }
    Ok(())
}
