//! Starting real servers on loopback over a fresh SQLite file or a fresh PostgreSQL database, and
//! talking to them as a phone would.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use jmet::storage::NewDevice;
use jmet::{Location, Settings, Storage};
use sea_orm::sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use serde_json::Value;
use sync_protocol::{PullResponse, PushRequest, PushResponse, Scope};
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs an async test body once per backend: `on_both!(name)` makes `name::sqlite` and
/// `name::postgres` from `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::$name($crate::harness::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    if $crate::harness::postgres_available().await {
                        super::$name($crate::harness::Backend::Postgres).await
                    }
                }
            }
        )*
    };
}

/// The server used as an admin connection to create per-test databases.
pub fn postgres_base_url() -> String {
    std::env::var("JMET_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Whether PostgreSQL tests can run. Without a server they are skipped with a printed reason,
/// unless `JMET_REQUIRE_POSTGRES=1` (set by CI) turns that into a failure.
pub async fn postgres_available() -> bool {
    static STATE: OnceLock<Result<(), String>> = OnceLock::new();
    if STATE.get().is_none() {
        let url = postgres_base_url();
        let probe = tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&url)).await;
        let state = match probe {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                Ok(())
            }
            Ok(Err(e)) => Err(format!("cannot connect to {url}: {e}")),
            Err(_) => Err(format!("timed out connecting to {url}")),
        };
        let _ = STATE.set(state);
    }
    match STATE.get() {
        Some(Ok(())) => true,
        Some(Err(reason)) => {
            if std::env::var("JMET_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!("PostgreSQL is required (JMET_REQUIRE_POSTGRES=1) but {reason}");
            }
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                // Straight to stderr: the test harness captures eprintln! of passing tests.
                let _ = std::io::Write::write_all(
                    &mut std::io::stderr(),
                    format!("\nSKIPPED: PostgreSQL tests not run: {reason}. Set JMET_TEST_DATABASE_URL to run them.\n").as_bytes(),
                );
            });
            false
        }
        None => false,
    }
}

/// A fresh, empty database that lives as long as this value.
pub struct TestDb {
    pub location: Location,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                TestDb {
                    location: Location::SqliteDir(dir.path().to_path_buf()),
                    _dir: Some(dir),
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                let name = format!("jmet_t_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::connect(&postgres_base_url())
                    .await
                    .expect("admin connection");
                admin
                    .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .expect("create database");
                let _ = admin.close().await;
                TestDb {
                    location: Location::postgres_database(&postgres_base_url(), &name),
                    _dir: None,
                    pg_name: Some(name),
                }
            }
        }
    }

    /// Another handle on a database some other `TestDb` owns (and drops).
    fn borrowed(location: Location) -> TestDb {
        TestDb {
            location,
            _dir: None,
            pg_name: None,
        }
    }

    /// What `--data-dir` / `--database-url` would say for this database.
    pub fn cli_args(&self) -> Vec<String> {
        match &self.location {
            Location::SqliteDir(dir) => vec!["--data-dir".into(), dir.display().to_string()],
            Location::SqliteUrl(url) | Location::Postgres(url) => {
                vec!["--database-url".into(), url.clone()]
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // Best effort, on a thread of its own: Drop cannot await, and the test's runtime may be
            // shutting down. CI also drops every leftover jmet_t_* database after the run.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async {
                    if let Ok(mut admin) = PgConnection::connect(&postgres_base_url()).await {
                        let _ = admin
                            .execute(AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            )))
                            .await;
                        let _ = admin.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// A server running in this process on a loopback port.
pub struct TestServer {
    pub url: String,
    pub storage: Storage,
    /// The server's photo store (a local directory of its own).
    pub blobs: jmet::blobs::BlobStore,
    pub blob_dir: tempfile::TempDir,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Kept so the database outlives the server.
    _db: TestDb,
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, Settings::default()).await
    }

    pub async fn start_with(backend: Backend, settings: Settings) -> TestServer {
        let db = TestDb::new(backend).await;
        Self::serve(db, settings).await
    }

    /// Several servers on one database at once, as replicas behind a load balancer: they start
    /// together (racing to migrate) and serve the same data.
    pub async fn start_replicas(backend: Backend, count: usize) -> Vec<TestServer> {
        let primary = TestDb::new(backend).await;
        let location = primary.location.clone();
        let mut dbs = vec![primary];
        dbs.extend((1..count).map(|_| TestDb::borrowed(location.clone())));
        let starts = dbs
            .into_iter()
            .map(|db| Self::serve(db, Settings::default()));
        futures_join_all(starts).await
    }

    /// A server on an existing database (for example one handed back by `into_db`).
    pub async fn serve(db: TestDb, settings: Settings) -> TestServer {
        let storage = Storage::open(&db.location).await.expect("open storage");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().unwrap();
        let blob_dir = tempfile::tempdir().expect("blob dir");
        let blobs = jmet::blobs::BlobStore::open(&jmet::blobs::BlobConfig::Local {
            dir: blob_dir.path().to_owned(),
        })
        .expect("blob store");
        let app = jmet::build_app(storage.clone(), blobs.clone(), settings);
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            jmet::serve::serve(listener, app, async {
                let _ = rx.await;
            })
            .await
            .expect("serve");
        });
        TestServer {
            url: format!("http://{addr}"),
            storage,
            blobs,
            blob_dir,
            http: client(),
            shutdown: Some(tx),
            task: Some(task),
            _db: db,
        }
    }

    pub async fn device(&self, scopes: &[&str]) -> TestDevice {
        let scopes: Vec<Scope> = scopes.iter().map(|s| Scope::parse(*s).unwrap()).collect();
        let NewDevice { device_id, token } = self
            .storage
            .create_device(&scopes, Some("test"), "test", 0)
            .await
            .expect("create device");
        TestDevice {
            url: self.url.clone(),
            http: self.http.clone(),
            device_id,
            token,
        }
    }

    /// `--data-dir` / `--database-url` naming this server's database, for the `jmet` CLI.
    pub fn cli_args(&self) -> Vec<String> {
        self._db.cli_args()
    }

    /// Stops the server and hands back its database, to run the CLI on it or serve it again.
    pub async fn into_db(mut self) -> TestDb {
        self.shutdown_now().await;
        let location = self._db.location.clone();
        let _ = self.storage.clone().close().await;
        std::mem::replace(&mut self._db, TestDb::borrowed(location))
    }

    async fn shutdown_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client")
}

