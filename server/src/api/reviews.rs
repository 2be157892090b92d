//! Review decisions on submissions and their derived status.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};
use sync_protocol::review::Decision;

use super::AppState;
use super::auth::Caller;
use super::body::JsonBody;
use super::municipality::municipality;
use crate::access::Action;
use crate::error::AppError;
use crate::storage::{NewReview, SubmissionState};
use sync_protocol::Scope;

const SUBMISSIONS: [&str; 2] = ["visits", "survey_responses"];

fn collection(name: &str) -> Result<&'static str, AppError> {
    SUBMISSIONS
        .into_iter()
        .find(|c| *c == name)
        .ok_or_else(|| AppError::NotFound(format!("{name:?} is not visits or survey_responses")))
}

/// The submission, if it exists and the caller may read it.
async fn readable(
    app: &AppState,
    caller: &Caller,
    name: &str,
    id: &str,
) -> Result<(&'static str, SubmissionState, Scope), AppError> {
    let collection = collection(name)?;
    let state = app
        .storage
        .submission_state(collection, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no submission {name}/{id}")))?;
    let m = municipality(&state.scope)?;
    caller.require(Action::ReadSubmissions, Some(&m))?;
    Ok((collection, state, m))
}

/// `GET /api/v1/submissions/{collection}/{id}/status`
pub async fn status(
    State(app): State<AppState>,
    caller: Caller,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    let (collection, state, _) = readable(&app, &caller, &name, &id).await?;
    Ok(Json(json!({
        "collection": collection,
        "id": id,
        "municipality": state.scope,
        "status": state.status,
        "version": state.version,
        "deleted": state.deleted,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    decision: String,
    /// The version the reviewer looked at; the current one when left out.
    version: Option<String>,
    #[serde(default)]
    comment: String,
}

/// `POST /api/v1/submissions/{collection}/{id}/reviews`: approve, send back or reject.
pub async fn decide(
    State(app): State<AppState>,
    caller: Caller,
    Path((name, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<ReviewBody>,
) -> Result<Json<Value>, AppError> {
    let (collection, state, m) = readable(&app, &caller, &name, &id).await?;
    caller.require(Action::Review, Some(&m))?;
    let decision = Decision::parse(&body.decision).ok_or_else(|| AppError::BadRequest {
        code: "invalid_decision",
        message: format!(
            "decision {:?} is not approved, has_issues or rejected",
            body.decision
        ),
    })?;
    if decision == Decision::HasIssues && body.comment.trim().is_empty() {
        return Err(AppError::Invalid(
            "sending a submission back needs a comment saying what to fix".into(),
        ));
    }
    if state.deleted {
        return Err(AppError::Conflict(format!("{name}/{id} was deleted")));
    }
    let version = body.version.unwrap_or_else(|| state.version.clone());
    if version != state.version {
        return Err(AppError::Conflict(format!(
            "{name}/{id} changed since version {version}; it is now {}: look again",
            state.version
        )));
    }
    let review_id = app
        .storage
        .record_review(
            &NewReview {
                collection: collection.to_owned(),
                submission: id.clone(),
                scope: m.clone(),
                decision,
                judged_version: version,
                comment: body.comment,
            },
            &caller.audit_name(),
            crate::sync::now_ms() as i64,
        )
        .await?;
    crate::series::project::catch_up(&app.storage, &[m.to_string()]).await?;
    let (_, now, _) = readable(&app, &caller, &name, &id).await?;
    Ok(Json(json!({
        "review": review_id.to_string(),
        "status": now.status,
        "version": now.version,
    })))
}
