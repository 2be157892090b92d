//! Review over the API: the queue, one submission's detail, decisions (one or in bulk), comments.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use sync_protocol::Scope;
use sync_protocol::review::Decision;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::body::JsonBody;
use super::municipality::municipality;
use super::openapi::errors::{
    BadRequest, Conflict, Forbidden, Invalid, JsonBodyErrors, NotFound, Unauthorized,
};
use crate::access::{Action, Principal};
use crate::error::AppError;
use crate::review::queue::{QueuePage, QueueQuery};
use crate::review::{self, BulkItem, ReviewError};
use crate::storage::SubmissionState;

impl From<ReviewError> for AppError {
    fn from(e: ReviewError) -> Self {
        match e {
            ReviewError::NotFound(_) => AppError::NotFound(e.to_string()),
            ReviewError::Deleted(_) | ReviewError::Stale { .. } => {
                AppError::Conflict(e.to_string())
            }
            ReviewError::CommentNeeded | ReviewError::BadComment => {
                AppError::Invalid(e.to_string())
            }
            ReviewError::Storage(s) => s.into(),
        }
    }
}

fn collection(name: &str) -> Result<&'static str, AppError> {
    review::collection(name)
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
    if !review::is_record_id(id) {
        return Err(AppError::NotFound(format!("no submission {name}/{id}")));
    }
    let state = app
        .storage
        .submission_state(collection, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no submission {name}/{id}")))?;
    let m = municipality(&state.scope)?;
    caller.require(Action::ReadSubmissions, Some(&m))?;
    Ok((collection, state, m))
}

/// A submission's review status and version.
#[utoipa::path(
    get,
    path = "/api/v1/submissions/{collection}/{id}/status",
    tag = "review",
    operation_id = "submission_status",
    params(
        ("collection" = String, Path, description = "`visits` or `survey_responses`."),
        ("id" = String, Path, description = "The submission's record id."),
    ),
    responses(
        (status = 200, description = "The status.", body = Object,
            example = json!({"collection": "visits", "id": "…", "municipality": "…",
                "status": "received", "version": "…", "deleted": false})),
        Unauthorized,
        Forbidden,
        NotFound,
    ),
    security(("bearer" = []), ("session" = [])),
)]
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

