//! OpenRosa submission benchmark: `cargo bench -p jmet-server --bench openrosa` (SQLite; add
//! `-- postgres` for PostgreSQL on `JMET_BENCH_DATABASE_URL`).
//!
//! 450 municipalities with 4 water points each and one indicator each (the mean of
//! `supply_hours` of the water visits), projected after every push as in production. Eight
//! concurrent clients post submissions exactly as ODK Collect does (multipart, the instance as
//! `xml_submission_file`, `X-OpenRosa-Version: 1.0`, the device token in the URL path), spread
//! over the municipalities' phones:
//!
//! 1. with one 200 KB photo each (a distinct JPEG per submission, through the evidence
//!    pipeline: decoded, stripped, thumbnailed), `JMET_BENCH_PHOTOS` of them (default 2,000);
//! 2. without photos, up to `JMET_BENCH_SUBMISSIONS` in all (default 200,000), the rate reported
//!    for every 50,000 so that a slowdown as the database grows shows;
//! 3. with photos again, on the grown database.
//!
//! Goals: at least 1,700 submissions a second without photos and 300 with, holding as the
//! database grows to a million submissions.
//!
//! `JMET_BENCH_KEEP_IN=DIR` keeps the run's data in a new directory under `DIR` instead of a
//! temporary one deleted at the end. Runs compared back to back need it on a filesystem like
//! this machine's (ext4 without a journal): for minutes after thousands of files are deleted,
//! creating a file there scans past the inodes they freed (`perf`: `recently_deleted` under
//! `__ext4_new_inode`), and the photo phases of the next run spent 7–8 ms of CPU a submission
//! instead of 6.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use jmet::{Location, Settings, Storage};
use serde_json::json;
use sync_protocol::Scope;

const MUNICIPALITIES: usize = 450;
const WATER_POINTS: usize = 4;
const CLIENTS: usize = 8;
const WINDOW: usize = 50_000;
const BOUNDARY: &str = "----OpenRosaBench";
const WATER_FORM: &str = include_str!("../../fixtures/demo/forms/water_visit.json");

fn code(i: usize) -> String {
    format!("KG-B-R{:02}-{:03}", i / 30, i)
}

fn world() -> (String, String, String) {
    let square = |lon: f64, lat: f64, w: f64, h: f64| {
        json!({"type": "Polygon", "coordinates": [[[lon, lat], [lon + w, lat],
            [lon + w, lat + h], [lon, lat + h], [lon, lat]]]})
    };
    let mut features = vec![
        json!({"type": "Feature", "geometry": square(69.0, 38.0, 12.0, 4.0),
        "properties": {"code": "KG-B", "level": "oblast", "parent": null,
        "name_ky": "B", "name_ru": "B", "name_en": "B"}}),
    ];
    for r in 0..MUNICIPALITIES.div_ceil(30) {
        features.push(json!({"type": "Feature",
            "geometry": square(70.0 + r as f64 * 0.6, 39.0, 0.6, 0.6),
            "properties": {"code": format!("KG-B-R{r:02}"), "level": "rayon", "parent": "KG-B",
            "name_ky": "R", "name_ru": "R", "name_en": "R"}}));
    }
    let mut facilities =
        String::from("code,municipality,kind,name_ky,name_ru,name_en,lat,lon,delegated\n");
    let mut indicators = String::from(
        "code,municipality,name_ky,name_ru,name_en,level,kind,unit,baseline,targets,measured_by,delegated,rule\n",
    );
    let rule =
        json!({"type": "aggregate", "form": "water_visit", "field": "supply_hours", "fn": "mean"})
            .to_string()
            .replace('"', "\"\"");
    for i in 0..MUNICIPALITIES {
        let m = code(i);
        let (lon, lat) = (70.0 + (i / 30) as f64 * 0.6, 39.0 + (i % 30) as f64 * 0.02);
        features.push(json!({"type": "Feature", "properties": {
            "code": m, "level": "municipality", "parent": format!("KG-B-R{:02}", i / 30),
            "name_ky": m, "name_ru": m, "name_en": m},
            "geometry": {"type": "Polygon", "coordinates": [[[lon, lat], [lon + 0.5, lat],
                [lon + 0.5, lat + 0.019], [lon, lat + 0.019], [lon, lat]]]}}));
        for k in 0..WATER_POINTS {
            facilities.push_str(&format!(
                "{m}-W{k},{m},water_point,W,W,W,{},{},no\n",
                lat + 0.01,
                lon + 0.01
            ));
        }
        indicators.push_str(&format!(
            "{m}-HOURS,{m},h,h,h,output,quantitative,h,8,2026:12,jmet,no,\"{rule}\"\n"
        ));
    }
    (
        json!({"type": "FeatureCollection", "features": features}).to_string(),
        facilities,
        indicators,
    )
}

/// A noise JPEG of about 200 KB; each submission gets its own copy, told apart by a comment
/// segment, so that no two photos are the same file.
fn base_photo() -> Vec<u8> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let pixels = image::RgbImage::from_fn(640, 480, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let n = (seed & 0x3f) as u8;
        image::Rgb([(x % 200) as u8 + n, (y % 200) as u8 + n, 90 + n])
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
        .encode_image(&pixels)
        .unwrap();
    jpeg
}

