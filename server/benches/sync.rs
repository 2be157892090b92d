//! Sync throughput and memory benchmark: `cargo bench -p jmet-server --bench sync`.
//!
//! Runs the real `jmet serve` binary (built in the bench profile, i.e. release) as a child process
//! on a loopback port, once over a fresh SQLite data directory and once over a fresh PostgreSQL
//! database, and drives it over HTTP as phones do. Devices are made with `jmet device create`.
//! For each backend it measures:
//!
//! 1. push throughput: batches of 500 ops x 10 fields (strings, numbers, a GPS object, booleans),
//!    every op a new record, one scope, `Content-Type: application/json`. Three kinds: one client;
//!    four concurrent clients, each its own device; one client with gzip request bodies (and gzip
//!    answers). The rate falls as the database grows, so after a warm-up the kinds take turns,
//!    three rounds of 40 pushes each, and each kind reports its median round. Every op must come
//!    back `applied`, and at the end the tables must hold exactly what was pushed.
//! 2. pull throughput: a fresh device pulls everything from no cursor with limit=5000, plain and
//!    gzip; it must receive every record and field pushed. On PostgreSQL a `VACUUM (ANALYZE)` runs
//!    first (see there why).
//! 3. a plain batched INSERT into a scratch table of the register data a push writes
//!    (1000-row statements, five per transaction, values bound), from this process through
//!    `Storage::open` (same connection settings as the server), on the same database, while the
//!    server is idle. As many rows as
//!    one push round's field changes.
//! 4. with `JMET_BENCH_MILLION=1`: the database is loaded through the push path by four devices
//!    until it holds 1,000,000 records, then the one-client push is measured again.
//! 5. the server's peak resident memory (VmHWM at the end) and the largest VmRSS sampled every
//!    100 ms by a thread of its own.
//!
//! Each phase also prints where the CPU went (server, PostgreSQL's processes, this process, and
//! anything else, which flags a busy machine), iowait, and the bytes each process wrote to disk.
//!
//! Environment: `JMET_BENCH_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! names the PostgreSQL server on which a scratch database is created and dropped (PostgreSQL is
//! skipped, with the reason, when it does not answer); `JMET_BENCH_MILLION=1` enables step 4.
//! Arguments `sqlite` or `postgres` run one backend only:
//! `cargo bench -p jmet-server --bench sync -- sqlite`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use jmet::storage::{NewDevice, SyncTable};
use jmet::{Location, Storage};
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE};
use sea_orm::sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, SqliteTransactionMode,
    Statement, TransactionOptions, TransactionTrait,
};
use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use sync_protocol::{Change, Clock, Collection, FieldName, Op, OpId, PushRequest, RecordId, Scope};

const SCOPE: &str = "m1";
const COLLECTION: &str = "comments";
const OPS_PER_BATCH: usize = 500;
const FIELDS_PER_OP: usize = 10;
const FIELDS_PER_BATCH: usize = OPS_PER_BATCH * FIELDS_PER_OP;
const WARMUP_BATCHES: usize = 3;
const TIMED_BATCHES: usize = 40;
/// Timed rounds per push measurement; the median is reported.
const ROUNDS: usize = 3;
const CONCURRENT_CLIENTS: usize = 4;
const PULL_LIMIT: usize = 5000;
const INSERT_ROWS_PER_STATEMENT: usize = 1000;
const INSERT_STATEMENTS_PER_TX: usize = 5;
const SCRATCH_TABLE: &str = "bench_plain_insert";
const MILLION: usize = 1_000_000;
const LOAD_CLIENTS: usize = 4;
const LOAD_PROGRESS_EVERY: usize = 100_000;
const RSS_SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// Above this much CPU (% of a core) used by other processes a result is flagged.
const INTERFERENCE_PCT: f64 = 20.0;

const GOAL_SQLITE_PUSH: f64 = 120_000.0;
const GOAL_RATIO: f64 = 3.0;
const GOAL_DELTA_1M: f64 = 20.0;
const GOAL_RSS_MB: f64 = 100.0;

/// `JMET_BENCH_IDS=v4`: random op and record ids, as a client that ignores the protocol's advice
/// to use time-ordered UUIDv7 (the default here, as in the `sync-protocol` replica) would send.
fn random_ids() -> bool {
    static RANDOM: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *RANDOM.get_or_init(|| std::env::var("JMET_BENCH_IDS").is_ok_and(|v| v == "v4"))
}

fn main() {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f));
    let million = std::env::var("JMET_BENCH_MILLION").is_ok_and(|v| v == "1");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        print_machine_facts(million);
        let mut results = Vec::new();
        if wants("sqlite") {
            results.push(run_backend(Kind::Sqlite, million).await);
        }
        if wants("postgres") {
            results.push(run_backend(Kind::Postgres, million).await);
        }
        print_summary(&results, million);
    });
}

// ---------------------------------------------------------------------------------------------
// Backends and databases

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
        }
    }
}

fn postgres_base_url() -> String {
    std::env::var("JMET_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A fresh database for one backend's run; removed when dropped.
struct BenchDb {
    location: Location,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl BenchDb {
    async fn new(kind: Kind) -> Result<BenchDb, String> {
        match kind {
            Kind::Sqlite => {
                let dir = tempfile::Builder::new()
                    .prefix("jmet-bench-")
                    .tempdir()
                    .map_err(|e| format!("temp dir: {e}"))?;
                Ok(BenchDb {
                    location: Location::SqliteDir(dir.path().to_path_buf()),
                    _dir: Some(dir),
                    pg_name: None,
                })
            }
            Kind::Postgres => {
                let base = postgres_base_url();
                let mut admin = match tokio::time::timeout(
                    Duration::from_secs(5),
                    PgConnection::connect(&base),
                )
                .await
                {
                    Ok(Ok(conn)) => conn,
                    Ok(Err(e)) => return Err(format!("cannot connect to {base}: {e}")),
                    Err(_) => return Err(format!("timed out connecting to {base}")),
                };
                let name = format!("jmet_bench_{}", uuid::Uuid::new_v4().simple());
                admin
                    .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .map_err(|e| format!("cannot create database {name} on {base}: {e}"))?;
                let _ = admin.close().await;
                Ok(BenchDb {
                    location: Location::postgres_database(&base, &name),
                    _dir: None,
                    pg_name: Some(name),
                })
            }
        }
    }

    fn cli_args(&self) -> Vec<String> {
        match &self.location {
            Location::SqliteDir(dir) => vec!["--data-dir".into(), dir.display().to_string()],
            Location::SqliteUrl(url) | Location::Postgres(url) => {
                vec!["--database-url".into(), url.clone()]
            }
        }
    }

    /// Bytes the database occupies on disk.
    async fn size_bytes(&self, storage: &Storage) -> u64 {
        match &self.location {
            Location::SqliteDir(dir) => ["jmet.db", "jmet.db-wal", "jmet.db-shm"]
                .iter()
                .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
                .map(|m| m.len())
                .sum(),
            _ => query_text(
                storage.connection(),
                "SELECT pg_database_size(current_database())::text",
            )
            .await
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        }
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // Drop cannot await and the runtime is busy driving us: use a thread of its own.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async {
                    match PgConnection::connect(&postgres_base_url()).await {
                        Ok(mut admin) => {
                            match admin
                                .execute(AssertSqlSafe(format!(
                                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                                )))
                                .await
                            {
                                Ok(_) => println!("  dropped database {name}"),
                                Err(e) => println!("  WARNING: could not drop {name}: {e}"),
                            }
                            let _ = admin.close().await;
                        }
                        Err(e) => println!("  WARNING: could not drop {name}: {e}"),
                    }
                });
            })
            .join();
        }
    }
}

