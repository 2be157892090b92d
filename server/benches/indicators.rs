//! Indicator benchmark: `cargo bench -p jmet-server --bench indicators` (SQLite; add
//! `-- postgres` for PostgreSQL, with `JMET_BENCH_DATABASE_URL` naming the server on which a
//! scratch database is made and dropped; `JMET_BENCH_INGEST_ONLY=1` stops after step 1).
//!
//! The demo's shape scaled up: 450 municipalities, each with 4 water points and 2 health posts
//! visited every month for 10 years (2017-2026) and 60 survey respondents a year, 12 indicators
//! (mean, share, count, an LSG entry and a ratio) in an approved M&E plan, 10 yearly survey
//! instruments. About 324,000 visits and 270,000 survey responses.
//!
//! 1. Ingest with and without the projection: the same pushes (visits of 40 municipalities,
//!    batches of 250 ops per device over HTTP, form validation on) into two fresh databases, one
//!    server projecting after each push and one not; twice, alternating, medians reported.
//! 2. Load: everything else pushed the same way with the projection on.
//! 3. Reads over HTTP from one client, against the loaded database: the monthly series of one
//!    indicator for one municipality (120 values, with evidence ids) and the plan-versus-fact
//!    table of one municipality for a year (provisional basis, so with actuals), each for random
//!    municipalities, indicators and years, as a signed-in admin (so values carry evidence ids):
//!    2,000 requests each after 200 warm-up requests; p50, p95, p99, max.
//!
//! `JMET_BENCH_PANEL=N` instead measures the public panel: the first N municipalities' ten years
//! pushed as above, every submission approved (official figures are what the public sees), then
//! `GET /panel/{municipality}?year=` anonymously for random municipalities and years (the whole
//! server-rendered page: plan versus fact with charts, the survey over ten years, the scorecard,
//! the facility map), 2,000 requests after 200 warm-up requests. Goal: p99 < 50 ms.
//!
//! `JMET_BENCH_EXPORT=N` measures the streamed export: N submissions of one municipality (its
//! ten years, pushed again and again by new phones) marked
//! approved directly in the status table (a shortcut: the export reads only that), then
//! `GET /api/v1/open/{municipality}/submissions.csv` and `visits.geojson` read to the end while
//! the process's resident memory (server and client are one process) is sampled every 50,000
//! rows. Goal: memory stays flat, whatever N.

use std::time::{Duration, Instant};

use jmet::storage::NewDevice;
use jmet::{Location, Settings, Storage};
use serde_json::{Value, json};
use sync_protocol::{Change, Clock, Collection, FieldName, Op, OpId, PushRequest, RecordId, Scope};

const MUNICIPALITIES: usize = 450;
const YEARS: i32 = 10;
const FIRST_YEAR: i32 = 2017;
const WATER_POINTS: usize = 4;
const HEALTH_POSTS: usize = 2;
const RESPONDENTS: usize = 60;
const BATCH: usize = 250;
const AB_MUNICIPALITIES: usize = 40;
const READS: usize = 2000;
const WARMUP_READS: usize = 200;
const GOAL_P99_MS: f64 = 20.0;

const WATER_FORM: &str = include_str!("../../fixtures/demo/forms/water_visit.json");
const HEALTH_FORM: &str = include_str!("../../fixtures/demo/forms/health_visit.json");
const SURVEY_FORM: &str = include_str!("../../fixtures/demo/forms/resident_survey_2026.json");

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.below(10_000) as f64) < p * 10_000.0
    }
}

fn code(i: usize) -> String {
    format!("KG-B-R{:02}-{:03}", i / 30, i % 30)
}

