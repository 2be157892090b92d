//! `GET /api/v1/open/{municipality}/{dataset}.{format}`: everything the panel shows, and the
//! approved submissions without personal data, as CSV, XLSX, JSON, GeoJSON and a DHIS2 data
//! value set. No login. Every file names the audit chain position it was read at (headers
//! `X-Audit-Seq` and `X-Audit-Hash`, and inside the file); large ones stream page by page.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sync_protocol::Scope;

use super::panel::{self, PUBLIC, Panel};
use super::redact::{self, Policy};
use super::table::{About, BOM, Cell, Table, csv_record};
use crate::api::AppState;
use crate::api::openapi::errors::{BadRequest, NotFound};
use crate::error::AppError;
use crate::series::plan::Basis;
use crate::series::{Period, PeriodKind, tables};
use crate::storage::{ChainPosition, Storage};

/// Submissions read per page while streaming.
const PAGE: u64 = 500;

/// Every dataset with the formats it comes in.
pub const DATASETS: [(&str, &[&str]); 10] = [
    ("indicators", &["csv", "xlsx", "json"]),
    ("values", &["csv", "xlsx", "json"]),
    ("dhis2", &["json"]),
    ("survey", &["csv", "xlsx", "json"]),
    ("scorecard", &["csv", "xlsx", "json"]),
    ("facilities", &["geojson", "csv", "json"]),
    ("visits", &["geojson"]),
    ("submissions", &["csv", "json"]),
    ("panel", &["json"]),
    ("report", &["xlsx", "json"]),
];

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// The year of `indicators`, `scorecard` and `panel` (the current year when it is in the
    /// SEDP's span).
    year: Option<String>,
    /// The half-year or year of `report`: `2026-H1`, `2026-H2` or `2026`.
    period: Option<String>,
}

fn not_found(message: String) -> AppError {
    AppError::NotFound(message)
}

