//! Opening the database: SQLite by default, PostgreSQL when the URL says so.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::{DatabaseConnection, SqlxPostgresConnector, SqlxSqliteConnector};

use super::StorageError;

/// Where the data lives, as chosen on the command line.
#[derive(Debug, Clone)]
pub enum Location {
    /// `jmet.db` inside this directory (created when missing).
    SqliteDir(std::path::PathBuf),
    /// A `sqlite:` URL.
    SqliteUrl(String),
    /// A `postgres://` or `postgresql://` URL.
    Postgres(String),
}

impl Location {
    /// `--database-url` wins over `--data-dir`.
    pub fn from_args(data_dir: &Path, database_url: Option<&str>) -> Result<Self, StorageError> {
        match database_url {
            None | Some("") => Ok(Self::SqliteDir(data_dir.to_path_buf())),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Self::Postgres(url.to_owned()))
            }
            Some(url) if url.starts_with("sqlite:") => Ok(Self::SqliteUrl(url.to_owned())),
            Some(_) => Err(StorageError::Config(
                "the database URL must start with postgres://, postgresql:// or sqlite:".into(),
            )),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// Another database on the same PostgreSQL server as `base_url` (for tools and tests that
    /// create scratch databases).
    pub fn postgres_database(base_url: &str, name: &str) -> Self {
        let (main, query) = match base_url.split_once('?') {
            Some((main, query)) => (main, Some(query)),
            None => (base_url, None),
        };
        let scheme_end = main.find("://").map(|i| i + 3).unwrap_or(0);
        let host_part = match main[scheme_end..].find('/') {
            Some(i) => &main[..scheme_end + i],
            None => main,
        };
        Self::Postgres(match query {
            Some(q) => format!("{host_part}/{name}?{q}"),
            None => format!("{host_part}/{name}"),
        })
    }
}

pub(super) async fn open(location: &Location) -> Result<DatabaseConnection, StorageError> {
    match location {
        Location::SqliteDir(_) | Location::SqliteUrl(_) => {
            open_sqlite(sqlite_options(location)?, READ_CONNECTIONS).await
        }
        Location::Postgres(url) => {
            // The hot queries bind long IN lists; a cached generic plan cannot see their values
            // and, with statistics lagging a fast-growing table, scanned whole tables (measured
            // by the indicator benchmark: 100-300 ms a statement instead of 1-3). Planning each
            // execution with its values costs far less than one such scan.
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| StorageError::Config(format!("bad PostgreSQL URL: {e}")))?
                .options([("plan_cache_mode", "force_custom_plan")]);
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options)
                .await?;
            Ok(SqlxPostgresConnector::from_sqlx_postgres_pool(pool))
        }
    }
}

/// SQLite connections for reads; writes have one of their own (see [`open_sqlite_writer`]).
const READ_CONNECTIONS: u32 = 4;

fn sqlite_options(location: &Location) -> Result<SqliteConnectOptions, StorageError> {
    match location {
        Location::SqliteDir(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                StorageError::Config(format!(
                    "cannot create data directory {}: {e}",
                    dir.display()
                ))
            })?;
            Ok(SqliteConnectOptions::new().filename(dir.join("jmet.db")))
        }
        Location::SqliteUrl(url) => SqliteConnectOptions::from_str(url)
            .map_err(|e| StorageError::Config(format!("bad SQLite URL: {e}"))),
        Location::Postgres(_) => Err(StorageError::Config("not a SQLite location".into())),
    }
}

/// The one connection SQLite writes go through, beside the read pool: SQLite takes one writer
/// at a time anyway, and with a connection of its own a write never queues behind reads for a
/// pooled one (measured on the OpenRosa benchmark: requests' reads kept the batch writer
/// waiting for a connection). `None` on PostgreSQL, whose writers share its pool.
pub(super) async fn open_sqlite_writer(
    location: &Location,
) -> Result<Option<DatabaseConnection>, StorageError> {
    if location.is_postgres() {
        return Ok(None);
    }
    // An in-memory database is one per connection: its writer must be the pool itself.
    if matches!(location, Location::SqliteUrl(url) if url.contains(":memory:") || url.contains("mode=memory"))
    {
        return Ok(None);
    }
    Ok(Some(open_sqlite(sqlite_options(location)?, 1).await?))
}

async fn open_sqlite(
    options: SqliteConnectOptions,
    connections: u32,
) -> Result<DatabaseConnection, StorageError> {
    // WAL lets pulls read while a push writes; FULL makes every commit survive power loss, since an
    // ack promises durability. Writers are serialised in-process (see `Storage::write`), and the
    // busy timeout covers other processes such as `jmet device create` beside a running server.
    let options = options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(30))
        .foreign_keys(true)
        // 16 MiB of page cache per connection: the hot pages of an append-mostly schema fit, and
        // the pool's whole cache stays well inside the server's memory budget.
        .pragma("cache_size", "-16384")
        // No memory map: in WAL mode SQLite unmaps the whole file at the start of every read
        // transaction that finds the database changed, which under a stream of submissions is
        // every one; the munmap and its page faults cost more than the read() calls they save
        // (OpenRosa benchmark, 50,000 submissions: 1,469/s with a 1 GiB map, 1,574/s without).
        .pragma("mmap_size", "0")
        .pragma("temp_store", "memory")
        // Checkpoint every 32 MiB of WAL rather than SQLite's 4 MiB: a push writes a few MiB, and
        // pages written again before a checkpoint are copied to the database file only once.
        .pragma("wal_autocheckpoint", "8192")
        .pragma("journal_size_limit", "67108864");
    let pool = SqlitePoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await?;
    Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
}

#[cfg(test)]
mod tests {
    use super::Location;

    #[test]
    fn another_database_on_the_same_server() {
        let url = |base: &str| match Location::postgres_database(base, "t1") {
            Location::Postgres(url) => url,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            url("postgres://u@h:5432/postgres"),
            "postgres://u@h:5432/t1"
        );
        assert_eq!(url("postgres://u@h:5432"), "postgres://u@h:5432/t1");
        assert_eq!(
            url("postgresql://u:p@h/db?sslmode=disable"),
            "postgresql://u:p@h/t1?sslmode=disable"
        );
    }
}