/// A phone's view of the API: its token and the calls it makes.
#[derive(Clone)]
pub struct TestDevice {
    pub url: String,
    pub http: reqwest::Client,
    pub device_id: sync_protocol::DeviceId,
    pub token: String,
}

impl TestDevice {
    pub async fn push(&self, request: &PushRequest) -> PushResponse {
        let response = self.push_raw(serde_json::to_value(request).unwrap()).await;
        assert_eq!(
            response.status(),
            200,
            "push failed: {:?}",
            response.text().await
        );
        response.json().await.expect("push answer")
    }

    pub async fn push_raw(&self, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}/api/v1/sync/push", self.url))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("send push")
    }

    pub async fn pull_raw(&self, cursor: Option<&str>, limit: Option<usize>) -> reqwest::Response {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(c) = cursor {
            query.push(("cursor", c.to_owned()));
        }
        if let Some(l) = limit {
            query.push(("limit", l.to_string()));
        }
        self.http
            .get(format!("{}/api/v1/sync/pull", self.url))
            .bearer_auth(&self.token)
            .query(&query)
            .send()
            .await
            .expect("send pull")
    }

    pub async fn pull(&self, cursor: Option<&str>, limit: Option<usize>) -> PullResponse {
        let response = self.pull_raw(cursor, limit).await;
        assert_eq!(
            response.status(),
            200,
            "pull failed: {:?}",
            response.text().await
        );
        response.json().await.expect("pull answer")
    }

    /// Pulls every page from `cursor` on and merges them into `store`; returns the final cursor.
    pub async fn pull_all(
        &self,
        store: &mut sync_protocol::Store,
        mut cursor: Option<String>,
        limit: usize,
    ) -> Option<String> {
        loop {
            let page = self.pull(cursor.as_deref(), Some(limit)).await;
            for record in &page.records {
                store.apply_pulled(record).expect("scope is stable");
            }
            cursor = Some(page.cursor);
            if !page.more {
                return cursor;
            }
        }
    }
}

/// The wall clock in ms, as phones stamp it.
pub fn now_ms() -> u64 {
    jmet::sync::now_ms()
}

/// Builds ops the way a phone does: stamped by the device's own clock.
pub struct OpMaker {
    pub clock: sync_protocol::Clock,
}

impl OpMaker {
    pub fn for_device(device: &TestDevice) -> OpMaker {
        OpMaker {
            clock: sync_protocol::Clock::new(device.device_id.0),
        }
    }

    pub fn set(
        &mut self,
        collection: &str,
        record_id: sync_protocol::RecordId,
        scope: &str,
        fields: Value,
    ) -> sync_protocol::Op {
        let fields = fields
            .as_object()
            .expect("fields object")
            .iter()
            .map(|(k, v)| {
                (
                    sync_protocol::FieldName::parse(k.as_str()).unwrap(),
                    v.clone(),
                )
            })
            .collect();
        self.op(
            collection,
            record_id,
            scope,
            sync_protocol::Change::Set(fields),
        )
    }

    pub fn delete(
        &mut self,
        collection: &str,
        record_id: sync_protocol::RecordId,
        scope: &str,
        deleted: bool,
    ) -> sync_protocol::Op {
        self.op(
            collection,
            record_id,
            scope,
            sync_protocol::Change::Delete(deleted),
        )
    }

    fn op(
        &mut self,
        collection: &str,
        record_id: sync_protocol::RecordId,
        scope: &str,
        change: sync_protocol::Change,
    ) -> sync_protocol::Op {
        sync_protocol::Op {
            op_id: sync_protocol::OpId::generate(),
            collection: sync_protocol::Collection::parse(collection).unwrap(),
            record_id,
            scope: Scope::parse(scope).unwrap(),
            hlc: self.clock.tick(now_ms()),
            change,
        }
    }
}

/// Awaits futures concurrently, in order of their results.
async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.expect("task"));
    }
    out
}
