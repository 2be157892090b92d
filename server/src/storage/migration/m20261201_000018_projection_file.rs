//! On SQLite, what is derived from the records moves to a file of its own (`jmet-projection.db`
//! beside `jmet.db`, attached as `projection`), written through a connection of its own: a
//! projector run then never holds the one writer of the records' file, and the submissions
//! never wait for it. PostgreSQL keeps these tables where they are: its writers do not
//! exclude each other.
//!
//! Each table is created in the projection's file from its definition as it stands (with the
//! columns later migrations added), its rows copied, and the old table dropped. In WAL mode a
//! transaction is atomic per file, not across files; dropping an earlier copy first makes a
//! migration interrupted after the projection's file committed start over cleanly.

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::prelude::*;

use crate::storage::connect::PROJECTION_SCHEMA;

/// The projection's tables: everything `jmet rebuild` recomputes from the records.
pub(crate) const TABLES: [&str; 7] = [
    "submission_status",
    "review_links",
    "indicator_facts",
    "indicator_values",
    "projection_checkpoints",
    "flags",
    "visit_photos",
];

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000018_projection_file"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        let conn = manager.get_connection();
        let attached = conn
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                format!("SELECT 1 FROM pragma_database_list WHERE name = '{PROJECTION_SCHEMA}'"),
            ))
            .await?;
        if attached.is_none() {
            return Err(DbErr::Migration(format!(
                "the projection's file is not attached as `{PROJECTION_SCHEMA}`"
            )));
        }
        for table in TABLES {
            move_table(conn, table).await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

async fn move_table(conn: &impl ConnectionTrait, table: &str) -> Result<(), DbErr> {
    let s = PROJECTION_SCHEMA;
    // Tables first, then their indexes; automatic indexes have no SQL and come with the table.
    let definitions = conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT type, name, sql FROM main.sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL \
             ORDER BY type = 'index', name",
            [table.into()],
        ))
        .await?;
    if definitions.is_empty() {
        return Err(DbErr::Migration(format!("table {table} not found")));
    }
    conn.execute_unprepared(&format!("DROP TABLE IF EXISTS {s}.{table}"))
        .await?;
    for row in &definitions {
        let kind: String = row.try_get_by_index(0)?;
        let name: String = row.try_get_by_index(1)?;
        let sql: String = row.try_get_by_index(2)?;
        conn.execute_unprepared(&in_schema(&kind, &name, &sql)?)
            .await?;
        if kind == "table" {
            conn.execute_unprepared(&format!(
                "INSERT INTO {s}.{table} SELECT * FROM main.{table}"
            ))
            .await?;
        }
    }
    conn.execute_unprepared(&format!("DROP TABLE main.{table}"))
        .await?;
    Ok(())
}

/// `CREATE TABLE t (…)` → `CREATE TABLE projection.t (…)`, and so for indexes (whose table is
/// then looked up in the same schema).
fn in_schema(kind: &str, name: &str, sql: &str) -> Result<String, DbErr> {
    let head = match kind {
        "table" => "CREATE TABLE ",
        "index" if sql.starts_with("CREATE UNIQUE INDEX ") => "CREATE UNIQUE INDEX ",
        "index" => "CREATE INDEX ",
        other => {
            return Err(DbErr::Migration(format!(
                "{other} {name}: cannot move it to the projection's file"
            )));
        }
    };
    let rest = sql
        .strip_prefix(head)
        .and_then(|rest| rest.trim_start().strip_prefix(name))
        .ok_or_else(|| DbErr::Migration(format!("unexpected definition of {name}: {sql}")))?;
    Ok(format!("{head}{PROJECTION_SCHEMA}.{name}{rest}"))
}

#[cfg(test)]
mod tests {
    use super::in_schema;

