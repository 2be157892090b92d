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
    /// SQLite's connection for write transactions; `None` where they share `db`.
    writer: Option<DatabaseConnection>,
    /// SQLite allows one writer at a time; queueing writers here instead of in SQLite's busy
    /// handler means fifty pushing devices wait their turn instead of failing with "locked".
    /// PostgreSQL needs no gate: the change counter row lock orders writers (see `sync.rs`).
    write_gate: Option<Arc<Mutex<()>>>,
    epoch: Arc<str>,
    /// Parsed form definitions by (id, version). A stored version never changes (see
    /// `import_form`), so what one replica parsed stays right whatever another imports.
    form_cache: Arc<std::sync::RwLock<FormCache>>,
}

type FormCache = std::collections::HashMap<(String, u32), Arc<sync_protocol::FormDef>>;

pub(crate) struct WriteTx<'a> {
    pub tx: DatabaseTransaction,
    _gate: Option<MutexGuard<'a, ()>>,
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
        let writer = connect::open_sqlite_writer(location).await?;
        let write_gate =
            (db.get_database_backend() == DbBackend::Sqlite).then(|| Arc::new(Mutex::new(())));
        let epoch = sql::query_scalar_text(
            &db,
            sql::Sql::new(db.get_database_backend())
                .push("SELECT value FROM server_meta WHERE key = 'epoch'"),
        )
        .await?
        .ok_or_else(|| StorageError::Corrupt("server_meta has no epoch".into()))?;
        Ok(Self {
            db,
            writer,
            write_gate,
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

    /// Starts the one kind of write transaction the server uses.
    pub(crate) async fn write(&self) -> Result<WriteTx<'_>, StorageError> {
        let gate = match &self.write_gate {
            Some(gate) => Some(gate.lock().await),
            None => None,
        };
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        let tx = if self.backend() == DbBackend::Sqlite {
            let db = self.writer.as_ref().unwrap_or(&self.db);
            db.begin_with_options(options).await?
        } else {
            self.db.begin().await?
        };
        Ok(WriteTx { tx, _gate: gate })
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