fn catalogue() -> String {
    DATASETS
        .iter()
        .map(|(d, f)| format!("{d}.{{{}}}", f.join(",")))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn now_text() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn parse_year(text: Option<&str>) -> Result<Option<i32>, AppError> {
    text.map(|t| {
        t.trim()
            .parse::<i32>()
            .ok()
            .filter(|y| (1900..=2200).contains(y))
            .ok_or_else(|| AppError::BadRequest {
                code: "invalid_period",
                message: format!("year {t:?} is not a year such as 2026"),
            })
    })
    .transpose()
}

/// Public, no login. The file's audit chain position is in `X-Audit-Seq` and `X-Audit-Hash`.
#[utoipa::path(
    get,
    path = "/api/v1/open/{code}/{file}",
    tag = "open data",
    operation_id = "open_export",
    params(
        ("code" = String, Path, description = "The municipality's code."),
        ("file" = String, Path, description = "`{dataset}.{format}`: indicators.{csv,xlsx,json}, \
            values.{csv,xlsx,json}, dhis2.json, survey.{csv,xlsx,json}, scorecard.{csv,xlsx,json}, \
            facilities.{geojson,csv,json}, visits.geojson, submissions.{csv,json}, panel.json, \
            report.{xlsx,json} (the AO head's report, with ?period=)"),
        ExportQuery,
    ),
    responses(
        (status = 200, description = "The file (CSV with a BOM, XLSX, JSON, GeoJSON).",
            headers(("X-Audit-Seq" = i64, description = "The chain position it was read at."),
                    ("X-Audit-Hash" = String, description = "That entry's hash."))),
        BadRequest,
        NotFound,
    ),
    security(()),
)]
pub async fn export(
    State(app): State<AppState>,
    Path((code, file)): Path<(String, String)>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, AppError> {
    let (name, format) = file.rsplit_once('.').ok_or_else(|| {
        not_found(format!(
            "{file:?} names no export; there are {}",
            catalogue()
        ))
    })?;
    let known = DATASETS
        .iter()
        .any(|(d, fs)| *d == name && fs.contains(&format));
    if !known {
        return Err(not_found(format!(
            "{file:?} names no export; there are {}",
            catalogue()
        )));
    }
    let year = parse_year(q.year.as_deref())?;
    let storage = &app.storage;
    let scope = super::municipality(storage, &code).await?;
    // Read first: the export holds every change up to this position (and perhaps a few after).
    let audit = storage.chain_head().await?;
    let about = About {
        dataset: DATASETS
            .iter()
            .find(|(d, _)| *d == name)
            .map_or("", |d| d.0),
        municipality: code.clone(),
        audit,
        made_at: now_text(),
    };
    let report_period = match (name, q.period.as_deref()) {
        ("report", Some(text)) => Some(super::report::parse_period(text.trim()).ok_or_else(
            || AppError::BadRequest {
                code: "invalid_period",
                message: format!("period {text:?} is not a half-year or a year: 2026-H1, 2026"),
            },
        )?),
        ("report", None) => {
            return Err(AppError::BadRequest {
                code: "invalid_period",
                message: "the report needs ?period=2026-H1, 2026-H2 or 2026".into(),
            });
        }
        _ => None,
    };
    let base = match (year, report_period) {
        (_, Some(p)) => format!("{code}-{name}-{p}-audit{}", about.audit.seq),
        (Some(y), _) if matches!(name, "indicators" | "scorecard" | "panel") => {
            format!("{code}-{name}-{y}-audit{}", about.audit.seq)
        }
        _ => format!("{code}-{name}-audit{}", about.audit.seq),
    };
    let audit = about.audit.clone();
    let mut response = match (name, format) {
        ("submissions", "csv") => stream(&app, scope, about, Streamed::SubmissionsCsv).await?,
        ("submissions", "json") => stream(&app, scope, about, Streamed::SubmissionsJson).await?,
        ("visits", "geojson") => stream(&app, scope, about, Streamed::Visits).await?,
        ("dhis2", _) => json_file(dhis2(storage, &scope, &about).await?),
        ("report", format) => {
            let period = report_period.ok_or_else(|| AppError::internal("no period"))?;
            let report = super::report::assemble(storage, &code, period)
                .await?
                .ok_or_else(|| not_found(format!("no municipality {code:?}")))?;
            if format == "json" {
                let mut value =
                    serde_json::to_value(&report).map_err(|e| AppError::internal(e.to_string()))?;
                value["audit"] = json!(about.audit);
                json_file(value)
            } else {
                let sheets = super::report::tables(&report);
                tokio::task::spawn_blocking(move || {
                    let named: Vec<(&str, &Table)> = sheets.iter().map(|(n, t)| (*n, t)).collect();
                    super::table::workbook(&named, &about)
                })
                .await
                .map_err(|e| AppError::internal(e.to_string()))?
                .map_err(|e| AppError::internal(e.to_string()))?
                .into_response()
            }
        }
        ("panel", _) => {
            let panel = read_panel(storage, &code, year).await?;
            let mut value =
                serde_json::to_value(&panel).map_err(|e| AppError::internal(e.to_string()))?;
            value["audit"] = json!(about.audit);
            json_file(value)
        }
        ("facilities", "geojson") => {
            let panel = read_panel(storage, &code, year).await?;
            json_file(facilities_geojson(&panel, &about))
        }
        _ => {
            let table = match name {
                "indicators" => indicators(storage, &code, year).await?,
                "values" => values(storage, &scope).await?,
                "survey" => survey(storage, &scope).await?,
                "scorecard" => scorecard(storage, &code, year).await?,
                _ => facilities_table(&read_panel(storage, &code, year).await?),
            };
            tabular(table, about, format).await?
        }
    };
    position_headers(&mut response, &audit);
    Ok(with_headers(response, &base, format))
}

fn with_headers(mut response: Response, base: &str, format: &str) -> Response {
    let content_type = match format {
        "csv" => "text/csv; charset=utf-8",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "geojson" => "application/geo+json",
        _ => "application/json",
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{base}.{format}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

fn json_file(value: Value) -> Response {
    axum::Json(value).into_response()
}

fn position_headers(response: &mut Response, audit: &ChainPosition) {
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&audit.seq.to_string()) {
        headers.insert("x-audit-seq", v);
    }
    if let Ok(v) = HeaderValue::from_str(&audit.hash) {
        headers.insert("x-audit-hash", v);
    }
}

async fn tabular(table: Table, about: About, format: &str) -> Result<Response, AppError> {
    Ok(match format {
        "csv" => table.to_csv(&about).into_response(),
        "json" => json_file(table.to_json(&about)),
        _ => tokio::task::spawn_blocking(move || table.to_xlsx(&about))
            .await
            .map_err(|e| AppError::internal(e.to_string()))?
            .map_err(|e| AppError::internal(e.to_string()))?
            .into_response(),
    })
}

async fn read_panel(storage: &Storage, code: &str, year: Option<i32>) -> Result<Panel, AppError> {
    let territories = storage.territory_line(code).await?;
    let this_year = time::OffsetDateTime::now_utc().year();
    panel::assemble(storage, &territories, code, year, this_year)
        .await?
        .ok_or_else(|| not_found(format!("no municipality {code:?}")))
}

async fn indicators(storage: &Storage, code: &str, year: Option<i32>) -> Result<Table, AppError> {
    let panel = read_panel(storage, code, year).await?;
    let columns = [
        "municipality",
        "year",
        "level",
        "indicator",
        "name_ky",
        "name_ru",
        "name_en",
        "unit",
        "baseline",
        "target",
        "actual",
        "n",
        "achievement_pct",
        "status",
        "forecast",
        "forecast_deadline",
        "slope_per_year",
    ];
    let rows = panel
        .plan
        .rows
        .iter()
        .map(|r| {
            vec![
                Cell::text(code),
                Cell::Int(i64::from(panel.year)),
                Cell::text(&r.level),
                Cell::text(&r.indicator),
                Cell::text(&r.name_ky),
                Cell::text(&r.name_ru),
                Cell::text(&r.name_en),
                Cell::text(&r.unit),
                Cell::opt(r.baseline),
                Cell::opt(r.target),
                Cell::opt(r.actual),
                Cell::Int(r.n),
                Cell::opt(r.achievement_pct),
                Cell::text(super::status_name(r.status)),
                Cell::opt(r.forecast.as_ref().map(|f| f.value)),
                r.forecast
                    .as_ref()
                    .map_or(Cell::Empty, |f| Cell::text(&f.deadline)),
                Cell::opt(r.slope_per_year),
            ]
        })
        .collect();
    Ok(Table {
        columns: columns.map(str::to_owned).to_vec(),
        rows,
    })
}

/// A period in DHIS2's syntax: `2026`, `2026S1`, `2026Q3`, `202605`.
pub fn dhis2_period(text: &str) -> Option<String> {
    let p: Period = text.parse().ok()?;
    Some(match p.kind {
        PeriodKind::Year => format!("{}", p.year),
        PeriodKind::Half => format!("{}S{}", p.year, p.index),
        PeriodKind::Quarter => format!("{}Q{}", p.year, p.index),
        PeriodKind::Month => format!("{}{:02}", p.year, p.index),
    })
}

async fn values(storage: &Storage, scope: &Scope) -> Result<Table, AppError> {
    let columns = [
        "municipality",
        "indicator",
        "facility",
        "period_kind",
        "period",
        "dhis2_period",
        "value",
        "n",
    ];
    let rows = storage
        .official_values(scope.as_str())
        .await?
        .into_iter()
        .filter_map(|(kind, v)| {
            let o = v.official?;
            Some(vec![
                Cell::text(scope.as_str()),
                Cell::text(v.indicator),
                Cell::text(v.facility),
                Cell::text(kind),
                Cell::text(&v.period),
                dhis2_period(&v.period).map_or(Cell::Empty, Cell::Text),
                Cell::Number(o.value),
                Cell::Int(o.n),
            ])
        })
        .collect();
    Ok(Table {
        columns: columns.map(str::to_owned).to_vec(),
        rows,
    })
}

/// DHIS2's data value set (`POST /api/dataValueSets`, imported with `idScheme=CODE`): one value
/// per indicator, org unit (the municipality, or the facility for facility-level values) and
/// period.
async fn dhis2(storage: &Storage, scope: &Scope, about: &About) -> Result<Value, AppError> {
    let values: Vec<Value> = storage
        .official_values(scope.as_str())
        .await?
        .into_iter()
        .filter_map(|(_, v)| {
            let o = v.official?;
            let period = dhis2_period(&v.period)?;
            let org_unit = if v.facility.is_empty() {
                scope.as_str().to_owned()
            } else {
                v.facility.clone()
            };
            Some(json!({
                "dataElement": v.indicator,
                "period": period,
                "orgUnit": org_unit,
                "value": super::chart::plain(o.value),
                "comment": format!("n={}; audit_seq={}", o.n, about.audit.seq),
            }))
        })
        .collect();
    Ok(json!({
        "completeDate": about.made_at.chars().take(10).collect::<String>(),
        "dataValues": values,
    }))
}

async fn survey(storage: &Storage, scope: &Scope) -> Result<Table, AppError> {
    let columns = [
        "municipality",
        "form",
        "question",
        "year",
        "choice",
        "count",
        "answered",
        "share_pct",
        "ci_low",
        "ci_high",
    ];
    let mut forms: Vec<String> = storage
        .forms()
        .await?
        .into_iter()
        .filter(|f| f.collection == "survey_responses")
        .map(|f| f.id.to_string())
        .collect();
    forms.sort();
    forms.dedup();
    let mut rows = Vec::new();
    for form in forms {
        let Some(answer) = tables::survey(storage, scope, &form, Basis::Official).await? else {
            continue;
        };
        for q in &answer.results.questions {
            for y in &q.years {
                for c in &y.shares.choices {
                    rows.push(vec![
                        Cell::text(scope.as_str()),
                        Cell::text(&form),
                        Cell::text(&q.key),
                        Cell::Int(i64::from(y.year)),
                        Cell::text(&c.value),
                        Cell::Int(c.count as i64),
                        Cell::Int(y.shares.n as i64),
                        Cell::Number(c.share),
                        Cell::Number(c.ci_low),
                        Cell::Number(c.ci_high),
                    ]);
                }
            }
        }
    }
    Ok(Table {
        columns: columns.map(str::to_owned).to_vec(),
        rows,
    })
}

async fn scorecard(storage: &Storage, code: &str, year: Option<i32>) -> Result<Table, AppError> {
    let scope = super::municipality(storage, code).await?;
    let year = match year {
        Some(y) => y,
        None => read_panel(storage, code, None).await?.year,
    };
    let card = tables::scorecard(storage, &scope, year, PUBLIC).await?;
    let columns = [
        "municipality",
        "year",
        "score",
        "component",
        "component_score",
        "item",
        "label",
        "value",
        "detail",
    ];
    let mut rows = Vec::new();
    for c in &card.components {
        let head = |item: Cell, label: Cell, value: Cell, detail: Cell| {
            vec![
                Cell::text(code),
                Cell::Int(i64::from(year)),
                Cell::opt(card.score),
                Cell::text(c.name),
                Cell::opt(c.score),
                item,
                label,
                value,
                detail,
            ]
        };
        if c.inputs.is_empty() {
            rows.push(head(Cell::Empty, Cell::Empty, Cell::Empty, Cell::Empty));
        }
        for i in &c.inputs {
            rows.push(head(
                Cell::text(&i.item),
                Cell::text(&i.label),
                Cell::Number(i.value),
                Cell::text(&i.detail),
            ));
        }
    }
    Ok(Table {
        columns: columns.map(str::to_owned).to_vec(),
        rows,
    })
}

fn facilities_table(panel: &Panel) -> Table {
    let columns = [
        "code",
        "municipality",
        "kind",
        "name_ky",
        "name_ru",
        "name_en",
        "lat",
        "lon",
        "approved_visits",
        "last_visit",
        "state",
    ];
    let rows = panel
        .facilities
        .iter()
        .map(|f| {
            vec![
                Cell::text(&f.facility.code),
                Cell::text(&f.facility.municipality),
                Cell::text(&f.facility.kind),
                Cell::text(&f.facility.name_ky),
                Cell::text(&f.facility.name_ru),
                Cell::text(&f.facility.name_en),
                Cell::Number(f.facility.lat),
                Cell::Number(f.facility.lon),
                Cell::Int(f.approved_visits),
                f.last_visit.clone().map_or(Cell::Empty, Cell::Text),
                Cell::text(f.state),
            ]
        })
        .collect();
    Table {
        columns: columns.map(str::to_owned).to_vec(),
        rows,
    }
}

fn facilities_geojson(panel: &Panel, about: &About) -> Value {
    let features: Vec<Value> = panel
        .facilities
        .iter()
        .map(|f| {
            json!({
                "type": "Feature",
                "id": f.facility.code,
                "geometry": {"type": "Point", "coordinates": [f.facility.lon, f.facility.lat]},
                "properties": {
                    "code": f.facility.code,
                    "kind": f.facility.kind,
                    "name_ky": f.facility.name_ky,
                    "name_ru": f.facility.name_ru,
                    "name_en": f.facility.name_en,
                    "approved_visits": f.approved_visits,
                    "last_visit": f.last_visit,
                    "state": f.state,
                    "latest": f.latest,
                },
            })
        })
        .collect();
    json!({
        "type": "FeatureCollection",
        "municipality": about.municipality,
        "made_at": about.made_at,
        "audit": about.audit,
        "features": features,
    })
}

enum Streamed {
    SubmissionsCsv,
    SubmissionsJson,
    Visits,
}

/// Streams approved submissions page by page through a small channel: memory stays flat
/// however many there are, and a client that goes away stops the reading.
async fn stream(
    app: &AppState,
    scope: Scope,
    about: About,
    kind: Streamed,
) -> Result<Response, AppError> {
    let policy = Policy::load(&app.storage).await?;
    let storage = app.storage.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        if let Err(e) = produce(&storage, &scope, &about, &policy, kind, &tx).await {
            tracing::error!(error = %e, "export stream failed");
            let _ = tx
                .send(Err(std::io::Error::other(
                    "export failed; see the server log",
                )))
                .await;
        }
    });
    // poll_fn, not unfold: the compression layer may poll again after the end.
    let mut rx = rx;
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Ok(Body::from_stream(body).into_response())
}

