//! HTTP: the recommendations with their votes and status, a pre-filled draft, and the council's
//! decision log.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{DECISION_STATUSES, INSTRUMENTS, Status};
use crate::access::Action;
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::openapi::errors::{BadRequest, Forbidden, Invalid, NotFound, Unauthorized};
use crate::error::AppError;
use crate::series::plan::{Basis, Status as PlanStatus};
use crate::series::{Period, PeriodKind, tables};
use crate::storage::CouncilDecision;

/// `GET /api/v1/municipalities/{code}/recommendations`: the public sees those the team adopted;
/// signed-in users and phones of the municipality see drafts too.
#[utoipa::path(
    get,
    path = "/api/v1/municipalities/{code}/recommendations",
    tag = "council",
    operation_id = "list_recommendations",
    params(("code" = String, Path, description = "The municipality's code.")),
    responses(
        (status = 200, description = "`{municipality, recommendations: [{id, team, meeting_on, title, items, addressees, votes: {for, against, abstain, current_members, needed}, status, decisions}]}`", body = Object),
        NotFound,
    ),
    security((), ("bearer" = []), ("session" = [])),
)]
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> Result<Json<Value>, AppError> {
    let m = crate::open::municipality(&app.storage, &code).await?;
    caller.require(Action::ReadResults, Some(&m))?;
    let drafts = caller.0.may(Action::ReadProvisional, Some(&m));
    let all = super::list(&app.storage, &m, &crate::open::today_utc()).await?;
    let shown: Vec<_> = all
        .into_iter()
        .filter(|r| drafts || r.status != Status::Draft)
        .collect();
    Ok(Json(
        json!({"municipality": code, "recommendations": shown}),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DraftQuery {
    /// The year whose figures fill the draft (this year by default).
    year: Option<String>,
}

/// `GET /api/v1/municipalities/{code}/recommendations/draft?year=2026`: what a team meeting
/// starts from: each M&E plan indicator not on track, with plan, fact, gap and forecast from the
/// official figures, and empty shortcomings and proposals for the team to write.
#[utoipa::path(
    get,
    path = "/api/v1/municipalities/{code}/recommendations/draft",
    tag = "council",
    operation_id = "recommendation_draft",
    params(("code" = String, Path, description = "The municipality's code."), DraftQuery),
    responses(
        (status = 200, description = "`{municipality, year, meeting_on, items: [{indicator, plan, fact, gap, forecast, shortcomings, proposals}], addressees}`", body = Object),
        BadRequest,
        NotFound,
    ),
    security((), ("bearer" = []), ("session" = [])),
)]
pub async fn draft(
    State(app): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    Query(q): Query<DraftQuery>,
) -> Result<Json<Value>, AppError> {
    let m = crate::open::municipality(&app.storage, &code).await?;
    caller.require(Action::ReadResults, Some(&m))?;
    let year = match q.year.as_deref() {
        None => time::OffsetDateTime::now_utc().year(),
        Some(text) => text
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|y| (1900..=2200).contains(y))
            .ok_or_else(|| AppError::BadRequest {
                code: "invalid_period",
                message: format!("year {text:?} is not a year such as 2026"),
            })?,
    };
    let period = Period::new(year, PeriodKind::Year, 1).ok_or_else(|| AppError::BadRequest {
        code: "invalid_period",
        message: format!("{year} is not a year"),
    })?;
    let plan = tables::plan_vs_fact(
        &app.storage,
        &m,
        period,
        Basis::Official,
        crate::open::panel::PUBLIC,
    )
    .await?;
    let items: Vec<Value> = plan
        .rows
        .iter()
        .filter(|r| r.status != PlanStatus::OnTrack)
        .map(|r| {
            json!({
                "indicator": r.indicator,
                "plan": r.target,
                "fact": r.actual,
                "gap": r.target.zip(r.actual).map(|(t, a)| t - a),
                "forecast": r.forecast.as_ref().map(|f| f.value),
                "shortcomings": "",
                "proposals": "",
            })
        })
        .collect();
    Ok(Json(json!({
        "municipality": code,
        "year": year,
        "meeting_on": crate::open::today_utc(),
        "items": items,
        "addressees": ["deputies", "ao_head"],
    })))
}

