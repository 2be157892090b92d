//! Indicator results: series, plan versus fact, survey results, the scorecard, and what the
//! LSG enters for them. Official figures are open to anyone; provisional ones and the ids of
//! the submissions behind a value are for signed-in users and phones of the municipality.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::body::JsonBody;
use super::municipality::municipality;
use super::openapi::errors::{
    BadRequest, Forbidden, Invalid, JsonBodyErrors, NotFound, Unauthorized,
};
use crate::access::Action;
use crate::error::AppError;
use crate::series::plan::Basis;
use crate::series::scorecard::{self, AssessmentItem};
use crate::series::tables::{self, View};
use crate::series::{Period, PeriodKind};
use crate::storage::LsgEntry;

fn view(caller: &Caller, m: &sync_protocol::Scope) -> View {
    View {
        provisional: caller.0.may(Action::ReadProvisional, Some(m)),
        delegated_only: caller.0.delegated_only(),
    }
}

fn bad(code: &'static str, message: String) -> AppError {
    AppError::BadRequest { code, message }
}

fn parse_period(text: &str) -> Result<Period, AppError> {
    text.parse().map_err(|_| {
        bad(
            "invalid_period",
            format!("{text:?} is not a period: 2026, 2026-H1, 2026-Q3 or 2026-05"),
        )
    })
}

fn parse_basis(text: Option<&str>, view: View, public: bool) -> Result<Basis, AppError> {
    match text {
        None | Some("official") => Ok(Basis::Official),
        Some("provisional") if view.provisional => Ok(Basis::Provisional),
        Some("provisional") if public => Err(AppError::Unauthorized),
        Some("provisional") => Err(AppError::Forbidden(
            "provisional figures are for signed-in users of the municipality".into(),
        )),
        Some(other) => Err(bad(
            "invalid_basis",
            format!("basis {other:?} is not official or provisional"),
        )),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SeriesQuery {
    /// `year` (the default), `half`, `quarter` or `month`.
    period: Option<String>,
    /// One facility's code; the whole municipality when left out.
    facility: Option<String>,
    /// The first period, e.g. `2026`, `2026-H1`, `2026-Q3` or `2026-05`.
    from: Option<String>,
    /// The last period.
    to: Option<String>,
}

/// An indicator's values over time.
#[utoipa::path(
    get,
    path = "/api/v1/indicators/{code}/series",
    tag = "results",
    operation_id = "indicator_series",
    params(("code" = String, Path, description = "The indicator's code."), SeriesQuery),
    responses(
        (status = 200, description = "The series.", body = Object),
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
    ),
    security((), ("bearer" = []), ("session" = [])),
)]
pub async fn series(
    State(app): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    Query(q): Query<SeriesQuery>,
) -> Result<Json<tables::SeriesAnswer>, AppError> {
    let missing = || AppError::NotFound(format!("no indicator {code:?}"));
    let m = app
        .storage
        .indicator_municipality(&code)
        .await?
        .ok_or_else(missing)?;
    let m = municipality(&m)?;
    caller.require(Action::ReadResults, Some(&m))?;
    let kind = match q.period.as_deref() {
        None => PeriodKind::Year,
        Some(text) => PeriodKind::parse(text).ok_or_else(|| {
            bad(
                "invalid_period",
                format!("period {text:?} is not year, half, quarter or month"),
            )
        })?,
    };
    let from = q.from.as_deref().map(parse_period).transpose()?;
    let to = q.to.as_deref().map(parse_period).transpose()?;
    tables::series(
        &app.storage,
        &code,
        &m,
        q.facility.as_deref(),
        kind,
        (from, to),
        view(&caller, &m),
    )
    .await?
    .map(Json)
    .ok_or_else(missing)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PlanQuery {
    /// A period such as `2026`, `2026-H1`, `2026-Q3` or `2026-05`; this year when left out.
    period: Option<String>,
    /// `official` (the default) or `provisional` (signed-in users of the municipality).
    basis: Option<String>,
}

/// The M&E plan's indicators: targets against what was measured.
#[utoipa::path(
    get,
    path = "/api/v1/municipalities/{code}/plan-vs-fact",
    tag = "results",
    operation_id = "plan_vs_fact",
    params(("code" = String, Path, description = "The municipality's code."), PlanQuery),
    responses(
        (status = 200, description = "Plan versus fact.", body = Object),
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
    ),
    security((), ("bearer" = []), ("session" = [])),
)]
pub async fn plan_vs_fact(
    State(app): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    Query(q): Query<PlanQuery>,
) -> Result<Json<tables::PlanAnswer>, AppError> {
    let m = municipality(&code)?;
    caller.require(Action::ReadResults, Some(&m))?;
    let view = view(&caller, &m);
    let basis = parse_basis(q.basis.as_deref(), view, caller.0.is_public())?;
    let period = match q.period.as_deref() {
        Some(text) => parse_period(text)?,
        None => Period::new(time::OffsetDateTime::now_utc().year(), PeriodKind::Year, 1)
            .ok_or_else(|| AppError::internal("this year is not a year"))?,
    };
    Ok(Json(
        tables::plan_vs_fact(&app.storage, &m, period, basis, view).await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SurveyQuery {
    /// The survey form; `resident_survey` when left out.
    form: Option<String>,
    /// `official` (the default) or `provisional` (signed-in users of the municipality).
    basis: Option<String>,
}

/// A survey's results in the municipality.
#[utoipa::path(
    get,
    path = "/api/v1/municipalities/{code}/survey",
    tag = "results",
    operation_id = "survey_results",
    params(("code" = String, Path, description = "The municipality's code."), SurveyQuery),
    responses(
        (status = 200, description = "The survey's results.", body = Object),
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
    ),
    security((), ("bearer" = []), ("session" = [])),
)]
pub async fn survey(
    State(app): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    Query(q): Query<SurveyQuery>,
) -> Result<Json<tables::SurveyAnswer>, AppError> {
    let m = municipality(&code)?;
    caller.require(Action::ReadResults, Some(&m))?;
    let basis = parse_basis(q.basis.as_deref(), view(&caller, &m), caller.0.is_public())?;
    let form = q.form.unwrap_or_else(|| "resident_survey".to_owned());
    tables::survey(&app.storage, &m, &form, basis)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::NotFound(format!("no survey form {form:?}")))
}