#[derive(Debug, thiserror::Error)]
enum StreamError {
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error("the client went away")]
    Gone,
}

async fn produce(
    storage: &Storage,
    scope: &Scope,
    about: &About,
    policy: &Policy,
    kind: Streamed,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), StreamError> {
    let send = |text: String| async move {
        tx.send(Ok(Bytes::from(text)))
            .await
            .map_err(|_| StreamError::Gone)
    };
    let seq = about.audit.seq.to_string();
    let columns: Vec<String> = redact::ENVELOPE
        .iter()
        .map(|c| c.to_string())
        .chain(policy.answer_columns.iter().cloned())
        .collect();
    let head = match kind {
        Streamed::SubmissionsCsv => {
            let mut out = String::from(BOM);
            csv_record(
                &mut out,
                columns.iter().map(String::as_str).chain(["audit_seq"]),
            );
            out
        }
        Streamed::SubmissionsJson => format!(
            "{{\"dataset\":\"submissions\",\"municipality\":{},\"made_at\":{},\"audit\":{},\"submissions\":[",
            json!(about.municipality),
            json!(about.made_at),
            json!(about.audit)
        ),
        Streamed::Visits => format!(
            "{{\"type\":\"FeatureCollection\",\"municipality\":{},\"made_at\":{},\"audit\":{},\"features\":[",
            json!(about.municipality),
            json!(about.made_at),
            json!(about.audit)
        ),
    };
    send(head).await?;
    let mut after: Option<(String, String)> = None;
    let mut first = true;
    loop {
        let page = storage
            .approved_page(
                scope.as_str(),
                after.as_ref().map(|(c, i)| (c.as_str(), i.as_str())),
                PAGE,
            )
            .await?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some((last.collection.clone(), last.record_id.clone()));
        let mut chunk = String::new();
        for s in &page {
            let Some(public) = policy.public(s) else {
                continue;
            };
            match kind {
                Streamed::SubmissionsCsv => {
                    let cells: Vec<String> = columns
                        .iter()
                        .map(|c| redact::cell(public.get(c)))
                        .collect();
                    csv_record(
                        &mut chunk,
                        cells.iter().map(String::as_str).chain([seq.as_str()]),
                    );
                }
                Streamed::SubmissionsJson => {
                    if !first {
                        chunk.push(',');
                    }
                    first = false;
                    chunk.push_str(&Value::Object(public).to_string());
                }
                Streamed::Visits => {
                    let (Some(lat), Some(lon)) = (
                        public.get("lat").and_then(Value::as_f64),
                        public.get("lon").and_then(Value::as_f64),
                    ) else {
                        continue;
                    };
                    if !first {
                        chunk.push(',');
                    }
                    first = false;
                    let feature = json!({
                        "type": "Feature",
                        "id": public.get("record_id"),
                        "geometry": {"type": "Point", "coordinates": [lon, lat]},
                        "properties": {
                            "form": public.get("form"),
                            "facility": public.get("facility"),
                            "captured_on": public.get("captured_on"),
                        },
                    });
                    chunk.push_str(&feature.to_string());
                }
            }
        }
        send(chunk).await?;
        if (page.len() as u64) < PAGE {
            break;
        }
    }
    if !matches!(kind, Streamed::SubmissionsCsv) {
        send("]}".into()).await?;
    }
    Ok(())
}
