//! The storage layer: every query lives under this module, one file per use-case area.

mod audit;
mod connect;
mod devices;
mod enrollment;
mod evidence;
mod facilities;
mod forms;
mod history;
mod indicators;
mod migration;
mod open;
mod openrosa;
mod queue;
mod recommendations;
mod reference;
mod reviews;
mod sedp;
mod series;
mod sql;
mod sync;
mod teams;
mod territories;
mod users;
mod values;

use std::sync::Arc;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement,
    TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use tokio::sync::{Mutex, MutexGuard};

pub use audit::AuditReport;
pub use connect::Location;
pub use devices::{AuthedDevice, NewDevice};
pub use enrollment::{EnrollError, EnrollmentCode};
pub use evidence::{MergedRecord, PhotoBlob, StoredFlag, UploadState, VisitPlace};
pub use facilities::StoredFacility;
pub use forms::{FormSummary, OpenRosaContext, SubmissionContext};
pub use history::{CommentEntry, HistoryEntry, ReviewEntry};
pub use indicators::{IndicatorView, MePlan};
pub use open::{ApprovedSubmission, ChainLink, ChainPosition, FacilityVisits, PublishedHead};
pub use openrosa::OpenRosaInstance;
pub use recommendations::{CouncilDecision, DeviceMember, RecommendationRecord, VoteOp};
pub use reviews::NewReview;
pub use series::{
    LsgEntry, LsgEntryView, ProjectionRun, StoredValue, SubmissionState, SurveyTally, ValueBasis,
    resolve_operand,
};
pub use sync::{
    CheckedOp, DELETED_FIELD, PullPage, PullRow, Quarantined, SyncTable, Verdict, deleted_register,
};
pub use teams::{DeviceView, MemberRecord, TeamView, check_date};
pub use territories::{ImportFailure, StoredTerritory};
pub use users::{Credentials, EVERYWHERE, NewApiToken, NewSession, NewUser, UserSummary};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    #[error("database error: {0}")]
    Sqlx(#[from] sea_orm::sqlx::Error),
    #[error("{0}")]
    Config(String),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    /// The change contradicts what is stored (a login taken, a code reused).
    #[error("{0}")]
    Conflict(String),
}

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Storage {
    db: DatabaseConnection,
    /// SQLite's connections for write transactions; `None` where they share `db`.
    writers: Option<Arc<connect::SqliteWriters>>,
    /// SQLite allows one writer at a time per file; queueing writers here instead of in
    /// SQLite's busy handler means fifty pushing devices wait their turn instead of failing
    /// with "locked". PostgreSQL needs no gate: the change counter row lock orders writers
    /// (see `sync.rs`), and the projection locks per scope (see `series.rs`).
    write_gate: Option<Arc<Mutex<()>>>,
    /// The projection's file has a writer of its own (see [`Storage::write_projection`]);
    /// `None` where it shares `write_gate` (PostgreSQL, an in-memory database).
    projection_gate: Option<Arc<Mutex<()>>>,
    epoch: Arc<str>,
    /// Parsed form definitions by (id, version). A stored version never changes (see
    /// `import_form`), so what one replica parsed stays right whatever another imports.
    form_cache: Arc<std::sync::RwLock<FormCache>>,
}

type FormCache = std::collections::HashMap<(String, u32), Arc<sync_protocol::FormDef>>;

pub(crate) struct WriteTx<'a> {
    pub tx: DatabaseTransaction,
    _gate: Option<MutexGuard<'a, ()>>,
    _projection_gate: Option<MutexGuard<'a, ()>>,
}

/// Which file(s) a write transaction writes on SQLite.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lane {
    Main,
    Projection,
    Both,
}

