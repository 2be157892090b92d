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
            let options = sqlite_options(location)?;
            let projection = projection_file(&options);
            let attach = Attach {
                schema: PROJECTION_SCHEMA,
                file: projection,
                read_only: false,
            };
            open_sqlite(options, READ_CONNECTIONS, Some(attach)).await
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

/// SQLite connections for reads; writes have one of their own (see [`open_sqlite_writers`]).
const READ_CONNECTIONS: u32 = 4;

/// The schema name the projection's file is attached under on SQLite.
pub(super) const PROJECTION_SCHEMA: &str = "projection";
/// The schema name the main file is attached under on the projector's connection.
const RECORDS_SCHEMA: &str = "records";

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

fn in_memory(location: &Location) -> bool {
    matches!(location, Location::SqliteUrl(url) if url.contains(":memory:") || url.contains("mode=memory"))
}

/// Where the projection's tables live: beside the database, `jmet.db` → `jmet-projection.db`.
/// An in-memory database gets an in-memory projection shared by its connections.
fn projection_file(options: &SqliteConnectOptions) -> AttachedFile {
    let main = options.get_filename();
    let name = main.to_string_lossy();
    if name.is_empty() || name.contains(":memory:") || name.starts_with("file:") {
        // One name per database, so that two in-memory databases of one process (tests) do
        // not share a projection.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return AttachedFile::Memory(format!(
            "file:jmet-projection-{}-{n}?mode=memory&cache=shared",
            std::process::id()
        ));
    }
    let stem = main
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "jmet".to_owned());
    let file = match main.extension() {
        Some(ext) => format!("{stem}-projection.{}", ext.to_string_lossy()),
        None => format!("{stem}-projection"),
    };
    AttachedFile::Path(main.with_file_name(file))
}

#[derive(Clone)]
enum AttachedFile {
    Path(std::path::PathBuf),
    /// A shared-cache in-memory database's URI.
    Memory(String),
}

impl AttachedFile {
    /// What `ATTACH` takes: a URI, so that read-only can be asked for (connections are opened
    /// with URI filenames allowed).
    fn uri(&self, read_only: bool) -> String {
        match self {
            AttachedFile::Memory(uri) => uri.clone(),
            AttachedFile::Path(path) => {
                let mut uri = String::from("file:");
                for c in path.to_string_lossy().chars() {
                    match c {
                        '%' => uri.push_str("%25"),
                        '?' => uri.push_str("%3f"),
                        '#' => uri.push_str("%23"),
                        c => uri.push(c),
                    }
                }
                if read_only {
                    uri.push_str("?mode=ro");
                }
                uri
            }
        }
    }
}

/// A second database file every connection of a pool attaches.
#[derive(Clone)]
struct Attach {
    schema: &'static str,
    file: AttachedFile,
    /// Attached read-only, a file takes no lock at `BEGIN IMMEDIATE`: a connection writing
    /// one file must not take the other's write lock (see [`open_sqlite_writers`]).
    read_only: bool,
}

/// SQLite's write connections, beside the read pool: `None` on PostgreSQL, whose writers share
/// its pool, and for an in-memory database, which is one per connection.
pub(super) struct SqliteWriters {
    /// Writes to the main file: the submissions, every merged record, the rest of the state.
    /// The projection's file is attached read-only: `BEGIN IMMEDIATE` takes the write lock of
    /// every file attached read-write, and the projector's runs must not hold this writer up.
    pub main: DatabaseConnection,
    /// Writes the projection: its own file as `main`, the records' file attached read-only.
    pub projection: DatabaseConnection,
}

/// With connections of their own, a write never queues behind reads for a pooled connection
/// (measured on the OpenRosa benchmark: requests' reads kept the batch writer waiting for a
/// connection), and the projection's file has a writer of its own, so a projector run (which
/// grows with the database) never holds up the submissions (measured: a third of the
/// submissions writer's time was spent waiting for projector runs).
pub(super) async fn open_sqlite_writers(
    location: &Location,
) -> Result<Option<SqliteWriters>, StorageError> {
    if location.is_postgres() || in_memory(location) {
        return Ok(None);
    }
    let options = sqlite_options(location)?;
    let projection = projection_file(&options);
    let main = open_sqlite(
        options.clone(),
        1,
        Some(Attach {
            schema: PROJECTION_SCHEMA,
            file: projection.clone(),
            read_only: true,
        }),
    )
    .await?;
    let AttachedFile::Path(projection_path) = &projection else {
        return Ok(None);
    };
    let main_file = AttachedFile::Path(options.get_filename().to_path_buf());
    let projection = open_sqlite(
        options.filename(projection_path),
        1,
        Some(Attach {
            schema: RECORDS_SCHEMA,
            file: main_file,
            read_only: true,
        }),
    )
    .await?;
    Ok(Some(SqliteWriters { main, projection }))
}

async fn open_sqlite(
    options: SqliteConnectOptions,
    connections: u32,
    attach: Option<Attach>,
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
        .pragma("cache_size", CACHE_SIZE)
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
    let mut pool = SqlitePoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(30));
    if let Some(attach) = attach {
        pool = pool.after_connect(move |conn, _| {
            let attach = attach.clone();
            Box::pin(async move { attach_to(conn, &attach).await })
        });
    }
    let pool = pool.connect_with(options).await?;
    Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
}

const CACHE_SIZE: &str = "-16384";

async fn attach_to(
    conn: &mut sea_orm::sqlx::SqliteConnection,
    attach: &Attach,
) -> Result<(), sea_orm::sqlx::Error> {
    use sea_orm::sqlx::{AssertSqlSafe, Executor};
    // Schema names are this module's constants; the file goes in as a bound value.
    let schema = attach.schema;
    sea_orm::sqlx::query(AssertSqlSafe(format!("ATTACH DATABASE ?1 AS {schema}")))
        .bind(attach.file.uri(attach.read_only))
        .execute(&mut *conn)
        .await?;
    let mut pragmas = format!("PRAGMA {schema}.cache_size = {CACHE_SIZE};");
    if !attach.read_only {
        // Journal mode and durability are per file; the connect options set them on `main`.
        pragmas.push_str(&format!(
            "PRAGMA {schema}.journal_mode = WAL; PRAGMA {schema}.synchronous = FULL; \
             PRAGMA {schema}.journal_size_limit = 67108864;"
        ));
    }
    conn.execute(AssertSqlSafe(pragmas)).await?;
    Ok(())
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