fn parse_year(text: &str) -> Result<i32, AppError> {
    text.parse::<i32>()
        .ok()
        .filter(|y| (1000..=9999).contains(y))
        .ok_or_else(|| bad("invalid_period", format!("{text:?} is not a year")))
}

/// The year's scorecard.
#[utoipa::path(
    get,
    path = "/api/v1/municipalities/{code}/scorecard/{year}",
    tag = "results",
    operation_id = "scorecard",
    params(
        ("code" = String, Path, description = "The municipality's code."),
        ("year" = i32, Path, description = "The year."),
    ),
    responses(
        (status = 200, description = "The scorecard.", body = Object),
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
    ),
    security((), ("bearer" = []), ("session" = [])),
)]
pub async fn scorecard(
    State(app): State<AppState>,
    caller: Caller,
    Path((code, year)): Path<(String, String)>,
) -> Result<Json<scorecard::Scorecard>, AppError> {
    let m = municipality(&code)?;
    caller.require(Action::ReadResults, Some(&m))?;
    let year = parse_year(&year)?;
    Ok(Json(
        tables::scorecard(&app.storage, &m, year, view(&caller, &m)).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessmentBody {
    /// The assessment's items (see `crate::series::scorecard::AssessmentItem`).
    #[schema(value_type = Vec<Object>)]
    items: Vec<AssessmentItem>,
    #[serde(default)]
    comment: String,
}

/// Sets the staff assessment of the year's scorecard.
#[utoipa::path(
    put,
    path = "/api/v1/municipalities/{code}/scorecard/{year}/assessment",
    tag = "results",
    operation_id = "put_assessment",
    params(
        ("code" = String, Path, description = "The municipality's code."),
        ("year" = i32, Path, description = "The year."),
    ),
    request_body = AssessmentBody,
    responses(
        (status = 204, description = "Stored."),
        JsonBodyErrors,
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Invalid,
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn put_assessment(
    State(app): State<AppState>,
    caller: Caller,
    Path((code, year)): Path<(String, String)>,
    JsonBody(body): JsonBody<AssessmentBody>,
) -> Result<StatusCode, AppError> {
    let m = municipality(&code)?;
    caller.require(Action::EnterLsgValues, Some(&m))?;
    let year = parse_year(&year)?;
    scorecard::check_assessment(&body.items).map_err(AppError::Invalid)?;
    if app.storage.indicators_in(&m).await?.is_empty() && app.storage.sedp(&m).await?.is_none() {
        return Err(AppError::NotFound(format!("{m} has no SEDP or indicators")));
    }
    let items = serde_json::to_value(&body.items).map_err(|e| AppError::internal(e.to_string()))?;
    app.storage
        .put_assessment(
            m.as_str(),
            year,
            &items,
            &body.comment,
            &caller.audit_name(),
            crate::sync::now_ms() as i64,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryBody {
    /// A finite number.
    value: f64,
    #[serde(default)]
    note: String,
}

async fn entry_scope(
    app: &AppState,
    caller: &Caller,
    code: &str,
) -> Result<sync_protocol::Scope, AppError> {
    let m = app
        .storage
        .indicator_municipality(code)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no indicator {code:?}")))?;
    let m = municipality(&m)?;
    caller.require(Action::EnterLsgValues, Some(&m))?;
    Ok(m)
}

/// Sets a value the LSG measured for a period.
#[utoipa::path(
    put,
    path = "/api/v1/indicators/{code}/entries/{period}",
    tag = "results",
    operation_id = "put_lsg_entry",
    params(
        ("code" = String, Path, description = "The indicator's code."),
        ("period" = String, Path, description = "`2026`, `2026-H1`, `2026-Q3` or `2026-05`."),
    ),
    request_body = EntryBody,
    responses(
        (status = 204, description = "Stored."),
        JsonBodyErrors,
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Invalid,
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn put_entry(
    State(app): State<AppState>,
    caller: Caller,
    Path((code, period)): Path<(String, String)>,
    JsonBody(body): JsonBody<EntryBody>,
) -> Result<StatusCode, AppError> {
    entry_scope(&app, &caller, &code).await?;
    let period = parse_period(&period)?;
    if !body.value.is_finite() {
        return Err(AppError::Invalid("value must be a finite number".into()));
    }
    let entry = LsgEntry {
        indicator: code,
        period,
        value: body.value,
        note: body.note,
    };
    app.storage
        .put_lsg_entry(&entry, &caller.audit_name(), crate::sync::now_ms() as i64)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a value the LSG entered for a period.
#[utoipa::path(
    delete,
    path = "/api/v1/indicators/{code}/entries/{period}",
    tag = "results",
    operation_id = "delete_lsg_entry",
    params(
        ("code" = String, Path, description = "The indicator's code."),
        ("period" = String, Path, description = "`2026`, `2026-H1`, `2026-Q3` or `2026-05`."),
    ),
    responses(
        (status = 204, description = "Removed."),
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn delete_entry(
    State(app): State<AppState>,
    caller: Caller,
    Path((code, period)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    entry_scope(&app, &caller, &code).await?;
    let period = parse_period(&period)?;
    app.storage
        .delete_lsg_entry(
            &code,
            period,
            &caller.audit_name(),
            crate::sync::now_ms() as i64,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The values the LSG entered in the municipality.
#[utoipa::path(
    get,
    path = "/api/v1/municipalities/{code}/lsg-entries",
    tag = "results",
    operation_id = "list_lsg_entries",
    params(("code" = String, Path, description = "The municipality's code.")),
    responses(
        (status = 200, description = "The entries.", body = Object,
            example = json!({"municipality": "…", "entries": []})),
        Unauthorized,
        Forbidden,
        NotFound,
    ),
    security((), ("bearer" = []), ("session" = [])),
)]
pub async fn entries(
    State(app): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> Result<Json<Value>, AppError> {
    let m = municipality(&code)?;
    caller.require(Action::ReadResults, Some(&m))?;
    let delegated_only = caller.0.delegated_only();
    let delegated: Vec<String> = app
        .storage
        .indicators_in(&m)
        .await?
        .into_iter()
        .filter(|i| i.delegated || !delegated_only)
        .map(|i| i.code)
        .collect();
    let mut entries = app.storage.lsg_entries(m.as_str()).await?;
    entries.retain(|e| delegated.contains(&e.indicator));
    if !caller.0.may(Action::ReadProvisional, Some(&m)) {
        // Who typed a value is staff data; the value itself is public.
        for e in &mut entries {
            e.entered_by.clear();
        }
    }
    Ok(Json(
        json!({"municipality": m.to_string(), "entries": entries}),
    ))
}