/// A submission's answers, photos, flags, history, decisions and comments. Names people, so not
/// for state bodies.
#[utoipa::path(
    get,
    path = "/api/v1/submissions/{collection}/{id}",
    tag = "review",
    operation_id = "submission_detail",
    params(
        ("collection" = String, Path, description = "`visits` or `survey_responses`."),
        ("id" = String, Path, description = "The submission's record id."),
    ),
    responses(
        (status = 200, description = "The submission in detail.", body = Object),
        Unauthorized,
        Forbidden,
        NotFound,
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn detail(
    State(app): State<AppState>,
    caller: Caller,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    let (collection, _, _) = readable(&app, &caller, &name, &id).await?;
    if caller.0.delegated_only() {
        return Err(AppError::Forbidden(
            "a state body reads submissions through their evidence, not their history".into(),
        ));
    }
    let detail = review::detail::load(&app.storage, collection, &id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no submission {name}/{id}")))?;
    Ok(Json(json!(detail)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    /// `approved`, `has_issues` or `rejected`.
    decision: String,
    /// The version the reviewer looked at; the current one when left out.
    version: Option<String>,
    #[serde(default)]
    comment: String,
}

/// Approves a submission, sends it back with issues, or rejects it.
#[utoipa::path(
    post,
    path = "/api/v1/submissions/{collection}/{id}/reviews",
    tag = "review",
    operation_id = "decide_submission",
    params(
        ("collection" = String, Path, description = "`visits` or `survey_responses`."),
        ("id" = String, Path, description = "The submission's record id."),
    ),
    request_body = ReviewBody,
    responses(
        (status = 200, description = "The decision as recorded.", body = Object),
        JsonBodyErrors,
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        Invalid,
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn decide(
    State(app): State<AppState>,
    caller: Caller,
    Path((name, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<ReviewBody>,
) -> Result<Json<Value>, AppError> {
    let (collection, _, m) = readable(&app, &caller, &name, &id).await?;
    caller.require(Action::Review, Some(&m))?;
    let decision = Decision::parse(&body.decision).ok_or_else(|| AppError::BadRequest {
        code: "invalid_decision",
        message: format!(
            "decision {:?} is not approved, has_issues or rejected",
            body.decision
        ),
    })?;
    let decided = review::decide(
        &app.storage,
        review::Judgement {
            collection,
            id: &id,
            decision,
            version: body.version,
            comment: &body.comment,
        },
        &caller.audit_name(),
        crate::sync::now_ms() as i64,
    )
    .await?;
    Ok(Json(json!(decided)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentBody {
    text: String,
}

/// A reviewer's comment to the team.
#[utoipa::path(
    post,
    path = "/api/v1/submissions/{collection}/{id}/comments",
    tag = "review",
    operation_id = "comment_submission",
    params(
        ("collection" = String, Path, description = "`visits` or `survey_responses`."),
        ("id" = String, Path, description = "The submission's record id."),
    ),
    request_body = CommentBody,
    responses(
        (status = 201, description = "The comment as recorded.", body = Object,
            example = json!({"comment": {}})),
        JsonBodyErrors,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        Invalid,
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn comment(
    State(app): State<AppState>,
    caller: Caller,
    Path((name, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<CommentBody>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let (collection, _, m) = readable(&app, &caller, &name, &id).await?;
    caller.require(Action::Review, Some(&m))?;
    let comment = review::comment(
        &app.storage,
        &m,
        collection,
        &id,
        &body.text,
        &caller.audit_name(),
        crate::sync::now_ms() as i64,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!({ "comment": comment }))))
}

/// The municipalities a reviewer's queue covers: `None` for everywhere.
pub fn reviewable(caller: &Principal) -> Result<Option<Vec<String>>, AppError> {
    match caller {
        Principal::User(u) if caller.may(Action::Review, None) => Ok(if u.everywhere {
            None
        } else {
            Some(u.municipalities.iter().map(|m| m.to_string()).collect())
        }),
        Principal::Public => Err(AppError::Unauthorized),
        _ => Err(AppError::Forbidden(
            "the review queue is for supervisors and admins".into(),
        )),
    }
}

/// Query parameters of the queue, shared by the API and the console.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QueueParams {
    /// One municipality's code; every one the reviewer may review when empty.
    #[serde(default)]
    pub municipality: String,
    /// One form's id.
    #[serde(default)]
    pub form: String,
    /// One facility's code.
    #[serde(default)]
    pub facility: String,
    /// One team member's id.
    #[serde(default)]
    pub member: String,
    /// `to_review` (the default), `all`, `received`, `has_issues`, `approved`, `rejected` or
    /// `edited_after_review`.
    #[serde(default)]
    pub status: String,
    /// `none`, `any`, or a flag kind such as `far_from_facility`.
    #[serde(default)]
    pub flag: String,
    /// The first day, `YYYY-MM-DD`.
    #[serde(default)]
    pub from: String,
    /// The last day, `YYYY-MM-DD`.
    #[serde(default)]
    pub to: String,
    /// `oldest` (the default), `newest` or `flags`.
    #[serde(default)]
    pub sort: String,
    /// The page, from 1.
    #[serde(default)]
    pub page: Option<u64>,
}

impl QueueParams {
    /// Checks every parameter; `visible` is what the reviewer may see.
    pub fn query(&self, visible: Option<Vec<String>>) -> Result<QueueQuery, AppError> {
        use crate::review::queue::{FlagFilter, Sort, StatusFilter};
        let bad = |name: &str, value: &str, allowed: &str| AppError::BadRequest {
            code: "invalid_filter",
            message: format!("{name} {value:?} is not valid: {allowed}"),
        };
        let opt = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let day = |name: &str, s: &str| -> Result<Option<String>, AppError> {
            match opt(s) {
                None => Ok(None),
                Some(d) => crate::series::period::parse_date_prefix(&d)
                    .filter(|_| d.len() == 10)
                    .map(|_| Some(d.clone()))
                    .ok_or_else(|| bad(name, &d, "a day YYYY-MM-DD")),
            }
        };
        let municipality = opt(&self.municipality);
        if let (Some(m), Some(v)) = (&municipality, &visible)
            && !v.contains(m)
        {
            return Err(AppError::Forbidden(format!(
                "you may not review submissions for {m}"
            )));
        }
        Ok(QueueQuery {
            visible,
            municipality,
            form: opt(&self.form),
            facility: opt(&self.facility),
            member: opt(&self.member),
            status: StatusFilter::parse(self.status.trim()).ok_or_else(|| {
                bad(
                    "status",
                    &self.status,
                    "to_review, all, received, has_issues, approved, rejected or edited_after_review",
                )
            })?,
            flag: FlagFilter::parse(self.flag.trim()).ok_or_else(|| {
                bad("flag", &self.flag, "none, any, or a flag kind such as far_from_facility")
            })?,
            from: day("from", &self.from)?,
            to: day("to", &self.to)?,
            sort: Sort::parse(self.sort.trim())
                .ok_or_else(|| bad("sort", &self.sort, "oldest, newest or flags"))?,
            // Far past any real queue, and small enough that its offset cannot overflow.
            page: self.page.unwrap_or(1).clamp(1, 100_000_000),
        })
    }
}

/// Submissions to review, filtered and sorted, with counts per status.
#[utoipa::path(
    get,
    path = "/api/v1/review-queue",
    tag = "review",
    operation_id = "review_queue",
    params(QueueParams),
    responses(
        (status = 200, description = "A page of the queue.", body = Object),
        BadRequest,
        Unauthorized,
        Forbidden,
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn queue(
    State(app): State<AppState>,
    caller: Caller,
    Query(params): Query<QueueParams>,
) -> Result<Json<QueuePage>, AppError> {
    let visible = reviewable(&caller.0)?;
    let query = params.query(visible)?;
    Ok(Json(app.storage.review_queue(&query).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    /// At most 500 submissions, each with the version the reviewer looked at.
    #[schema(value_type = Vec<Object>)]
    submissions: Vec<BulkItem>,
}

/// Approves those listed that wait for review without flags; skips the others, saying why.
#[utoipa::path(
    post,
    path = "/api/v1/review-queue/approve",
    tag = "review",
    operation_id = "bulk_approve",
    request_body = BulkBody,
    responses(
        (status = 200, description = "What was approved and what was skipped.", body = Object,
            example = json!({"approved": [], "skipped": [{"submission": {}, "reason": "…"}]})),
        JsonBodyErrors,
        Unauthorized,
        Forbidden,
        Invalid,
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn bulk_approve(
    State(app): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<BulkBody>,
) -> Result<Json<Value>, AppError> {
    reviewable(&caller.0)?;
    if body.submissions.len() > 500 {
        return Err(AppError::Invalid(
            "approve at most 500 submissions at once".into(),
        ));
    }
    let outcome = review::bulk_approve(
        &app.storage,
        &body.submissions,
        |m| caller.0.may(Action::Review, Some(m)),
        &caller.audit_name(),
        crate::sync::now_ms() as i64,
    )
    .await?;
    Ok(Json(json!({
        "approved": outcome.approved,
        "skipped": outcome.skipped.iter().map(|(s, why)| json!({"submission": s, "reason": why})).collect::<Vec<_>>(),
    })))
}
