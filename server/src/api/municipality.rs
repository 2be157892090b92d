//! A municipality's reference data: facilities, SEDP indicators and the M&E plan.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use sync_protocol::Scope;

use super::AppState;
use super::auth::Caller;
use super::body::{JsonBody, TextBody, parse_import};
use crate::access::Action;
use crate::error::AppError;
use crate::storage::{IndicatorView, MePlan};

pub(super) fn municipality(code: &str) -> Result<Scope, AppError> {
    Scope::parse(code).map_err(|e| AppError::NotFound(format!("no municipality {code:?}: {e}")))
}

/// `GET /api/v1/municipalities/{code}/facilities`, shaped as phones receive them.
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

/// `POST /api/v1/facilities`: a facilities CSV (the format of `jmet facility import`).
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

/// `GET /api/v1/municipalities/{code}/indicators`: the SEDP's indicators, each marked with
/// whether the M&E plan holds it.
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

/// `POST /api/v1/indicators`: an indicators CSV (the format of `jmet indicator import`).
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

/// `GET /api/v1/municipalities/{code}/plan`: the M&E plan (404 while there is none).
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanBody {
    indicators: Vec<String>,
}

/// `PUT /api/v1/municipalities/{code}/plan`: the indicators chosen for the JMET, as a draft.
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// The council session's date, `YYYY-MM-DD`.
    session_date: String,
    decision: String,
}

/// `POST /api/v1/municipalities/{code}/plan/approve`: the council approved the plan at a session.
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

/// `GET /api/v1/municipalities/{code}/sedp`: the SEDP with its goals and JAP actions.
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

/// `PUT /api/v1/municipalities/{code}/sedp`: replaces the SEDP document (see `crate::sedp`).
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
