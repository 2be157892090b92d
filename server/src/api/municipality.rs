//! A municipality's reference data: facilities, SEDP indicators and the M&E plan.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use sync_protocol::Scope;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::body::{JsonBody, TextBody, parse_import};
use super::openapi::errors::{
    Conflict, Forbidden, Invalid, JsonBodyErrors, NotFound, TextBodyErrors, Unauthorized,
};
use crate::access::Action;
use crate::error::AppError;
use crate::storage::{IndicatorView, MePlan};

pub(super) fn municipality(code: &str) -> Result<Scope, AppError> {
    Scope::parse(code).map_err(|e| AppError::NotFound(format!("no municipality {code:?}: {e}")))
}

/// The municipality's facilities, shaped as phones receive them.
#[utoipa::path(
    get,
    path = "/api/v1/municipalities/{code}/facilities",
    tag = "municipality",
    operation_id = "list_facilities",
    params(("code" = String, Path, description = "The municipality's code.")),
    responses(
        (status = 200, description = "The facilities.", body = [Object],
            example = json!([{"code": "…", "municipality": "…", "kind": "school", "name_ky": "…",
                "name_ru": "…", "name_en": "…", "location": {"lat": 42.87, "lon": 74.59},
                "delegated": false}])),
        Unauthorized,
        Forbidden,
        NotFound,
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn facilities(
    State(app): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> Result<Json<Vec<Value>>, AppError> {
    let m = municipality(&code)?;
    caller.require(Action::ReadMunicipality, Some(&m))?;
    let delegated_only = caller.0.delegated_only();
    let all = app.storage.facilities().await?;
    Ok(Json(
        all.into_iter()
            .filter(|f| f.municipality == m.as_str() && (f.delegated || !delegated_only))
            .map(|f| {
                json!({
                    "code": f.code,
                    "municipality": f.municipality,
                    "kind": f.kind,
                    "name_ky": f.name_ky,
                    "name_ru": f.name_ru,
                    "name_en": f.name_en,
                    "location": {"lat": f.lat, "lon": f.lon},
                    "delegated": f.delegated,
                })
            })
            .collect(),
    ))
}

/// Rows of an import file must all lie in municipalities the caller manages.
fn require_rows<'a>(
    caller: &Caller,
    action: Action,
    rows: impl Iterator<Item = (u64, &'a Scope)>,
) -> Result<(), AppError> {
    for (line, m) in rows {
        if !caller.0.may(action, Some(m)) {
            caller.require(action, Some(m)).map_err(|e| match e {
                AppError::Forbidden(message) => {
                    AppError::Forbidden(format!("line {line}: {message}; nothing was imported"))
                }
                other => other,
            })?;
        }
    }
    Ok(())
}

/// Imports a facilities CSV (the format of `jmet facility import`), whole or not at all.
#[utoipa::path(
    post,
    path = "/api/v1/facilities",
    tag = "municipality",
    operation_id = "import_facilities",
    request_body(content = String, content_type = "text/csv", description = "A facilities CSV."),
    responses(
        (status = 201, description = "Imported.", body = Object, example = json!({"imported": 12})),
        TextBodyErrors,
        Unauthorized,
        Forbidden,
        Invalid,
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn import_facilities(
    State(app): State<AppState>,
    caller: Caller,
    TextBody(text): TextBody,
) -> Result<(StatusCode, Json<Value>), AppError> {
    // Authenticate before parsing a stranger's file.
    if caller.0.is_public() {
        return Err(AppError::Unauthorized);
    }
    let (text, facilities) = parse_import(text, crate::facility::parse_csv).await?;
    require_rows(
        &caller,
        Action::ManageFacilities,
        facilities.iter().map(|f| (f.line, &f.municipality)),
    )?;
    if facilities.is_empty() {
        caller.require(Action::ManageFacilities, None)?;
    }
    let now = crate::sync::now_ms() as i64;
    let count = app
        .storage
        .import_facilities(&facilities, &text, &caller.audit_name(), now)
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"imported": count}))))
}

/// The SEDP's indicators, each marked with whether the M&E plan holds it.
#[utoipa::path(
    get,
    path = "/api/v1/municipalities/{code}/indicators",
    tag = "municipality",
    operation_id = "list_indicators",
    params(("code" = String, Path, description = "The municipality's code.")),
    responses(
        (status = 200, description = "The indicators.", body = [Object]),
        Unauthorized,
        Forbidden,
        NotFound,
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn indicators(
    State(app): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> Result<Json<Vec<IndicatorView>>, AppError> {
    let m = municipality(&code)?;
    caller.require(Action::ReadMunicipality, Some(&m))?;
    let delegated_only = caller.0.delegated_only();
    let mut all = app.storage.indicators_in(&m).await?;
    all.retain(|i| i.delegated || !delegated_only);
    Ok(Json(all))
}

/// Imports an indicators CSV (the format of `jmet indicator import`), whole or not at all.
#[utoipa::path(
    post,
    path = "/api/v1/indicators",
    tag = "municipality",
    operation_id = "import_indicators",
    request_body(content = String, content_type = "text/csv", description = "An indicators CSV."),
    responses(
        (status = 201, description = "Imported.", body = Object, example = json!({"imported": 12})),
        TextBodyErrors,
        Unauthorized,
        Forbidden,
        Invalid,
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn import_indicators(
    State(app): State<AppState>,
    caller: Caller,
    TextBody(text): TextBody,
) -> Result<(StatusCode, Json<Value>), AppError> {
    if caller.0.is_public() {
        return Err(AppError::Unauthorized);
    }
    let (text, indicators) = parse_import(text, crate::indicator::parse_csv).await?;
    require_rows(
        &caller,
        Action::ManageIndicators,
        indicators.iter().map(|i| (i.line, &i.municipality)),
    )?;
    if indicators.is_empty() {
        caller.require(Action::ManageIndicators, None)?;
    }
    let now = crate::sync::now_ms() as i64;
    let count = app
        .storage
        .import_indicators(&indicators, &text, &caller.audit_name(), now)
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"imported": count}))))
}