    #[test]
    fn definitions_are_moved_into_the_projection_schema() {
        assert_eq!(
            in_schema("table", "flags", "CREATE TABLE flags (\n  a TEXT\n)").unwrap(),
            "CREATE TABLE projection.flags (\n  a TEXT\n)"
        );
        assert_eq!(
            in_schema(
                "index",
                "flags_scope",
                "CREATE INDEX flags_scope ON flags (scope)"
            )
            .unwrap(),
            "CREATE INDEX projection.flags_scope ON flags (scope)"
        );
        assert_eq!(
            in_schema("index", "u", "CREATE UNIQUE INDEX u ON t (a)").unwrap(),
            "CREATE UNIQUE INDEX projection.u ON t (a)"
        );
        assert!(in_schema("trigger", "t", "CREATE TRIGGER t …").is_err());
        assert!(in_schema("table", "flags", "CREATE TABLE other (a)").is_err());
    }
}

#[cfg(test)]
mod moved {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    use sea_orm_migration::MigratorTrait;

    use crate::storage::{Location, Storage};

    async fn count(db: &impl ConnectionTrait, sql: &str) -> i64 {
        let row = db
            .query_one_raw(Statement::from_string(DbBackend::Sqlite, sql))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index(0).unwrap()
    }

    /// A database made before the projection had a file of its own keeps what it projected:
    /// the rows move, indexes and added columns with them, and the old tables are gone.
    #[tokio::test]
    async fn an_older_database_moves_its_projection_into_the_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let location = Location::SqliteDir(dir.path().to_path_buf());
        {
            let db = crate::storage::connect::open(&location).await.unwrap();
            super::super::Migrator::up(&db, Some(17)).await.unwrap();
            db.execute_unprepared(
                "INSERT INTO flags (record_id, subject, kind, scope, measured, threshold, unit, \
                 message, computed_at_ms) VALUES ('v1', 'visit', 'no_position', 'm1', NULL, NULL, \
                 '', 'no position', 5)",
            )
            .await
            .unwrap();
            db.execute_unprepared(
                "INSERT INTO projection_checkpoints (projection, scope, seq) VALUES ('x', 'm1', 42)",
            )
            .await
            .unwrap();
            db.close().await.unwrap();
        }
        let storage = Storage::open(&location).await.unwrap();
        let db = storage.connection();
        assert_eq!(
            count(
                db,
                "SELECT COUNT(*) FROM projection.flags WHERE record_id = 'v1'"
            )
            .await,
            1
        );
        assert_eq!(
            count(
                db,
                "SELECT seq FROM projection_checkpoints WHERE scope = 'm1'"
            )
            .await,
            42
        );
        for table in super::TABLES {
            let sql = format!("SELECT COUNT(*) FROM main.sqlite_master WHERE tbl_name = '{table}'");
            assert_eq!(count(db, &sql).await, 0, "{table} left in the main file");
            let sql = format!(
                "SELECT COUNT(*) FROM projection.sqlite_master WHERE tbl_name = '{table}' AND type = 'table'"
            );
            assert_eq!(
                count(db, &sql).await,
                1,
                "{table} not in the projection's file"
            );
        }
        let indexes = "SELECT COUNT(*) FROM projection.sqlite_master WHERE type = 'index' \
                       AND name IN ('flags_scope', 'submission_status_queue', 'indicator_facts_group')";
        assert_eq!(count(db, indexes).await, 3);
        assert!(dir.path().join("jmet-projection.db").exists());
        // The columns added to indicator_values by an earlier migration came along.
        assert_eq!(
            count(db, "SELECT COUNT(*) FROM pragma_table_info('indicator_values') WHERE name = 'official_acc'").await,
            1
        );
    }
}

#[cfg(test)]
mod lost {
    use crate::storage::{Location, Storage};

    /// A database restored without its projection's file is refused with a clear message
    /// instead of answering "no such table" later.
    #[tokio::test]
    async fn a_database_without_its_projection_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let location = Location::SqliteDir(dir.path().to_path_buf());
        Storage::open(&location)
            .await
            .unwrap()
            .close()
            .await
            .unwrap();
        for file in [
            "jmet-projection.db",
            "jmet-projection.db-wal",
            "jmet-projection.db-shm",
        ] {
            let _ = std::fs::remove_file(dir.path().join(file));
        }
        let error = match Storage::open(&location).await {
            Ok(_) => panic!("opened without its projection"),
            Err(e) => e.to_string(),
        };
        assert!(error.contains("jmet-projection.db"), "{error}");
        assert!(error.contains("0 of its 7 tables"), "{error}");
    }
}