fn distinct_photo(base: &[u8], n: usize) -> Vec<u8> {
    let comment = format!("bench photo {n}");
    let mut out = Vec::with_capacity(base.len() + comment.len() + 4);
    out.extend_from_slice(&base[..2]);
    out.extend_from_slice(&[0xff, 0xfe]);
    out.extend_from_slice(&((comment.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(comment.as_bytes());
    out.extend_from_slice(&base[2..]);
    out
}

fn instance(n: usize, photo: bool) -> String {
    let i = n % MUNICIPALITIES;
    let month = 1 + (n / MUNICIPALITIES) % 12;
    let photo = if photo {
        format!("<photo>p{n}.jpg</photo>")
    } else {
        String::new()
    };
    format!(
        "<?xml version='1.0' ?><data xmlns:orx=\"http://openrosa.org/xforms\" id=\"water_visit\" version=\"1\">\
         <facility>{m}-W{w}</facility><captured_at>2026-{month:02}-{day:02}T10:00:00.000+06:00</captured_at>\
         <gps>{lat} {lon} 800 5</gps><supply_hours>{h}</supply_hours><water_clear>yes</water_clear>\
         <households_served_share>{s}</households_served_share>{photo}\
         <meta><instanceID>uuid:{id}</instanceID></meta></data>",
        m = code(i),
        w = n % WATER_POINTS,
        day = 1 + n % 28,
        lat = 39.0 + (i % 30) as f64 * 0.02 + 0.01,
        lon = 70.0 + (i / 30) as f64 * 0.6 + 0.01,
        h = n % 25,
        s = n % 101,
        id = uuid::Uuid::new_v4(),
    )
}

fn multipart(xml: &str, photo: Option<(String, Vec<u8>)>) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"xml_submission_file\"; filename=\"submission.xml\"\r\nContent-Type: text/xml\r\n\r\n").as_bytes());
    body.extend_from_slice(xml.as_bytes());
    body.extend_from_slice(b"\r\n");
    if let Some((name, bytes)) = photo {
        body.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\nContent-Type: image/jpeg\r\n\r\n").as_bytes());
        body.extend_from_slice(&bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

struct Bench {
    url: String,
    tokens: Vec<String>,
    http: reqwest::Client,
    photo: Vec<u8>,
}

/// How long the answers took: the 99th percentile and the longest, in milliseconds; and the CPU
/// time this process (server and clients) spent per submission meanwhile.
struct Waits {
    p99_ms: f64,
    longest_ms: f64,
    cpu_ms: Option<f64>,
}

impl std::fmt::Display for Waits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "answered within {:.0} ms (99%), {:.0} ms at most",
            self.p99_ms, self.longest_ms
        )?;
        if let Some(cpu) = self.cpu_ms {
            write!(f, "; CPU {cpu:.2} ms a submission")?;
        }
        Ok(())
    }
}

/// CPU seconds (user and system, all threads) this process has used so far, from
/// `/proc/self/stat`; `None` where there is no such file. Rates on this 2-core machine vary by
/// ±20% from run to run with its neighbours' load; the CPU a submission costs varies by about 5%,
/// so it tells whether a change made the work cheaper when the rate cannot.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // After the command name (in parentheses, which may hold spaces): state is field 3, utime
    // and stime fields 14 and 15, in clock ticks (USER_HZ, 100 a second on Linux).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks = |i: usize| fields.get(i - 3)?.parse::<f64>().ok();
    Some((ticks(14)? + ticks(15)?) / 100.0)
}

/// Posts submissions `from..to` from eight clients; answers the seconds taken and how long
/// the answers took.
async fn post_range(bench: &Arc<Bench>, from: usize, to: usize, photos: bool) -> (f64, Waits) {
    let next = Arc::new(AtomicUsize::new(from));
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let bench = bench.clone();
        let next = next.clone();
        clients.push(tokio::spawn(async move {
            let mut waits = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= to {
                    break;
                }
                let sent = Instant::now();
                let photo = photos.then(|| (format!("p{n}.jpg"), distinct_photo(&bench.photo, n)));
                let body = multipart(&instance(n, photos), photo);
                let token = &bench.tokens[n % MUNICIPALITIES];
                let response = bench
                    .http
                    .post(format!("{}/openrosa/key/{token}/submission", bench.url))
                    .header("X-OpenRosa-Version", "1.0")
                    .header(
                        "Content-Type",
                        format!("multipart/form-data; boundary={BOUNDARY}"),
                    )
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                if status != 201 {
                    panic!("{status}: {}", response.text().await.unwrap_or_default());
                }
                waits.push(sent.elapsed().as_secs_f64() * 1000.0);
            }
            waits
        }));
    }
    let mut waits = Vec::new();
    for c in clients {
        waits.extend(c.await.unwrap());
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu_ms = cpu_before
        .zip(cpu_seconds())
        .filter(|_| to > from)
        .map(|(before, after)| (after - before) * 1000.0 / (to - from) as f64);
    waits.sort_by(f64::total_cmp);
    let at =
        |q: f64| waits.get(((waits.len() as f64 * q) as usize).min(waits.len().saturating_sub(1)));
    let waits = Waits {
        p99_ms: at(0.99).copied().unwrap_or(0.0),
        longest_ms: waits.last().copied().unwrap_or(0.0),
        cpu_ms,
    };
    (secs, waits)
}