/// The M&E plan (404 while there is none).
#[utoipa::path(
    get,
    path = "/api/v1/municipalities/{code}/plan",
    tag = "municipality",
    operation_id = "get_plan",
    params(("code" = String, Path, description = "The municipality's code.")),
    responses(
        (status = 200, description = "The plan.", body = Object),
        Unauthorized,
        Forbidden,
        NotFound,
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn plan(
    State(app): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> Result<Json<MePlan>, AppError> {
    let m = municipality(&code)?;
    caller.require(Action::ReadMunicipality, Some(&m))?;
    let mut plan = app
        .storage
        .plan(&m)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("{m} has no M&E plan yet")))?;
    if caller.0.delegated_only() {
        let delegated: Vec<String> = app
            .storage
            .indicators_in(&m)
            .await?
            .into_iter()
            .filter(|i| i.delegated)
            .map(|i| i.code)
            .collect();
        plan.indicators.retain(|c| delegated.contains(c));
    }
    Ok(Json(plan))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanBody {
    /// Codes of the SEDP indicators chosen for the JMET.
    indicators: Vec<String>,
}

/// Sets the indicators chosen for the JMET, as a draft plan.
#[utoipa::path(
    put,
    path = "/api/v1/municipalities/{code}/plan",
    tag = "municipality",
    operation_id = "set_plan",
    params(("code" = String, Path, description = "The municipality's code.")),
    request_body = PlanBody,
    responses(
        (status = 200, description = "The plan as it now stands.", body = Object),
        JsonBodyErrors,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        Invalid,
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn set_plan(
    State(app): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    JsonBody(body): JsonBody<PlanBody>,
) -> Result<Json<MePlan>, AppError> {
    let m = municipality(&code)?;
    caller.require(Action::DraftPlan, Some(&m))?;
    let now = crate::sync::now_ms() as i64;
    app.storage
        .set_plan(&m, &body.indicators, &caller.audit_name(), now)
        .await?;
    plan_answer(&app, &m).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// The council session's date, `YYYY-MM-DD`.
    session_date: String,
    /// The number of the council's decision.
    decision: String,
}

/// Records that the council approved the plan at a session.
#[utoipa::path(
    post,
    path = "/api/v1/municipalities/{code}/plan/approve",
    tag = "municipality",
    operation_id = "approve_plan",
    params(("code" = String, Path, description = "The municipality's code.")),
    request_body = ApproveBody,
    responses(
        (status = 200, description = "The approved plan.", body = Object),
        JsonBodyErrors,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        Invalid,
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn approve_plan(
    State(app): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    JsonBody(body): JsonBody<ApproveBody>,
) -> Result<Json<MePlan>, AppError> {
    let m = municipality(&code)?;
    caller.require(Action::ApprovePlan, Some(&m))?;
    if body.decision.trim().is_empty() {
        return Err(AppError::Invalid(
            "the council decision's number is required".into(),
        ));
    }
    let now = crate::sync::now_ms() as i64;
    app.storage
        .approve_plan(
            &m,
            body.session_date.trim(),
            body.decision.trim(),
            &caller.audit_name(),
            now,
        )
        .await?;
    plan_answer(&app, &m).await
}

async fn plan_answer(app: &AppState, m: &Scope) -> Result<Json<MePlan>, AppError> {
    app.storage
        .plan(m)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::internal("a plan just written is missing"))
}

/// The SEDP with its goals and JAP actions.
#[utoipa::path(
    get,
    path = "/api/v1/municipalities/{code}/sedp",
    tag = "municipality",
    operation_id = "get_sedp",
    params(("code" = String, Path, description = "The municipality's code.")),
    responses(
        (status = 200, description = "The SEDP.", body = Object),
        Unauthorized,
        Forbidden,
        NotFound,
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn sedp(
    State(app): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> Result<Json<crate::sedp::Sedp>, AppError> {
    let m = municipality(&code)?;
    caller.require(Action::ReadMunicipality, Some(&m))?;
    app.storage
        .sedp(&m)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::NotFound(format!("{m} has no SEDP yet")))
}

/// Replaces the SEDP document (see `crate::sedp`).
#[utoipa::path(
    put,
    path = "/api/v1/municipalities/{code}/sedp",
    tag = "municipality",
    operation_id = "set_sedp",
    params(("code" = String, Path, description = "The municipality's code.")),
    request_body(content = Object, description = "The SEDP document."),
    responses(
        (status = 200, description = "The SEDP as stored.", body = Object),
        TextBodyErrors,
        Unauthorized,
        Forbidden,
        NotFound,
        Invalid,
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn set_sedp(
    State(app): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    TextBody(text): TextBody,
) -> Result<Json<crate::sedp::Sedp>, AppError> {
    let m = municipality(&code)?;
    caller.require(Action::ManageIndicators, Some(&m))?;
    let sedp = crate::sedp::parse(&text)?;
    if sedp.municipality != m {
        return Err(AppError::Invalid(format!(
            "the document is the SEDP of {}, not of {m}",
            sedp.municipality
        )));
    }
    let now = crate::sync::now_ms() as i64;
    app.storage
        .import_sedp(&sedp, &caller.audit_name(), now)
        .await?;
    Ok(Json(sedp))
}