fn territories() -> String {
    let square = |lon: f64, lat: f64, d: f64| json!({"type": "Polygon", "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]]});
    let feature = |code: &str, level: &str, parent: Option<&str>, geometry: Value| {
        json!({"type": "Feature", "geometry": geometry, "properties": {"code": code, "level": level,
            "parent": parent, "name_ky": code, "name_ru": code, "name_en": code}})
    };
    let mut features = vec![feature("KG-B", "oblast", None, square(70.0, 39.0, 10.0))];
    for r in 0..MUNICIPALITIES.div_ceil(30) {
        features.push(feature(
            &format!("KG-B-R{r:02}"),
            "rayon",
            Some("KG-B"),
            square(70.0 + r as f64 * 0.6, 39.0, 0.6),
        ));
    }
    for i in 0..MUNICIPALITIES {
        let (lon, lat) = (70.0 + (i / 30) as f64 * 0.6, 39.0 + (i % 30) as f64 * 0.02);
        let m = code(i);
        features.push(feature(
            &m,
            "municipality",
            Some(&format!("KG-B-R{:02}", i / 30)),
            square(lon, lat, 0.02),
        ));
        features.push(feature(
            &format!("{m}-V1"),
            "village",
            Some(&m),
            json!({"type": "Point", "coordinates": [lon + 0.01, lat + 0.01]}),
        ));
    }
    json!({"type": "FeatureCollection", "features": features}).to_string()
}

fn facility_codes(i: usize) -> Vec<(String, &'static str)> {
    let m = code(i);
    (0..WATER_POINTS)
        .map(|k| (format!("{m}-W{k}"), "water_point"))
        .chain((0..HEALTH_POSTS).map(|k| (format!("{m}-H{k}"), "health_post")))
        .collect()
}

fn facilities() -> String {
    let mut text =
        String::from("code,municipality,kind,name_ky,name_ru,name_en,lat,lon,delegated\n");
    for i in 0..MUNICIPALITIES {
        let (lon, lat) = (70.0 + (i / 30) as f64 * 0.6, 39.0 + (i % 30) as f64 * 0.02);
        for (c, kind) in facility_codes(i) {
            text.push_str(&format!(
                "{c},{},{kind},{c},{c},{c},{},{},no\n",
                code(i),
                lat + 0.01,
                lon + 0.01
            ));
        }
    }
    text
}

/// (suffix, baseline, yearly target, rule)
fn indicator_rules() -> Vec<(&'static str, f64, f64, Value)> {
    let agg = |form: &str, field: &str, f: &str| json!({"type": "aggregate", "form": form, "field": field, "fn": f});
    let share = |form: &str, field: &str, values: Value| json!({"type": "aggregate", "form": form, "field": field, "fn": "share", "values": values});
    vec![
        (
            "WAT-ACCESS",
            55.0,
            75.0,
            agg("water_visit", "households_served_share", "mean"),
        ),
        (
            "WAT-HOURS",
            8.0,
            18.0,
            agg("water_visit", "supply_hours", "mean"),
        ),
        (
            "WAT-QUALITY",
            70.0,
            90.0,
            share("water_visit", "water_clear", json!([true])),
        ),
        (
            "GOV-JMET",
            0.0,
            48.0,
            agg("water_visit", "facility", "count"),
        ),
        (
            "HLT-OPEN",
            75.0,
            90.0,
            share("health_visit", "open", json!([true])),
        ),
        (
            "HLT-STAFF",
            1.0,
            3.0,
            agg("health_visit", "staff_present", "mean"),
        ),
        (
            "HLT-WAIT",
            50.0,
            30.0,
            agg("health_visit", "wait_minutes", "mean"),
        ),
        (
            "HLT-MEDS",
            60.0,
            90.0,
            share("health_visit", "medicines", json!(["yes"])),
        ),
        (
            "SAT-WATER",
            40.0,
            60.0,
            share(
                "resident_survey",
                "water_satisfied",
                json!(["satisfied", "very_satisfied"]),
            ),
        ),
        (
            "SAT-MEETING",
            20.0,
            35.0,
            share("resident_survey", "attended_meeting", json!([true])),
        ),
        (
            "WAT-REPAIRS",
            0.0,
            12.0,
            json!({"type": "lsg_entry", "fn": "sum"}),
        ),
        (
            "WAT-PER100",
            0.0,
            30.0,
            json!({"type": "ratio", "numerator": "WAT-REPAIRS", "denominator": "GOV-JMET", "scale": 100}),
        ),
    ]
}

fn indicators() -> String {
    let mut text = String::from(
        "code,municipality,name_ky,name_ru,name_en,level,kind,unit,baseline,targets,measured_by,delegated,rule\n",
    );
    for i in 0..MUNICIPALITIES {
        let m = code(i);
        for (suffix, baseline, target, rule) in indicator_rules() {
            let targets: Vec<String> = (0..YEARS)
                .map(|y| {
                    let t = baseline + (target - baseline) * (y + 1) as f64 / YEARS as f64;
                    format!("{}:{t:.1}", FIRST_YEAR + y)
                })
                .collect();
            text.push_str(&format!(
                "{m}-{suffix},{m},{suffix},{suffix},{suffix},outcome,quantitative,u,{baseline},{},jmet,no,\"{}\"\n",
                targets.join(";"),
                rule.to_string().replace('"', "\"\"")
            ));
        }
    }
    text
}

/// Every submission of one municipality, in capture order: visits monthly, survey in October.
fn submissions(i: usize, rng: &mut Rng) -> Vec<(&'static str, Value)> {
    let m = code(i);
    let mut out = Vec::new();
    for y in 0..YEARS {
        let year = FIRST_YEAR + y;
        for month in 1..=12u32 {
            let progress = (y as f64 * 12.0 + month as f64) / (YEARS as f64 * 12.0);
            for (facility, kind) in facility_codes(i) {
                let day = 1 + rng.below(27);
                let mut v = json!({"facility": facility, "form_version": 1,
                    "captured_at": format!("{year}-{month:02}-{day:02}T{:02}:{:02}:00+06:00", 9 + rng.below(8), rng.below(60))});
                if kind == "water_point" {
                    v["form"] = json!("water_visit");
                    v["supply_hours"] = json!(8 + (progress * 10.0) as u64 + rng.below(5));
                    v["water_clear"] = json!(rng.chance(0.7 + 0.2 * progress));
                    v["households_served_share"] =
                        json!(55 + (progress * 20.0) as u64 + rng.below(8));
                } else {
                    v["form"] = json!("health_visit");
                    v["open"] = json!(rng.chance(0.75 + 0.15 * progress));
                    v["staff_present"] = json!(1 + rng.below(3));
                    v["medicines"] = json!(if rng.chance(0.6 + 0.3 * progress) {
                        "yes"
                    } else {
                        "no"
                    });
                    v["wait_minutes"] = json!(50 - (progress * 20.0) as u64 + rng.below(15));
                }
                out.push(("visits", v));
            }
        }
        for r in 0..RESPONDENTS {
            let age = ["18-29", "30-44", "45-59", "60+"][rng.below(4) as usize];
            let sat = [
                "very_dissatisfied",
                "dissatisfied",
                "neutral",
                "satisfied",
                "very_satisfied",
            ];
            let lift = y as f64 * 0.03;
            let s = ((rng.below(100) as f64 / 100.0 + lift) * 5.0).min(4.0) as usize;
            out.push((
                "survey_responses",
                json!({"form": "resident_survey", "form_version": y + 1,
                    "captured_at": format!("{year}-10-{:02}T10:00:00+06:00", 1 + r % 27),
                    "village": format!("{m}-V1"), "sex": if rng.chance(0.52) { "female" } else { "male" },
                    "age_band": age,
                    "water_satisfied": sat[s], "attended_meeting": rng.chance(0.2 + lift),
                    "trust_lsg": "trust"}),
            ));
        }
    }
    out
}

struct Server {
    url: String,
    token: String,
    storage: Storage,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
    pg_name: Option<String>,
}

async fn start(postgres: bool, project: bool) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let (location, pg_name) = if postgres {
        let base = std::env::var("JMET_BENCH_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("jmet_bench_ind_{}", uuid::Uuid::new_v4().simple());
        let admin = Storage::open(&Location::Postgres(base.clone()))
            .await
            .unwrap();
        use sea_orm::ConnectionTrait;
        admin
            .connection()
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
        (Location::Postgres(url), Some(name))
    } else {
        (Location::SqliteDir(dir.path().to_owned()), None)
    };
    let storage = Storage::open(&location).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let blobs = jmet::blobs::BlobStore::open(&jmet::blobs::BlobConfig::Local {
        dir: dir.path().join("blobs"),
    })
    .unwrap();
    let settings = Settings {
        project_indicators: project,
        ..Settings::default()
    };
    let app = jmet::build_app(storage.clone(), blobs, settings);
    tokio::spawn(async move {
        jmet::serve::serve(listener, app, std::future::pending())
            .await
            .unwrap();
    });
    let user = jmet::accounts::CreateUser {
        login: "bench.admin".into(),
        name: "Bench".into(),
        role: jmet::access::Role::Admin,
        scopes: vec!["*".into()],
        password: "bench-password-long".into(),
    };
    let user_id = jmet::accounts::create_user(&storage, user, "bench", 1)
        .await
        .unwrap();
    let token = storage
        .create_api_token(user_id, "bench", "bench", 1)
        .await
        .unwrap()
        .token;
    Server {
        url,
        token,
        storage,
        http: reqwest::Client::new(),
        _dir: dir,
        pg_name,
    }
}

async fn reference_data(storage: &Storage) {
    let text = territories();
    let parsed = jmet::territory::parse_geojson(&text).unwrap();
    storage
        .import_territories(&parsed, &text, "bench", 1)
        .await
        .unwrap();
    let text = facilities();
    let parsed = jmet::facility::parse_csv(&text).unwrap();
    storage
        .import_facilities(&parsed, &text, "bench", 1)
        .await
        .unwrap();
    let text = indicators();
    let parsed = jmet::indicator::parse_csv(&text).unwrap();
    storage
        .import_indicators(&parsed, &text, "bench", 1)
        .await
        .unwrap();
    for text in [WATER_FORM, HEALTH_FORM] {
        let form = sync_protocol::FormDef::from_json(text).unwrap();
        storage.import_form(&form, "bench", 1).await.unwrap();
    }
    for y in 0..YEARS {
        let mut form: Value = serde_json::from_str(SURVEY_FORM).unwrap();
        form["version"] = json!(y + 1);
        form["year"] = json!(FIRST_YEAR + y);
        let form = sync_protocol::FormDef::from_json(&form.to_string()).unwrap();
        storage.import_form(&form, "bench", 1).await.unwrap();
    }
    for i in 0..MUNICIPALITIES {
        let m: Scope = code(i).parse().unwrap();
        let plan: Vec<String> = indicator_rules()
            .iter()
            .map(|(s, _, _, _)| format!("{m}-{s}"))
            .collect();
        storage.set_plan(&m, &plan, "bench", 1).await.unwrap();
        storage
            .approve_plan(&m, "2017-02-01", "No. 1", "bench", 1)
            .await
            .unwrap();
        for y in 0..YEARS {
            let entry = jmet::storage::LsgEntry {
                indicator: format!("{m}-WAT-REPAIRS"),
                period: jmet::series::Period::new(
                    FIRST_YEAR + y,
                    jmet::series::PeriodKind::Year,
                    1,
                )
                .unwrap(),
                value: (y + 1) as f64,
                note: String::new(),
            };
            storage.put_lsg_entry(&entry, "bench", 1).await.unwrap();
        }
    }
}

/// Pushes every submission of these municipalities over HTTP, one device each; answers the
/// submissions pushed and the seconds taken.
async fn ingest(
    server: &Server,
    municipalities: std::ops::Range<usize>,
    seed: u64,
) -> (usize, f64) {
    let mut count = 0;
    let mut busy = Duration::ZERO;
    for i in municipalities {
        let scope: Scope = code(i).parse().unwrap();
        let NewDevice { device_id, token } = server
            .storage
            .create_device(std::slice::from_ref(&scope), Some("bench"), "bench", 1)
            .await
            .unwrap();
        let mut clock = Clock::new(device_id.0);
        let mut rng = Rng(seed ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let all = submissions(i, &mut rng);
        for chunk in all.chunks(BATCH) {
            let ops: Vec<Op> = chunk
                .iter()
                .map(|(collection, fields)| Op {
                    op_id: OpId::generate(),
                    collection: Collection::parse(*collection).unwrap(),
                    record_id: RecordId::generate(),
                    scope: scope.clone(),
                    hlc: clock.tick(jmet::sync::now_ms()),
                    change: Change::Set(
                        fields
                            .as_object()
                            .unwrap()
                            .iter()
                            .map(|(k, v)| (FieldName::parse(k).unwrap(), v.clone()))
                            .collect(),
                    ),
                })
                .collect();
            let body = serde_json::to_vec(&PushRequest { ops }).unwrap();
            let started = Instant::now();
            let answer: Value = server
                .http
                .post(format!("{}/api/v1/sync/push", server.url))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            busy += started.elapsed();
            let results = answer["results"].as_array().expect("push answer");
            assert!(
                results.iter().all(|r| r["status"] == "applied"),
                "{}",
                results.iter().find(|r| r["status"] != "applied").unwrap()
            );
            count += chunk.len();
        }
    }
    (count, busy.as_secs_f64())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn latencies(server: &Server, paths: &[String]) -> (f64, f64, f64, f64) {
    timed(server, paths, true).await
}

/// Latencies of GETs, signed in or anonymous.
async fn timed(server: &Server, paths: &[String], signed_in: bool) -> (f64, f64, f64, f64) {
    let mut ms = Vec::with_capacity(paths.len());
    for (n, path) in paths.iter().enumerate() {
        let started = Instant::now();
        let mut request = server.http.get(format!("{}{path}", server.url));
        if signed_in {
            request = request.bearer_auth(&server.token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let bytes = response.bytes().await.unwrap();
        assert!(bytes.len() > 100);
        if n >= WARMUP_READS {
            ms.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    ms.sort_by(f64::total_cmp);
    (
        percentile(&ms, 0.5),
        percentile(&ms, 0.95),
        percentile(&ms, 0.99),
        *ms.last().unwrap(),
    )
}

async fn drop_pg(name: Option<String>) {
    if let Some(name) = name {
        let base = std::env::var("JMET_BENCH_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let admin = Storage::open(&Location::Postgres(base)).await.unwrap();
        use sea_orm::ConnectionTrait;
        let _ = admin
            .connection()
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }
}

fn main() {
    let postgres = std::env::args().any(|a| a == "postgres");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(postgres));
}

async fn run(postgres: bool) {
    if let Some(n) = std::env::var("JMET_BENCH_PANEL")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        return panel(postgres, n.clamp(1, MUNICIPALITIES)).await;
    }
    if let Some(n) = std::env::var("JMET_BENCH_EXPORT")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        return export(postgres, n.max(1)).await;
    }
    let backend = if postgres { "PostgreSQL" } else { "SQLite" };
    println!("indicator benchmark on {backend}: {MUNICIPALITIES} municipalities, {YEARS} years");

    // 1. Ingest with and without the projection, alternating.
    let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut keep = None;
    for round in 0..2 {
        for project in [false, true] {
            let server = start(postgres, project).await;
            reference_data(&server.storage).await;
            let (n, secs) = ingest(&server, 0..AB_MUNICIPALITIES, 1).await;
            let rate = n as f64 / secs;
            println!(
                "  round {round}, projection {}: {n} submissions in {secs:.1} s = {rate:.0}/s",
                if project { "on " } else { "off" }
            );
            rates[usize::from(project)].push(rate);
            if project && round == 1 {
                keep = Some(server);
            } else {
                let name = server.pg_name.clone();
                drop(server);
                drop_pg(name).await;
            }
        }
    }
    let median = |v: &Vec<f64>| {
        let mut v = v.clone();
        v.sort_by(f64::total_cmp);
        (v[0] + v[v.len() - 1]) / 2.0
    };
    let (off, on) = (median(&rates[0]), median(&rates[1]));
    println!(
        "ingest: projection off {off:.0}/s, on {on:.0}/s: {:.0} % of the rate without (goal >= 50 %)",
        on / off * 100.0
    );

    let server = keep.unwrap();
    if std::env::var_os("JMET_BENCH_INGEST_ONLY").is_some() {
        let name = server.pg_name.clone();
        drop(server);
        drop_pg(name).await;
        return;
    }
    // 2. Load the rest with the projection on.
    let started = Instant::now();
    let (n, secs) = ingest(&server, AB_MUNICIPALITIES..MUNICIPALITIES, 1).await;
    println!(
        "load: {n} more submissions in {secs:.0} s of pushing ({:.0}/s), {:.0} s in all",
        n as f64 / secs,
        started.elapsed().as_secs_f64()
    );
    use jmet::storage::SyncTable;
    println!(
        "  records {}, indicator values {}",
        server.storage.count(SyncTable::Records).await.unwrap(),
        server.storage.all_indicator_values().await.unwrap().len()
    );

    // 3. Reads.
    let mut rng = Rng(42);
    let series: Vec<String> = (0..READS + WARMUP_READS)
        .map(|_| {
            let m = code(rng.below(MUNICIPALITIES as u64) as usize);
            let rules = indicator_rules();
            let (suffix, _, _, _) = &rules[rng.below(rules.len() as u64) as usize];
            format!("/api/v1/indicators/{m}-{suffix}/series?period=month")
        })
        .collect();
    let plans: Vec<String> = (0..READS + WARMUP_READS)
        .map(|_| {
            let m = code(rng.below(MUNICIPALITIES as u64) as usize);
            let year = FIRST_YEAR + rng.below(YEARS as u64) as i32;
            format!("/api/v1/municipalities/{m}/plan-vs-fact?period={year}&basis=provisional")
        })
        .collect();
    for (what, paths) in [
        ("series (month, 120 values)", &series),
        ("plan vs fact (year)", &plans),
    ] {
        let (p50, p95, p99, max) = latencies(&server, paths).await;
        println!(
            "{what}: p50 {p50:.2} ms, p95 {p95:.2} ms, p99 {p99:.2} ms, max {max:.2} ms over {READS} requests (goal p99 < {GOAL_P99_MS} ms){}",
            if p99 < GOAL_P99_MS {
                ""
            } else {
                "  ** GOAL MISSED **"
            }
        );
    }
    let name = server.pg_name.clone();
    drop(server);
    drop_pg(name).await;
}

/// The public panel over ten years of approved data.
async fn panel(postgres: bool, n: usize) {
    const GOAL_MS: f64 = 50.0;
    let backend = if postgres { "PostgreSQL" } else { "SQLite" };
    println!("panel benchmark on {backend}: {n} municipalities with {YEARS} years approved");
    let server = start(postgres, true).await;
    reference_data(&server.storage).await;
    let (count, secs) = ingest(&server, 0..n, 1).await;
    println!("  pushed {count} submissions in {secs:.1} s");
    let started = Instant::now();
    let (mut approved, mut skipped) = (0, 0);
    for i in 0..n {
        let mut items = Vec::new();
        for (collection, id, _) in server.storage.submission_statuses(&code(i)).await.unwrap() {
            let state = server
                .storage
                .submission_state(&collection, &id)
                .await
                .unwrap()
                .unwrap();
            items.push(jmet::review::BulkItem {
                collection,
                id,
                version: state.version,
            });
        }
        for chunk in items.chunks(500) {
            let outcome = jmet::review::bulk_approve(&server.storage, chunk, |_| true, "bench", 1)
                .await
                .unwrap();
            approved += outcome.approved.len();
            // Bulk approval leaves flagged visits (these carry no position) to be looked at
            // one by one; the supervisor approves them after looking.
            for (item, _) in &outcome.skipped {
                // Skipped items are named `collection/id`.
                let (collection, id) = item.split_once('/').unwrap();
                let collection = if collection == "visits" {
                    "visits"
                } else {
                    "survey_responses"
                };
                jmet::review::decide(
                    &server.storage,
                    jmet::review::Judgement {
                        collection,
                        id,
                        decision: sync_protocol::review::Decision::Approved,
                        version: None,
                        comment: "",
                    },
                    "bench",
                    1,
                )
                .await
                .unwrap();
                approved += 1;
                skipped += 1;
            }
        }
    }
    println!(
        "  approved {approved} in {:.1} s ({skipped} of them flagged, approved one by one)",
        started.elapsed().as_secs_f64()
    );
    let mut rng = Rng(7);
    let pages: Vec<String> = (0..READS + WARMUP_READS)
        .map(|_| {
            let m = code(rng.below(n as u64) as usize);
            let year = FIRST_YEAR + rng.below(YEARS as u64) as i32;
            format!("/panel/{m}?year={year}&lang=ru")
        })
        .collect();
    let sample = server
        .http
        .get(format!("{}{}", server.url, pages[0]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    println!(
        "  a page: {} bytes, {} trend charts, {} facilities on the map",
        sample.len(),
        sample.matches(r#"class="trend""#).count(),
        sample.matches("map-facility state-").count()
    );
    let (p50, p95, p99, max) = timed(&server, &pages, false).await;
    println!(
        "panel page (anonymous): p50 {p50:.2} ms, p95 {p95:.2} ms, p99 {p99:.2} ms, max {max:.2} ms over {READS} requests (goal p99 < {GOAL_MS} ms){}",
        if p99 < GOAL_MS {
            ""
        } else {
            "  ** GOAL MISSED **"
        }
    );
    let name = server.pg_name.clone();
    drop(server);
    drop_pg(name).await;
}

/// Resident memory of this process, in MiB (Linux).
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Streams one export to its end, sampling memory; answers (rows, MiB read, seconds, max RSS).
async fn stream_export(server: &Server, path: &str, newline: &[u8]) -> (usize, f64, f64, f64) {
    let started = Instant::now();
    let mut response = server
        .http
        .get(format!("{}{path}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    let (mut rows, mut bytes, mut next_sample, mut peak) = (0usize, 0usize, 0usize, rss_mib());
    // The end of the previous chunk, so that a separator split across two chunks is counted.
    let mut carry: Vec<u8> = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        bytes += chunk.len();
        carry.extend_from_slice(&chunk);
        rows += carry
            .windows(newline.len())
            .filter(|w| *w == newline)
            .count();
        let keep = carry.len().min(newline.len() - 1);
        carry.drain(..carry.len() - keep);
        if rows >= next_sample {
            let now = rss_mib();
            peak = peak.max(now);
            println!(
                "    {rows:>9} rows, {:>7.1} MiB read, RSS {now:.1} MiB",
                bytes as f64 / 1048576.0
            );
            next_sample += 50_000;
        }
    }
    (
        rows,
        bytes as f64 / 1048576.0,
        started.elapsed().as_secs_f64(),
        peak.max(rss_mib()),
    )
}

/// The streamed exports of one municipality with `n` approved submissions.
async fn export(postgres: bool, n: usize) {
    let backend = if postgres { "PostgreSQL" } else { "SQLite" };
    println!("export benchmark on {backend}: {n} approved submissions in one municipality");
    // Projection off while loading: with it on, each push re-derives values resting on ever
    // more submissions of the one municipality and loading slows to about 600 a second. The
    // status rows the export reads are then written in one statement, as approved.
    let server = start(postgres, false).await;
    reference_data(&server.storage).await;
    let started = Instant::now();
    let (mut loaded, mut round) = (0, 0u64);
    while loaded < n {
        let (count, _) = ingest(&server, 0..1, 1000 + round).await;
        loaded += count;
        round += 1;
        if round % 50 == 0 {
            println!(
                "  loaded {loaded} in {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    use sea_orm::ConnectionTrait;
    // Field values are stored as JSON text: a string's quotes are cut off.
    let text_of = |field: &str| {
        format!(
            "(SELECT substr(f.value, 2, length(f.value) - 2) FROM fields f \
             WHERE f.rkey = r.rkey AND f.field = '{field}')"
        )
    };
    let statement = format!(
        "INSERT INTO submission_status (collection, record_id, scope, form, facility, \
         captured_at, status, version) \
         SELECT r.collection, r.record_id, r.scope, COALESCE({}, ''), COALESCE({}, ''), \
         COALESCE({}, ''), 'approved', '' FROM records r \
         WHERE r.collection IN ('visits', 'survey_responses')",
        text_of("form"),
        text_of("facility"),
        text_of("captured_at"),
    );
    server
        .storage
        .connection()
        .execute_unprepared(&statement)
        .await
        .unwrap();
    println!(
        "  {loaded} submissions loaded and marked approved in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let m = code(0);
    let before = rss_mib();
    println!("  RSS before the exports: {before:.1} MiB");
    for (path, newline) in [
        (format!("/api/v1/open/{m}/submissions.csv"), &b"\r\n"[..]),
        (format!("/api/v1/open/{m}/visits.geojson"), &b"},{"[..]),
    ] {
        let (rows, mib, secs, peak) = stream_export(&server, &path, newline).await;
        println!(
            "{path}: {rows} rows, {mib:.0} MiB in {secs:.1} s ({:.0} rows/s); RSS before {before:.1} MiB, peak {peak:.1} MiB (+{:.1} MiB)",
            rows as f64 / secs,
            peak - before
        );
    }
    let name = server.pg_name.clone();
    drop(server);
    drop_pg(name).await;
}