/// `GET /api/v1/municipalities/{code}/council-decisions`: the decision log, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/municipalities/{code}/council-decisions",
    tag = "council",
    operation_id = "list_council_decisions",
    params(("code" = String, Path, description = "The municipality's code.")),
    responses(
        (status = 200, description = "`{municipality, decisions: [...]}`, newest session first", body = Object),
        NotFound,
    ),
    security((), ("bearer" = []), ("session" = [])),
)]
pub async fn decisions(
    State(app): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> Result<Json<Value>, AppError> {
    let m = crate::open::municipality(&app.storage, &code).await?;
    caller.require(Action::ReadResults, Some(&m))?;
    let list = app.storage.council_decisions(m.as_str()).await?;
    Ok(Json(json!({"municipality": code, "decisions": list})))
}

/// A council decision to record.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDecision {
    session_on: String,
    instrument: String,
    decision: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    indicators: Vec<String>,
    #[serde(default)]
    recommendations: Vec<String>,
}

fn invalid(message: String) -> AppError {
    AppError::Invalid(message)
}

/// `POST /api/v1/municipalities/{code}/council-decisions`: deputies, AO staff and the AO head
/// of the municipality record what the council decided.
#[utoipa::path(
    post,
    path = "/api/v1/municipalities/{code}/council-decisions",
    tag = "council",
    operation_id = "record_council_decision",
    params(("code" = String, Path, description = "The municipality's code.")),
    request_body = NewDecision,
    responses(
        (status = 201, description = "The recorded decision.", body = Object),
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Invalid,
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn record(
    State(app): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    Json(body): Json<Value>,
) -> Result<(StatusCode, Json<CouncilDecision>), AppError> {
    let m = crate::open::municipality(&app.storage, &code).await?;
    caller.require(Action::RecordCouncilDecision, Some(&m))?;
    let d: NewDecision =
        serde_json::from_value(body).map_err(|e| AppError::MalformedJson(e.to_string()))?;
    if time::Date::parse(
        &d.session_on,
        &time::macros::format_description!("[year]-[month]-[day]"),
    )
    .is_err()
    {
        return Err(invalid(format!(
            "session_on {:?} is not a date YYYY-MM-DD",
            d.session_on
        )));
    }
    if !INSTRUMENTS.contains(&d.instrument.as_str()) {
        return Err(invalid(format!(
            "instrument {:?} is not one of {}",
            d.instrument,
            INSTRUMENTS.join(", ")
        )));
    }
    let status = d.status.unwrap_or_else(|| "under_consideration".into());
    if !DECISION_STATUSES.contains(&status.as_str()) {
        return Err(invalid(format!(
            "status {status:?} is not one of {}",
            DECISION_STATUSES.join(", ")
        )));
    }
    let text = d.decision.trim();
    if text.is_empty() || text.chars().count() > 4000 {
        return Err(invalid(
            "decision is the decision's text, 1 to 4000 characters".into(),
        ));
    }
    let indicators: Vec<String> = app
        .storage
        .indicators_in(&m)
        .await?
        .into_iter()
        .map(|i| i.code)
        .collect();
    if let Some(unknown) = d.indicators.iter().find(|i| !indicators.contains(i)) {
        return Err(invalid(format!(
            "indicator {unknown:?} is not an indicator of {code}"
        )));
    }
    let recommendations: Vec<String> = app
        .storage
        .recommendation_records(m.as_str())
        .await?
        .into_iter()
        .map(|r| r.record_id)
        .collect();
    if let Some(unknown) = d
        .recommendations
        .iter()
        .find(|r| !recommendations.contains(r))
    {
        return Err(invalid(format!(
            "recommendation {unknown:?} is not a recommendation of {code}"
        )));
    }
    let decision = CouncilDecision {
        decision_id: uuid::Uuid::now_v7().to_string(),
        municipality: code.clone(),
        session_on: d.session_on,
        instrument: d.instrument,
        decision: text.to_owned(),
        status,
        indicators: d.indicators,
        recommendations: d.recommendations,
        recorded_at_ms: crate::sync::now_ms() as i64,
    };
    app.storage
        .add_council_decision(&decision, &caller.0.audit_name())
        .await?;
    Ok((StatusCode::CREATED, Json(decision)))
}