async fn query_text(db: &DatabaseConnection, sql: &str) -> Option<String> {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .ok()??;
    row.try_get_by_index::<String>(0).ok()
}

// ---------------------------------------------------------------------------------------------
// The server process

fn jmet_command() -> StdCommand {
    let mut command = StdCommand::new(env!("CARGO_BIN_EXE_jmet"));
    // The production default filter, stated so that a RUST_LOG in the caller's shell cannot change
    // what the server does per request; DATABASE_URL would override --data-dir.
    command
        .env("RUST_LOG", "info,sqlx=warn,sea_orm=warn")
        .env_remove("DATABASE_URL");
    command
}

/// A device as the bench drives it: its credentials and its own clock (node = device id).
struct Device {
    token: String,
    clock: Clock,
}

fn create_device(db: &BenchDb) -> Device {
    let out = jmet_command()
        .args(["device", "create", "--scope", SCOPE, "--label", "bench"])
        .args(db.cli_args())
        .output()
        .expect("run jmet device create");
    assert!(
        out.status.success(),
        "jmet device create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let NewDevice { device_id, token } =
        serde_json::from_slice(&out.stdout).expect("device create prints {device_id, token}");
    Device {
        token,
        clock: Clock::new(device_id.0),
    }
}

struct Server {
    child: std::process::Child,
    pid: u32,
    url: String,
    log: PathBuf,
}

impl Server {
    async fn start(db: &BenchDb, kind: Kind) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let log = std::env::temp_dir().join(format!("jmet-bench-{}.log", kind.name()));
        let log_file = std::fs::File::create(&log).expect("server log file");
        let child = jmet_command()
            .arg("serve")
            .args(db.cli_args())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("spawn jmet serve");
        let pid = child.id();
        let url = format!("http://127.0.0.1:{port}");
        let mut server = Server {
            child,
            pid,
            url,
            log,
        };
        let http = plain_client();
        for _ in 0..600 {
            let health = http.get(format!("{}/healthz", server.url)).send().await;
            if health.is_ok_and(|r| r.status() == 200) {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "jmet serve exited with {status}; log:\n{}",
                    std::fs::read_to_string(&server.log).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("jmet serve did not become healthy in 30 s");
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Answers uncompressed: no `Accept-Encoding: gzip`.
fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_gzip()
        .timeout(Duration::from_secs(300))
        .build()
        .expect("http client")
}

/// Sends `Accept-Encoding: gzip` and inflates answers, as a phone on a slow link would.
fn gzip_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .expect("http client")
}

// ---------------------------------------------------------------------------------------------
// /proc readings: memory and CPU

fn proc_status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn clock_ticks_per_sec() -> f64 {
    StdCommand::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in clock ticks; also its command name.
fn proc_cpu_ticks(stat_path: &Path) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_owned();
    let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

/// Bytes a process has caused to be written to storage so far (`write_bytes` of /proc/PID/io,
/// counted when it dirties file pages): WAL, checkpoints and data files alike, but not sockets.
fn proc_written_bytes(proc_dir: &Path) -> u64 {
    std::fs::read_to_string(proc_dir.join("io"))
        .ok()
        .and_then(|io| {
            io.lines()
                .find(|l| l.starts_with("write_bytes:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU ticks and bytes written so far by every process named `postgres` (the database server's
/// backends, WAL writer and checkpointer).
fn postgres_totals() -> (u64, u64) {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return (0, 0);
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| {
            let (comm, ticks) = proc_cpu_ticks(&e.path().join("stat"))?;
            (comm == "postgres").then(|| (ticks, proc_written_bytes(&e.path())))
        })
        .fold((0, 0), |(t, w), (ticks, written)| (t + ticks, w + written))
}

/// (busy, iowait, total) ticks of the whole machine, from /proc/stat.
fn machine_ticks() -> (u64, u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().next() else {
        return (0, 0, 0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0);
    let iowait = v.get(4).copied().unwrap_or(0);
    (total - idle - iowait, iowait, total)
}

#[derive(Clone, Copy)]
struct Snap {
    at: Instant,
    server: u64,
    client: u64,
    postgres: u64,
    server_written: u64,
    postgres_written: u64,
    bench_written: u64,
    machine: (u64, u64, u64),
}

/// Where the CPU went during a phase.
struct Probe {
    server_pid: u32,
    postgres: bool,
    ticks_per_sec: f64,
    /// The most CPU, in % of a core, that processes other than ours took during a phase.
    max_other_pct: std::cell::Cell<f64>,
}

impl Probe {
    fn snap(&self) -> Snap {
        let ticks = |pid: String| {
            proc_cpu_ticks(Path::new(&format!("/proc/{pid}/stat")))
                .map(|(_, t)| t)
                .unwrap_or(0)
        };
        let (postgres, postgres_written) = if self.postgres {
            postgres_totals()
        } else {
            (0, 0)
        };
        Snap {
            at: Instant::now(),
            server: ticks(self.server_pid.to_string()),
            client: ticks("self".into()),
            postgres,
            server_written: proc_written_bytes(Path::new(&format!("/proc/{}", self.server_pid))),
            postgres_written,
            bench_written: proc_written_bytes(Path::new("/proc/self")),
            machine: machine_ticks(),
        }
    }

    /// "server 1.23 s CPU (95% of a core), ..." between two snapshots.
    fn describe(&self, a: &Snap, b: &Snap) -> String {
        let wall = b.at.duration_since(a.at).as_secs_f64();
        let secs = |x: u64, y: u64| y.saturating_sub(x) as f64 / self.ticks_per_sec;
        let pct = |s: f64| 100.0 * s / wall;
        let server = secs(a.server, b.server);
        let client = secs(a.client, b.client);
        let mut out = format!("CPU: server {server:.2} s ({:.0}% of a core)", pct(server));
        if self.postgres {
            let pg = secs(a.postgres, b.postgres);
            out.push_str(&format!(", postgres {pg:.2} s ({:.0}%)", pct(pg)));
        }
        out.push_str(&format!(", bench {client:.2} s ({:.0}%)", pct(client)));
        let total = b.machine.2.saturating_sub(a.machine.2).max(1) as f64;
        let busy = b.machine.0.saturating_sub(a.machine.0) as f64;
        let iowait = b.machine.1.saturating_sub(a.machine.1) as f64;
        // Whatever else ran meanwhile (another build, say) took CPU from the measurement.
        let ours = server + client + secs(a.postgres, b.postgres);
        let other = (busy / self.ticks_per_sec - ours).max(0.0);
        self.max_other_pct
            .set(self.max_other_pct.get().max(pct(other)));
        out.push_str(&format!(
            "; machine {:.0}% busy, {:.0}% iowait, other processes {:.0}% of a core",
            100.0 * busy / total,
            100.0 * iowait / total,
            pct(other)
        ));
        let mb = |x: u64, y: u64| y.saturating_sub(x) as f64 / 1e6;
        out.push_str(&format!(
            "; disk writes: server {:.0} MB",
            mb(a.server_written, b.server_written)
        ));
        if self.postgres {
            out.push_str(&format!(
                ", postgres {:.0} MB",
                mb(a.postgres_written, b.postgres_written)
            ));
        }
        out.push_str(&format!(
            ", bench {:.0} MB",
            mb(a.bench_written, b.bench_written)
        ));
        out
    }
}

/// Samples the server's VmRSS every 100 ms on a thread of its own (unaffected by a busy runtime).
struct RssSampler {
    stop: Arc<AtomicBool>,
    max_kb: Arc<AtomicU64>,
    samples: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let max_kb = Arc::new(AtomicU64::new(0));
        let samples = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, max_kb, samples) = (stop.clone(), max_kb.clone(), samples.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(kb) = proc_status_kb(pid, "VmRSS:") {
                        max_kb.fetch_max(kb, Ordering::Relaxed);
                        samples.fetch_add(1, Ordering::Relaxed);
                    }
                    std::thread::sleep(RSS_SAMPLE_EVERY);
                }
            })
        };
        RssSampler {
            stop,
            max_kb,
            samples,
            thread: Some(thread),
        }
    }

    fn max_mb(&self) -> f64 {
        self.max_kb.load(Ordering::Relaxed) as f64 / 1024.0
    }

    fn finish(mut self) -> (f64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        (self.max_mb(), self.samples.load(Ordering::Relaxed))
    }
}

// ---------------------------------------------------------------------------------------------
// Making ops as a phone does

/// SplitMix64: field values are reproducible from the seed; ids are random v4 UUIDs as on phones.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A decimal with `decimals` digits after the point in [lo, lo + span).
    fn decimal(&mut self, lo: f64, span: f64, decimals: i32) -> f64 {
        let scale = 10f64.powi(decimals);
        let x = lo + span * (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        (x * scale).round() / scale
    }
}

/// Builds visit records: 10 fields of the kinds a monitoring form produces.
struct OpMaker {
    rng: Rng,
    collection: Collection,
    scope: Scope,
    names: Vec<FieldName>,
}

const PUMP_STATUS: &[&str] = &["working", "broken", "repaired", "no_pump"];
const NOTES: &[&str] = &[
    "Pump broken since October",
    "Water is clear, no smell",
    "Long queue at the tap in the morning",
    "Tank needs cleaning",
    "",
    "Caretaker absent; spoke to the neighbour",
];
const INSPECTORS: &[&str] = &["Aida K.", "Bakyt T.", "Cholpon A.", "Daniyar S."];

impl OpMaker {
    fn new(seed: u64) -> OpMaker {
        let names = [
            "facility_id",
            "captured_at",
            "gps",
            "water_ok",
            "people_served",
            "depth_m",
            "pump_status",
            "notes",
            "inspector",
            "photo_count",
        ]
        .iter()
        .map(|n| FieldName::parse(*n).expect("field name"))
        .collect::<Vec<_>>();
        assert_eq!(names.len(), FIELDS_PER_OP);
        OpMaker {
            rng: Rng(seed),
            collection: Collection::parse(COLLECTION).expect("collection"),
            scope: Scope::parse(SCOPE).expect("scope"),
            names,
        }
    }

    fn fields(&mut self) -> BTreeMap<FieldName, Value> {
        let r = &mut self.rng;
        let values: [Value; FIELDS_PER_OP] = [
            Value::String(
                uuid::Uuid::from_u128(u128::from(r.next()) << 64 | u128::from(r.next()))
                    .to_string(),
            ),
            Value::String(format!(
                "2025-11-{:02}T{:02}:{:02}:{:02}+06:00",
                1 + r.below(28),
                r.below(24),
                r.below(60),
                r.below(60)
            )),
            serde_json::json!({
                "lat": r.decimal(39.2, 3.8, 6),
                "lon": r.decimal(69.3, 10.9, 6),
                "acc": r.decimal(2.0, 40.0, 1),
            }),
            Value::Bool(r.below(4) != 0),
            Value::from(r.below(2500)),
            Value::from(r.decimal(1.0, 80.0, 1)),
            Value::from(PUMP_STATUS[r.below(PUMP_STATUS.len() as u64) as usize]),
            Value::from(NOTES[r.below(NOTES.len() as u64) as usize]),
            Value::from(INSPECTORS[r.below(INSPECTORS.len() as u64) as usize]),
            Value::from(r.below(7)),
        ];
        self.names.iter().cloned().zip(values).collect()
    }

    /// A new record of 10 fields, stamped by the device's clock.
    fn new_record(&mut self, clock: &mut Clock) -> Op {
        let (op_id, record_id) = if random_ids() {
            (OpId(uuid::Uuid::new_v4()), RecordId(uuid::Uuid::new_v4()))
        } else {
            (OpId::generate(), RecordId::generate())
        };
        Op {
            op_id,
            collection: self.collection.clone(),
            record_id,
            scope: self.scope.clone(),
            hlc: clock.tick(jmet::sync::now_ms()),
            change: Change::Set(self.fields()),
        }
    }

    fn batch(&mut self, clock: &mut Clock, ops: usize) -> Vec<Op> {
        (0..ops).map(|_| self.new_record(clock)).collect()
    }
}

/// A push request serialised ahead of time, so the timed loop only sends.
struct Body {
    bytes: Vec<u8>,
    ops: usize,
    fields: usize,
    gzip: bool,
}

impl Body {
    fn new(ops: Vec<Op>, gzip: bool) -> Body {
        let n = ops.len();
        let fields = ops
            .iter()
            .map(|op| match &op.change {
                Change::Set(f) => f.len(),
                Change::Delete(_) => 1,
            })
            .sum();
        let json = serde_json::to_vec(&PushRequest { ops }).expect("serialise push");
        let bytes = if gzip {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(&json).expect("gzip");
            enc.finish().expect("gzip")
        } else {
            json
        };
        Body {
            bytes,
            ops: n,
            fields,
            gzip,
        }
    }
}

#[derive(Deserialize)]
struct PushAnswer {
    results: Vec<PushResult>,
}

#[derive(Deserialize)]
struct PushResult {
    status: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// Pushes one batch and checks that every op was `applied`.
async fn push(http: &reqwest::Client, url: &str, token: &str, body: Body) {
    let mut request = http
        .post(format!("{url}/api/v1/sync/push"))
        .bearer_auth(token)
        .header(CONTENT_TYPE, "application/json");
    if body.gzip {
        request = request.header(CONTENT_ENCODING, "gzip");
    }
    let response = request.body(body.bytes).send().await.expect("push request");
    let status = response.status();
    let bytes = response.bytes().await.expect("push answer body");
    assert!(
        status == 200,
        "push answered {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    let answer: PushAnswer = serde_json::from_slice(&bytes).expect("push answer JSON");
    assert_eq!(answer.results.len(), body.ops, "one result per op");
    if let Some(bad) = answer.results.iter().find(|r| r.status != "applied") {
        let n = answer
            .results
            .iter()
            .filter(|r| r.status != "applied")
            .count();
        panic!(
            "{n} of {} ops were not applied; first: {} {:?} {:?}",
            body.ops, bad.status, bad.code, bad.message
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Pull: count fields without building values

#[derive(Deserialize)]
struct PullPage {
    records: Vec<PullRecord>,
    cursor: String,
    more: bool,
}

#[derive(Deserialize)]
struct PullRecord {
    fields: FieldCount,
}

struct FieldCount(usize);

impl<'de> Deserialize<'de> for FieldCount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Count;
        impl<'de> Visitor<'de> for Count {
            type Value = FieldCount;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of fields")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FieldCount, A::Error> {
                let mut n = 0;
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(FieldCount(n))
            }
        }
        d.deserialize_map(Count)
    }
}

struct PullTotals {
    records: usize,
    fields: usize,
    pages: usize,
    bytes: usize,
    secs: f64,
}

async fn pull_everything(http: &reqwest::Client, url: &str, token: &str) -> PullTotals {
    let start = Instant::now();
    let mut cursor: Option<String> = None;
    let mut totals = PullTotals {
        records: 0,
        fields: 0,
        pages: 0,
        bytes: 0,
        secs: 0.0,
    };
    loop {
        let mut query = vec![("limit", PULL_LIMIT.to_string())];
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let response = http
            .get(format!("{url}/api/v1/sync/pull"))
            .bearer_auth(token)
            .query(&query)
            .send()
            .await
            .expect("pull request");
        let status = response.status();
        let bytes = response.bytes().await.expect("pull body");
        assert!(
            status == 200,
            "pull answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        let page: PullPage = serde_json::from_slice(&bytes).expect("pull page JSON");
        totals.pages += 1;
        totals.bytes += bytes.len();
        totals.records += page.records.len();
        totals.fields += page.records.iter().map(|r| r.fields.0).sum::<usize>();
        cursor = Some(page.cursor);
        if !page.more {
            break;
        }
    }
    totals.secs = start.elapsed().as_secs_f64();
    totals
}

// ---------------------------------------------------------------------------------------------
// One backend's run

#[derive(Default)]
struct BackendResult {
    name: &'static str,
    skipped: Option<String>,
    push1: f64,
    push4: f64,
    push_gzip: f64,
    insert: f64,
    pull_fields: f64,
    pull_records: f64,
    pull_gzip_fields: f64,
    push_1m: Option<f64>,
    rss_before_pull_mb: f64,
    max_other_pct: f64,
    peak_hwm_mb: f64,
    max_rss_mb: f64,
}

/// What the server has been sent and acknowledged so far in this run.
#[derive(Default)]
struct Pushed {
    records: usize,
    fields: usize,
}

struct Ctx {
    url: String,
    probe: Probe,
    sampler: RssSampler,
    pushed: Pushed,
}

impl Ctx {
    fn rss_note(&self) -> String {
        let now = proc_status_kb(self.probe.server_pid, "VmRSS:").unwrap_or(0) as f64 / 1024.0;
        format!(
            "server RSS now {now:.1} MB, max sampled {:.1} MB",
            self.sampler.max_mb()
        )
    }
}

async fn run_backend(kind: Kind, million: bool) -> BackendResult {
    let mut result = BackendResult {
        name: kind.name(),
        ..Default::default()
    };
    println!();
    println!("=== {} ===", kind.name());
    let db = match BenchDb::new(kind).await {
        Ok(db) => db,
        Err(reason) => {
            println!(
                "  SKIPPED: {reason} (set JMET_BENCH_DATABASE_URL to a PostgreSQL server \
                 where the bench may create a database)"
            );
            result.skipped = Some(reason);
            return result;
        }
    };
    match &db.location {
        Location::SqliteDir(dir) => println!("  database: fresh SQLite in {}", dir.display()),
        Location::Postgres(url) => println!("  database: fresh PostgreSQL database {url}"),
        Location::SqliteUrl(url) => println!("  database: {url}"),
    }

    let mut main_device = create_device(&db);
    let mut concurrent: Vec<Device> = (0..CONCURRENT_CLIENTS)
        .map(|_| create_device(&db))
        .collect();
    let puller = create_device(&db);
    // The bench's own connection: same settings as the server's (WAL + synchronous=FULL on SQLite).
    let storage = Storage::open(&db.location).await.expect("open storage");
    print_backend_facts(&storage).await;

    let server = Server::start(&db, kind).await;
    println!(
        "  server: pid {} on {}, log {}",
        server.pid,
        server.url,
        server.log.display()
    );
    let mut ctx = Ctx {
        url: server.url.clone(),
        probe: Probe {
            server_pid: server.pid,
            postgres: kind == Kind::Postgres,
            ticks_per_sec: clock_ticks_per_sec(),
            max_other_pct: std::cell::Cell::new(0.0),
        },
        sampler: RssSampler::start(server.pid),
        pushed: Pushed::default(),
    };
    let mut maker = OpMaker::new(0x6a6d_6574_0000_0001);
    let http = plain_client();

    // 1. Push throughput on a (nearly) empty database. The rate falls as the database grows, so
    // the three kinds of push take turns, round by round, and each reports its median round.
    println!();
    println!(
        "  push: batches of {OPS_PER_BATCH} ops x {FIELDS_PER_OP} fields, every op a new record, \
         scope {SCOPE}; after warm-up, {ROUNDS} rounds of {TIMED_BATCHES} timed pushes of each \
         kind, the kinds taking turns; the median round is reported"
    );
    let gzip_http = gzip_client();
    let concurrent_http: Vec<reqwest::Client> = concurrent.iter().map(|_| plain_client()).collect();
    warm_up(&mut ctx, &http, &mut main_device, &mut maker, false).await;
    warm_up(&mut ctx, &gzip_http, &mut main_device, &mut maker, true).await;
    for (device, client) in concurrent.iter_mut().zip(&concurrent_http) {
        warm_up(&mut ctx, client, device, &mut maker, false).await;
    }
    let (mut plain, mut four, mut gzip) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        let n = format!("({round}/{ROUNDS})");
        let label = format!("1 client {n}");
        plain.push(push_round(&mut ctx, &http, &mut main_device, &mut maker, false, &label).await);
        let label = format!("{CONCURRENT_CLIENTS} clients {n}");
        four.push(
            push_concurrent_round(
                &mut ctx,
                &mut concurrent,
                &concurrent_http,
                &mut maker,
                &label,
            )
            .await,
        );
        let label = format!("1 client, gzip {n}");
        gzip.push(
            push_round(
                &mut ctx,
                &gzip_http,
                &mut main_device,
                &mut maker,
                true,
                &label,
            )
            .await,
        );
    }
    println!("    medians:");
    result.push1 = report_median("1 client", &plain);
    result.push4 = report_median(&format!("{CONCURRENT_CLIENTS} clients"), &four);
    result.push_gzip = report_median("1 client, gzip", &gzip);
    result.rss_before_pull_mb = ctx.sampler.max_mb();
    let pushed_1_client = TIMED_BATCHES * FIELDS_PER_BATCH;

    // 2. Pull throughput.
    println!();
    println!("  pull: a fresh device pulls everything from no cursor, limit={PULL_LIMIT}");
    if kind == Kind::Postgres {
        // The first read of freshly inserted rows sets their hint bits (and autovacuum may start
        // on the new rows at any moment), which writes gigabytes and makes the first pull's rate
        // depend on luck. Vacuum first, as autovacuum would have on a server in service, so the
        // pull measures the read path.
        let start = Instant::now();
        storage
            .connection()
            .execute_unprepared("VACUUM (ANALYZE)")
            .await
            .expect("vacuum");
        println!(
            "    (VACUUM (ANALYZE) first, as autovacuum would have: {:.1} s)",
            start.elapsed().as_secs_f64()
        );
    }
    let a = ctx.probe.snap();
    let pulled = pull_everything(&http, &ctx.url, &puller.token).await;
    let b = ctx.probe.snap();
    assert_eq!(
        (pulled.records, pulled.fields),
        (ctx.pushed.records, ctx.pushed.fields),
        "the pull must return every record and field pushed"
    );
    result.pull_fields = pulled.fields as f64 / pulled.secs;
    result.pull_records = pulled.records as f64 / pulled.secs;
    println!(
        "    {:<22} {:>9} fields, {:>7} records in {:>6.2} s = {:>9} f/s, {:>7} rec/s \
         ({} pages, {:.1} MB JSON)",
        "uncompressed",
        fmt_int(pulled.fields as f64),
        fmt_int(pulled.records as f64),
        pulled.secs,
        fmt_int(result.pull_fields),
        fmt_int(result.pull_records),
        pulled.pages,
        pulled.bytes as f64 / 1e6
    );
    println!("      {}; {}", ctx.probe.describe(&a, &b), ctx.rss_note());
    let a = ctx.probe.snap();
    let pulled_gz = pull_everything(&gzip_client(), &ctx.url, &puller.token).await;
    let b = ctx.probe.snap();
    assert_eq!(pulled_gz.fields, ctx.pushed.fields);
    result.pull_gzip_fields = pulled_gz.fields as f64 / pulled_gz.secs;
    println!(
        "    {:<22} {:>9} fields, {:>7} records in {:>6.2} s = {:>9} f/s, {:>7} rec/s",
        "gzip answers",
        fmt_int(pulled_gz.fields as f64),
        fmt_int(pulled_gz.records as f64),
        pulled_gz.secs,
        fmt_int(result.pull_gzip_fields),
        fmt_int(pulled_gz.records as f64 / pulled_gz.secs)
    );
    println!("      {}; {}", ctx.probe.describe(&a, &b), ctx.rss_note());

    // 3. Plain batched INSERT baseline, same database, server idle.
    println!();
    println!(
        "  plain insert (bench process, server idle): {} rows into scratch table {SCRATCH_TABLE}, \
         {INSERT_ROWS_PER_STATEMENT} rows per INSERT, {INSERT_STATEMENTS_PER_TX} INSERTs per \
         transaction",
        fmt_int(pushed_1_client as f64)
    );
    result.insert = plain_insert(&ctx, &storage, &mut maker, pushed_1_client).await;
    println!(
        "    push (1 client) / plain insert: {:.2}x slower",
        result.insert / result.push1
    );

    // 4. Push at scale.
    println!();
    if million {
        load_to_million(&mut ctx, &storage, &mut concurrent, &db).await;
        println!("  push at {} records:", fmt_int(MILLION as f64));
        warm_up(&mut ctx, &http, &mut main_device, &mut maker, false).await;
        let mut rates = Vec::new();
        for round in 1..=ROUNDS {
            let label = format!("1 client @1M ({round}/{ROUNDS})");
            rates.push(
                push_round(&mut ctx, &http, &mut main_device, &mut maker, false, &label).await,
            );
        }
        let rate = report_median("1 client @1M", &rates);
        println!(
            "    vs empty database: {} -> {} f/s ({:+.1}%)",
            fmt_int(result.push1),
            fmt_int(rate),
            pct_change(result.push1, rate)
        );
        result.push_1m = Some(rate);
    } else {
        println!(
            "  push at 1,000,000 records: skipped (run with JMET_BENCH_MILLION=1 to load the \
             database to 1M records through the push path and measure again)"
        );
    }

    // Final checks and memory.
    let records = storage
        .count(SyncTable::Records)
        .await
        .expect("count records") as usize;
    let fields = storage
        .count(SyncTable::Fields)
        .await
        .expect("count fields") as usize;
    assert_eq!(
        (records, fields),
        (ctx.pushed.records, ctx.pushed.fields),
        "the database holds exactly what was pushed"
    );
    let quarantined = storage
        .count(SyncTable::Quarantine)
        .await
        .expect("count quarantine");
    assert_eq!(quarantined, 0, "nothing was quarantined");
    let size = db.size_bytes(&storage).await;
    result.peak_hwm_mb = proc_status_kb(server.pid, "VmHWM:").unwrap_or(0) as f64 / 1024.0;
    result.max_other_pct = ctx.probe.max_other_pct.get();
    let Ctx { sampler, .. } = ctx;
    let (max_rss, samples) = sampler.finish();
    result.max_rss_mb = max_rss;
    println!();
    println!(
        "  database at the end: {} records, {} fields, {:.0} MB on disk",
        fmt_int(records as f64),
        fmt_int(fields as f64),
        size as f64 / 1e6
    );
    println!(
        "  server memory: peak RSS (VmHWM) {:.1} MB; max VmRSS over {samples} samples (every \
         {} ms) {:.1} MB",
        result.peak_hwm_mb,
        RSS_SAMPLE_EVERY.as_millis(),
        result.max_rss_mb
    );
    server.stop();
    let _ = storage.close().await;
    drop(db);
    result
}

/// A few pushes to settle connections, caches and the server's allocator before timing.
async fn warm_up(
    ctx: &mut Ctx,
    http: &reqwest::Client,
    device: &mut Device,
    maker: &mut OpMaker,
    gzip: bool,
) {
    for _ in 0..WARMUP_BATCHES {
        let body = Body::new(maker.batch(&mut device.clock, OPS_PER_BATCH), gzip);
        ctx.pushed.records += body.ops;
        ctx.pushed.fields += body.fields;
        push(http, &ctx.url, &device.token, body).await;
    }
}

/// `TIMED_BATCHES` pushes from one device, one after the other; answers field changes per second.
async fn push_round(
    ctx: &mut Ctx,
    http: &reqwest::Client,
    device: &mut Device,
    maker: &mut OpMaker,
    gzip: bool,
    label: &str,
) -> f64 {
    let bodies: Vec<Body> = (0..TIMED_BATCHES)
        .map(|_| Body::new(maker.batch(&mut device.clock, OPS_PER_BATCH), gzip))
        .collect();
    let fields: usize = bodies.iter().map(|b| b.fields).sum();
    let ops: usize = bodies.iter().map(|b| b.ops).sum();
    let wire: usize = bodies.iter().map(|b| b.bytes.len()).sum();
    let records_before = ctx.pushed.records;
    let a = ctx.probe.snap();
    for body in bodies {
        push(http, &ctx.url, &device.token, body).await;
    }
    let b = ctx.probe.snap();
    ctx.pushed.records += ops;
    ctx.pushed.fields += fields;
    let secs = b.at.duration_since(a.at).as_secs_f64();
    let rate = fields as f64 / secs;
    println!(
        "    {label:<24} {:>9} fields in {secs:>6.2} s = {:>9} f/s ({:.1} ms per push, {:.1} MB \
         sent, from {} records)",
        fmt_int(fields as f64),
        fmt_int(rate),
        1000.0 * secs / TIMED_BATCHES as f64,
        wire as f64 / 1e6,
        fmt_int(records_before as f64)
    );
    println!("      {}; {}", ctx.probe.describe(&a, &b), ctx.rss_note());
    rate
}

/// `TIMED_BATCHES` pushes in all, shared by the devices, which push at the same time.
async fn push_concurrent_round(
    ctx: &mut Ctx,
    devices: &mut [Device],
    clients: &[reqwest::Client],
    maker: &mut OpMaker,
    label: &str,
) -> f64 {
    let per_client = TIMED_BATCHES / devices.len();
    let timed: Vec<Vec<Body>> = devices
        .iter_mut()
        .map(|device| {
            (0..per_client)
                .map(|_| Body::new(maker.batch(&mut device.clock, OPS_PER_BATCH), false))
                .collect()
        })
        .collect();
    let fields: usize = timed.iter().flatten().map(|b| b.fields).sum();
    let ops: usize = timed.iter().flatten().map(|b| b.ops).sum();
    let records_before = ctx.pushed.records;
    let a = ctx.probe.snap();
    let tasks: Vec<_> = devices
        .iter()
        .zip(clients)
        .zip(timed)
        .map(|((device, http), bodies)| {
            let url = ctx.url.clone();
            let token = device.token.clone();
            let http = http.clone();
            tokio::spawn(async move {
                for body in bodies {
                    push(&http, &url, &token, body).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("pusher task");
    }
    let b = ctx.probe.snap();
    ctx.pushed.records += ops;
    ctx.pushed.fields += fields;
    let secs = b.at.duration_since(a.at).as_secs_f64();
    let rate = fields as f64 / secs;
    println!(
        "    {label:<24} {:>9} fields in {secs:>6.2} s = {:>9} f/s ({per_client} pushes per \
         client, from {} records)",
        fmt_int(fields as f64),
        fmt_int(rate),
        fmt_int(records_before as f64)
    );
    println!("      {}; {}", ctx.probe.describe(&a, &b), ctx.rss_note());
    rate
}

/// The median of `rates`, printed with their range.
fn report_median(label: &str, rates: &[f64]) -> f64 {
    let mut sorted = rates.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let (lo, hi) = (sorted[0], sorted[sorted.len() - 1]);
    println!(
        "    {label:<24} median {:>9} f/s (rounds: {}; spread {:.1}%)",
        fmt_int(median),
        rates
            .iter()
            .map(|r| fmt_int(*r))
            .collect::<Vec<_>>()
            .join(", "),
        100.0 * (hi - lo) / median
    );
    median
}

/// Loads the database through the push path until it holds one million records.
async fn load_to_million(ctx: &mut Ctx, storage: &Storage, devices: &mut [Device], db: &BenchDb) {
    let have = storage
        .count(SyncTable::Records)
        .await
        .expect("count records") as usize;
    let missing = MILLION.saturating_sub(have);
    println!(
        "  loading to {} records through the push path: {} more records ({} fields) from {} \
         concurrent devices",
        fmt_int(MILLION as f64),
        fmt_int(missing as f64),
        fmt_int((missing * FIELDS_PER_OP) as f64),
        LOAD_CLIENTS.min(devices.len())
    );
    let remaining = Arc::new(AtomicUsize::new(missing));
    let done = Arc::new(AtomicUsize::new(have));
    // (time, records) at the last progress line, for the rate of the last 100k records.
    let last_mark = Arc::new(std::sync::Mutex::new((Instant::now(), have)));
    let start = Instant::now();
    let a = ctx.probe.snap();
    let mut tasks = Vec::new();
    for (i, device) in devices.iter().take(LOAD_CLIENTS).enumerate() {
        let remaining = remaining.clone();
        let done = done.clone();
        let last_mark = last_mark.clone();
        let url = ctx.url.clone();
        let token = device.token.clone();
        let mut clock = device.clock.clone();
        let server_pid = ctx.probe.server_pid;
        tasks.push(tokio::spawn(async move {
            let http = plain_client();
            let mut maker = OpMaker::new(0x6c6f_6164_0000_0000 + i as u64);
            loop {
                let claimed = remaining
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| {
                        (r > 0).then(|| r - r.min(OPS_PER_BATCH))
                    })
                    .unwrap_or(0);
                let n = claimed.min(OPS_PER_BATCH);
                if n == 0 {
                    break;
                }
                let body = Body::new(maker.batch(&mut clock, n), false);
                push(&http, &url, &token, body).await;
                let before = done.fetch_add(n, Ordering::Relaxed);
                let after = before + n;
                if before / LOAD_PROGRESS_EVERY != after / LOAD_PROGRESS_EVERY {
                    let now = Instant::now();
                    let mut mark = last_mark.lock().expect("progress mark");
                    let window = (now.duration_since(mark.0).as_secs_f64(), after - mark.1);
                    *mark = (now, after);
                    drop(mark);
                    let secs = start.elapsed().as_secs_f64();
                    println!(
                        "    {:>9} records after {secs:>6.1} s: last {} records at {} f/s, \
                         average {} f/s; server RSS {:.1} MB",
                        fmt_int((after / LOAD_PROGRESS_EVERY * LOAD_PROGRESS_EVERY) as f64),
                        fmt_int(window.1 as f64),
                        fmt_int((window.1 * FIELDS_PER_OP) as f64 / window.0),
                        fmt_int(((after - have) * FIELDS_PER_OP) as f64 / secs),
                        proc_status_kb(server_pid, "VmRSS:").unwrap_or(0) as f64 / 1024.0
                    );
                }
            }
            clock
        }));
    }
    for (device, task) in devices.iter_mut().zip(tasks) {
        device.clock = task.await.expect("loader task");
    }
    let b = ctx.probe.snap();
    ctx.pushed.records += missing;
    ctx.pushed.fields += missing * FIELDS_PER_OP;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "    loaded {} records in {secs:.1} s = {} f/s; database now {:.0} MB on disk",
        fmt_int(missing as f64),
        fmt_int((missing * FIELDS_PER_OP) as f64 / secs),
        db.size_bytes(storage).await as f64 / 1e6
    );
    println!("      {}; {}", ctx.probe.describe(&a, &b), ctx.rss_note());
}

/// Multi-row INSERTs into a scratch table of the register data a push writes (collection, record
/// id, field, scope, value, HLC, sequence number; keyed by record and field), values bound as
/// parameters; answers rows per second.
async fn plain_insert(ctx: &Ctx, storage: &Storage, maker: &mut OpMaker, rows: usize) -> f64 {
    let db = storage.connection();
    let backend = db.get_database_backend();
    db.execute_unprepared(&format!("DROP TABLE IF EXISTS {SCRATCH_TABLE}"))
        .await
        .expect("drop scratch table");
    db.execute_unprepared(&format!(
        "CREATE TABLE {SCRATCH_TABLE} (collection TEXT NOT NULL, record_id TEXT NOT NULL, \
         field TEXT NOT NULL, scope TEXT NOT NULL, value TEXT NOT NULL, hlc TEXT NOT NULL, \
         seq BIGINT NOT NULL, PRIMARY KEY (collection, record_id, field))"
    ))
    .await
    .expect("create scratch table");

    // The same rows a push of the same size writes to `fields`, built before the clock starts.
    let mut clock = Clock::new(uuid::Uuid::new_v4());
    let mut seq: i64 = 0;
    let mut statements: Vec<Statement> = Vec::new();
    let mut values: Vec<sea_orm::Value> = Vec::new();
    let mut in_statement = 0;
    let mut remaining = rows;
    while remaining > 0 {
        let op = maker.new_record(&mut clock);
        let Change::Set(fields) = &op.change else {
            unreachable!()
        };
        for (name, value) in fields {
            if remaining == 0 {
                break;
            }
            seq += 1;
            values.extend([
                sea_orm::Value::from(op.collection.as_str().to_owned()),
                op.record_id.to_string().into(),
                name.as_str().to_owned().into(),
                op.scope.as_str().to_owned().into(),
                sync_protocol::canonical_json(value).into(),
                op.hlc.to_string().into(),
                seq.into(),
            ]);
            in_statement += 1;
            remaining -= 1;
            if in_statement == INSERT_ROWS_PER_STATEMENT || remaining == 0 {
                statements.push(insert_statement(
                    backend,
                    in_statement,
                    std::mem::take(&mut values),
                ));
                in_statement = 0;
            }
        }
    }

    let a = ctx.probe.snap();
    let mut statements = statements.into_iter().peekable();
    while statements.peek().is_some() {
        let tx = begin_write(db).await;
        for statement in statements.by_ref().take(INSERT_STATEMENTS_PER_TX) {
            tx.execute_raw(statement).await.expect("insert");
        }
        tx.commit().await.expect("commit");
    }
    let b = ctx.probe.snap();
    let secs = b.at.duration_since(a.at).as_secs_f64();
    let stored = query_text(
        db,
        &format!("SELECT CAST(COUNT(*) AS TEXT) FROM {SCRATCH_TABLE}"),
    )
    .await
    .and_then(|s| s.parse::<usize>().ok());
    assert_eq!(stored, Some(rows), "every row was inserted");
    db.execute_unprepared(&format!("DROP TABLE {SCRATCH_TABLE}"))
        .await
        .expect("drop scratch table");
    let rate = rows as f64 / secs;
    println!(
        "    {:<22} {:>9} rows   in {secs:>6.2} s = {:>9} rows/s ({} transactions)",
        "plain insert",
        fmt_int(rows as f64),
        fmt_int(rate),
        rows.div_ceil(INSERT_ROWS_PER_STATEMENT * INSERT_STATEMENTS_PER_TX)
    );
    println!("      {}", ctx.probe.describe(&a, &b));
    rate
}

fn insert_statement(backend: DbBackend, rows: usize, values: Vec<sea_orm::Value>) -> Statement {
    let mut sql = format!(
        "INSERT INTO {SCRATCH_TABLE} (collection, record_id, field, scope, value, hlc, seq) VALUES "
    );
    let mut n = 0;
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for col in 0..7 {
            if col > 0 {
                sql.push_str(", ");
            }
            n += 1;
            match backend {
                DbBackend::Postgres => sql.push_str(&format!("${n}")),
                _ => sql.push('?'),
            }
        }
        sql.push(')');
    }
    Statement::from_sql_and_values(backend, sql, values)
}

/// The same kind of transaction the server writes in (IMMEDIATE on SQLite).
async fn begin_write(db: &DatabaseConnection) -> DatabaseTransaction {
    if db.get_database_backend() == DbBackend::Sqlite {
        db.begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
        .expect("begin")
    } else {
        db.begin().await.expect("begin")
    }
}

// ---------------------------------------------------------------------------------------------
// Reporting

fn fmt_int(x: f64) -> String {
    let n = x.round().max(0.0) as u64;
    let digits = n.to_string();
    let mut out = String::new();
    let first = match digits.len() % 3 {
        0 => 3,
        r => r,
    };
    out.push_str(&digits[..first]);
    for group in digits.as_bytes()[first..].chunks(3) {
        out.push(',');
        out.push_str(std::str::from_utf8(group).unwrap_or_default());
    }
    out
}

fn pct_change(from: f64, to: f64) -> f64 {
    100.0 * (to - from) / from
}

fn print_machine_facts(million: bool) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let mem_gb = proc_meminfo_kb("MemTotal:").unwrap_or(0) as f64 / 1024.0 / 1024.0;
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    println!("jmet sync benchmark");
    println!(
        "  machine: {nproc} CPUs ({cpu}), {mem_gb:.1} GB RAM, Linux {}",
        kernel.trim()
    );
    println!(
        "  server: {} (bench profile), spawned as a child process; load generator in this \
         process shares the same {nproc} CPUs",
        env!("CARGO_BIN_EXE_jmet")
    );
    println!(
        "  workload: {OPS_PER_BATCH} ops x {FIELDS_PER_OP} fields per push, {TIMED_BATCHES} timed \
         pushes = {} field changes per measurement; pull limit {PULL_LIMIT}; 1M step {}",
        fmt_int((TIMED_BATCHES * FIELDS_PER_BATCH) as f64),
        if million { "ON" } else { "off" }
    );
    println!(
        "  ids: {}",
        if random_ids() {
            "random UUIDv4 op and record ids (JMET_BENCH_IDS=v4)"
        } else {
            "time-ordered UUIDv7 op and record ids, as the sync-protocol replica makes them \
             (JMET_BENCH_IDS=v4 for random ones)"
        }
    );
}

fn proc_meminfo_kb(key: &str) -> Option<u64> {
    std::fs::read_to_string("/proc/meminfo")
        .ok()?
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

async fn print_backend_facts(storage: &Storage) {
    let db = storage.connection();
    match db.get_database_backend() {
        DbBackend::Sqlite => {
            let version = query_text(db, "SELECT sqlite_version()").await;
            let journal = query_text(db, "PRAGMA journal_mode").await;
            let sync = query_text(
                db,
                "SELECT CAST(synchronous AS TEXT) FROM pragma_synchronous",
            )
            .await;
            println!(
                "  SQLite {} (journal_mode={}, synchronous={} [2=FULL])",
                version.unwrap_or_default(),
                journal.unwrap_or_default(),
                sync.unwrap_or_default()
            );
        }
        _ => {
            let version = query_text(db, "SHOW server_version").await;
            let mut settings = Vec::new();
            for name in [
                "shared_buffers",
                "synchronous_commit",
                "fsync",
                "max_wal_size",
            ] {
                if let Some(v) = query_text(db, &format!("SHOW {name}")).await {
                    settings.push(format!("{name}={v}"));
                }
            }
            println!(
                "  PostgreSQL {} ({})",
                version.unwrap_or_default(),
                settings.join(", ")
            );
        }
    }
}

fn print_summary(results: &[BackendResult], million: bool) {
    println!();
    println!(
        "=== summary (f/s = field changes per second; ratio = plain insert rows/s / push 1 \
         client f/s) ==="
    );
    let header = [
        "backend",
        "push 1 client",
        "push 4 clients",
        "push gzip",
        "plain insert",
        "ratio",
        "pull",
        "pull records",
        "push @1M",
        "Δ@1M",
        "server peak RSS",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for r in results {
        if let Some(reason) = &r.skipped {
            rows.push(vec![r.name.to_owned(), format!("skipped: {reason}")]);
            continue;
        }
        rows.push(vec![
            r.name.to_owned(),
            format!("{} f/s", fmt_int(r.push1)),
            format!("{} f/s", fmt_int(r.push4)),
            format!("{} f/s", fmt_int(r.push_gzip)),
            format!("{} rows/s", fmt_int(r.insert)),
            format!("{:.2}x", r.insert / r.push1),
            format!("{} f/s", fmt_int(r.pull_fields)),
            format!("{} rec/s", fmt_int(r.pull_records)),
            match r.push_1m {
                Some(v) => format!("{} f/s", fmt_int(v)),
                None => "not run".into(),
            },
            match r.push_1m {
                Some(v) => format!("{:+.1}%", pct_change(r.push1, v)),
                None => "-".into(),
            },
            format!(
                "{:.1} MB (sampled max {:.1} MB; {:.1} MB before the pulls)",
                r.peak_hwm_mb, r.max_rss_mb, r.rss_before_pull_mb
            ),
        ]);
    }
    let columns = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter(|r| r.len() == columns)
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, s)| {
                if row.len() < columns {
                    s.clone()
                } else {
                    format!("{s:<w$}", w = widths[c])
                }
            })
            .collect();
        println!("{}", cells.join(" | ").trim_end());
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            println!("{}", rule.join("-|-"));
        }
    }
    if !million {
        println!(
            "(push @1M: set JMET_BENCH_MILLION=1 to load 1,000,000 records and measure again)"
        );
    }

    for r in results.iter().filter(|r| r.skipped.is_none()) {
        if r.max_other_pct > INTERFERENCE_PCT {
            println!(
                "WARNING: {}: other processes took up to {:.0}% of a core during a measured \
                 phase; its numbers are likely low. Re-run on an idle machine.",
                r.name, r.max_other_pct
            );
        }
    }

    println!();
    println!("goals:");
    let verdict = |ok: bool| if ok { "met   " } else { "MISSED" };
    for r in results.iter().filter(|r| r.skipped.is_none()) {
        if r.name == "sqlite" {
            println!(
                "  [{}] {}: push >= {} f/s: {} f/s",
                verdict(r.push1 >= GOAL_SQLITE_PUSH),
                r.name,
                fmt_int(GOAL_SQLITE_PUSH),
                fmt_int(r.push1)
            );
        }
        let ratio = r.insert / r.push1;
        println!(
            "  [{}] {}: push at most {GOAL_RATIO:.0}x slower than plain insert: {ratio:.2}x",
            verdict(ratio <= GOAL_RATIO),
            r.name
        );
        if let Some(v) = r.push_1m {
            let delta = pct_change(r.push1, v);
            println!(
                "  [{}] {}: push @1M within {GOAL_DELTA_1M:.0}% of empty: {delta:+.1}%",
                verdict(delta >= -GOAL_DELTA_1M),
                r.name
            );
        }
        let rss = r.peak_hwm_mb.max(r.max_rss_mb);
        println!(
            "  [{}] {}: server peak RSS < {GOAL_RSS_MB:.0} MB: {rss:.1} MB",
            verdict(rss < GOAL_RSS_MB),
            r.name
        );
    }
}