fn main() {
    // `RUST_LOG=jmet=debug` shows what the server does meanwhile, e.g. each projector run.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let postgres = std::env::args().any(|a| a == "postgres");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(postgres));
}

async fn run(postgres: bool) {
    let total: usize = std::env::var("JMET_BENCH_SUBMISSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let photos: usize = std::env::var("JMET_BENCH_PHOTOS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    // Deleted at the end unless kept.
    let (_temporary, dir) = match std::env::var_os("JMET_BENCH_KEEP_IN") {
        Some(keep_in) => {
            std::fs::create_dir_all(&keep_in).unwrap();
            let dir = tempfile::Builder::new()
                .prefix("openrosa-")
                .tempdir_in(keep_in)
                .unwrap()
                .keep();
            println!("  data kept in {}", dir.display());
            (None, dir)
        }
        None => {
            let temporary = tempfile::tempdir().unwrap();
            let dir = temporary.path().to_owned();
            (Some(temporary), dir)
        }
    };
    let (location, pg) = if postgres {
        let base = std::env::var("JMET_BENCH_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("jmet_bench_or_{}", uuid::Uuid::new_v4().simple());
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
        (Location::Postgres(url), Some((admin, name)))
    } else {
        (Location::SqliteDir(dir.clone()), None)
    };
    let backend = if postgres { "PostgreSQL" } else { "SQLite" };
    println!("OpenRosa benchmark on {backend}: {CLIENTS} clients, {MUNICIPALITIES} municipalities");
    let storage = Storage::open(&location).await.unwrap();
    let (territories, facilities, indicators) = world();
    let parsed = jmet::territory::parse_geojson(&territories).unwrap();
    storage
        .import_territories(&parsed, &territories, "bench", 1)
        .await
        .unwrap();
    let parsed = jmet::facility::parse_csv(&facilities).unwrap();
    storage
        .import_facilities(&parsed, &facilities, "bench", 1)
        .await
        .unwrap();
    let parsed = jmet::indicator::parse_csv(&indicators).unwrap();
    storage
        .import_indicators(&parsed, &indicators, "bench", 1)
        .await
        .unwrap();
    let form = sync_protocol::FormDef::from_json(WATER_FORM).unwrap();
    storage.import_form(&form, "bench", 1).await.unwrap();
    let mut tokens = Vec::new();
    for i in 0..MUNICIPALITIES {
        let scope: Scope = code(i).parse().unwrap();
        let device = storage
            .create_device(&[scope], Some("odk"), "bench", 1)
            .await
            .unwrap();
        tokens.push(device.token);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let blobs = jmet::blobs::BlobStore::open(&jmet::blobs::BlobConfig::Local {
        dir: dir.join("blobs"),
    })
    .unwrap();
    // `JMET_BENCH_PROJECT=0` turns the indicator projection off, to see what it costs.
    let settings = Settings {
        project_indicators: std::env::var("JMET_BENCH_PROJECT").map_or(true, |v| v != "0"),
        ..Settings::default()
    };
    let app = jmet::build_app(storage.clone(), blobs, settings);
    tokio::spawn(async move {
        jmet::serve::serve(listener, app, std::future::pending())
            .await
            .unwrap();
    });
    let photo = base_photo();
    println!("  photo: {} KB", photo.len() / 1024);
    let bench = Arc::new(Bench {
        url,
        tokens,
        http: reqwest::Client::new(),
        photo,
    });

    let mut done = 0;
    let (secs, waits) = post_range(&bench, done, done + photos, true).await;
    done += photos;
    println!(
        "with a photo, empty database: {photos} in {secs:.1} s = {:.0} per second (goal 300); {waits}",
        photos as f64 / secs
    );
    let started = Instant::now();
    let mut loaded = 0;
    while loaded < total {
        let n = WINDOW.min(total - loaded);
        let (secs, waits) = post_range(&bench, done, done + n, false).await;
        done += n;
        loaded += n;
        println!(
            "without photos: {n} more in {secs:.1} s = {:.0} per second ({done} submissions stored, {:.0} s in all); {waits}",
            n as f64 / secs,
            started.elapsed().as_secs_f64()
        );
    }
    println!(
        "without photos, all: {loaded} in {:.1} s = {:.0} per second (goal 1,700)",
        started.elapsed().as_secs_f64(),
        loaded as f64 / started.elapsed().as_secs_f64()
    );
    let (secs, waits) = post_range(&bench, done, done + photos, true).await;
    done += photos;
    println!(
        "with a photo, {done} stored: {photos} in {secs:.1} s = {:.0} per second (goal 300); {waits}",
        photos as f64 / secs
    );
    drop(storage);
    if let Some((admin, name)) = pg {
        use sea_orm::ConnectionTrait;
        let _ = admin
            .connection()
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }
}