impl Storage {
    /// Connects, runs pending migrations, and reads the database's identity.
    pub async fn open(location: &Location) -> Result<Self, StorageError> {
        // Two processes creating one SQLite file at the same instant can meet SQLITE_BUSY while
        // switching it to WAL, where SQLite does not wait on its busy handler; the loser retries.
        let mut attempt = 0;
        loop {
            match Self::open_once(location).await {
                Err(e) if attempt < 10 && e.to_string().contains("database is locked") => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
                }
                result => return result,
            }
        }
    }

    async fn open_once(location: &Location) -> Result<Self, StorageError> {
        let db = connect::open(location).await?;
        migrate(&db).await?;
        if db.get_database_backend() == DbBackend::Sqlite {
            projection_file_present(&db).await?;
        }
        let writers = connect::open_sqlite_writers(location).await?;
        let sqlite = db.get_database_backend() == DbBackend::Sqlite;
        let write_gate = sqlite.then(|| Arc::new(Mutex::new(())));
        let projection_gate = (sqlite && writers.is_some()).then(|| Arc::new(Mutex::new(())));
        let epoch = sql::query_scalar_text(
            &db,
            sql::Sql::new(db.get_database_backend())
                .push("SELECT value FROM server_meta WHERE key = 'epoch'"),
        )
        .await?
        .ok_or_else(|| StorageError::Corrupt("server_meta has no epoch".into()))?;
        Ok(Self {
            db,
            writers: writers.map(Arc::new),
            write_gate,
            projection_gate,
            epoch: epoch.into(),
            form_cache: Arc::default(),
        })
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Identity of this database; changes when the database is replaced.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// The underlying connection, for tests and tools that inspect the tables directly.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    pub async fn ping(&self) -> Result<(), StorageError> {
        self.db
            .query_one_raw(Statement::from_string(self.backend(), "SELECT 1"))
            .await?;
        Ok(())
    }

    /// Starts a write transaction on the records and the rest of the state: everything but the
    /// projection (see [`Storage::write_projection`]), which it may read.
    pub(crate) async fn write(&self) -> Result<WriteTx<'_>, StorageError> {
        self.begin_write(Lane::Main).await
    }

    /// Starts a write transaction on what is derived from the records: review statuses, flags,
    /// photo links, indicator facts and values, and the projection's frontier. On SQLite these
    /// live in a file of their own with a writer of its own, so a projector run never holds up
    /// the submissions; its transaction reads the records and is atomic within its file, which
    /// holds the frontier too.
    pub(crate) async fn write_projection(&self) -> Result<WriteTx<'_>, StorageError> {
        self.begin_write(Lane::Projection).await
    }

    /// Starts a write transaction on both the records and the projection, for the few use cases
    /// that change a source and its projected value together. On SQLite, in WAL mode, its
    /// commit is atomic per file, not across the two.
    pub(crate) async fn write_both(&self) -> Result<WriteTx<'_>, StorageError> {
        self.begin_write(Lane::Both).await
    }

    async fn begin_write(&self, lane: Lane) -> Result<WriteTx<'_>, StorageError> {
        if self.backend() != DbBackend::Sqlite {
            return Ok(WriteTx {
                tx: self.db.begin().await?,
                _gate: None,
                _projection_gate: None,
            });
        }
        // Always the main gate before the projection's, so that two lanes cannot deadlock.
        let main_gate = match (&self.write_gate, &self.projection_gate, lane) {
            (Some(gate), _, Lane::Main | Lane::Both) | (Some(gate), None, Lane::Projection) => {
                Some(gate.lock().await)
            }
            _ => None,
        };
        let projection_gate = match (&self.projection_gate, lane) {
            (Some(gate), Lane::Projection | Lane::Both) => Some(gate.lock().await),
            _ => None,
        };
        let db = match (&self.writers, lane) {
            (Some(writers), Lane::Main) => &writers.main,
            (Some(writers), Lane::Projection) => &writers.projection,
            // The read pool attaches both files read-write.
            _ => &self.db,
        };
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        let tx = db.begin_with_options(options).await?;
        Ok(WriteTx {
            tx,
            _gate: main_gate,
            _projection_gate: projection_gate,
        })
    }

    /// Gives the database a new identity, so every cursor handed out before is answered with
    /// `cursor_reset` and phones pull afresh and re-send what they wrote. Part of restoring a
    /// backup: a restored database reuses sequence numbers its phones' cursors may already name.
    /// Running servers keep the identity they read at start; restart them.
    pub async fn rotate_epoch(&self, actor: &str, now_ms: i64) -> Result<String, StorageError> {
        let epoch = hex::encode(uuid::Uuid::new_v4().as_bytes());
        let write = self.write().await?;
        let q = sql::Sql::new(self.backend())
            .push("UPDATE server_meta SET value = ")
            .bind(epoch.as_str())
            .push(" WHERE key = 'epoch'");
        sql::execute(&write.tx, q).await?;
        audit::record(
            &write.tx,
            self.backend(),
            now_ms,
            actor,
            "epoch.rotate",
            serde_json::json!({"epoch": epoch}).to_string(),
        )
        .await?;
        write.tx.commit().await?;
        Ok(epoch)
    }

    pub async fn close(self) -> Result<(), StorageError> {
        self.db.close().await?;
        Ok(())
    }
}

/// The projection's file goes with the database: one restored without it (or beside another
/// database's) would answer "no such table" on every page, so the server refuses to start.
async fn projection_file_present(db: &DatabaseConnection) -> Result<(), StorageError> {
    let tables = migration::PROJECTION_TABLES;
    let q = sql::Sql::new(DbBackend::Sqlite).push(&format!(
        "SELECT COUNT(*) FROM {}.sqlite_master WHERE type = 'table' AND name IN ({})",
        connect::PROJECTION_SCHEMA,
        tables.map(|t| format!("'{t}'")).join(", ")
    ));
    let found = sql::query_scalar_i64(db, q).await?.unwrap_or(0);
    if found != tables.len() as i64 {
        return Err(StorageError::Config(format!(
            "the projection's file (jmet-projection.db beside jmet.db) is missing or is not this \
             database's: it holds {found} of its {} tables. Restore it from the same backup as \
             jmet.db",
            tables.len()
        )));
    }
    Ok(())
}

/// Applies pending migrations in one transaction that first takes the database's write lock, so
/// servers starting at once on one database (replicas, or a CLI beside a server) migrate one at a
/// time: on PostgreSQL an advisory lock, on SQLite `BEGIN IMMEDIATE`.
async fn migrate(db: &DatabaseConnection) -> Result<(), StorageError> {
    let tx = if db.get_database_backend() == DbBackend::Postgres {
        let tx = db.begin().await?;
        tx.execute_unprepared("SELECT pg_advisory_xact_lock(7306548391)")
            .await?;
        tx
    } else {
        db.begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?
    };
    migration::Migrator::up(&tx, None).await?;
    tx.commit().await?;
    Ok(())
}
