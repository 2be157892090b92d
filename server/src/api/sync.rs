use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::value::RawValue;
use sync_protocol::PushResponse;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Device;
use super::body::JsonBody;
use super::openapi::ApiError;
use super::openapi::errors::{JsonBodyErrors, Unauthorized};
use crate::error::AppError;
use crate::sync::{self as usecase, PullOutcome};

/// Ops stay raw here so that one malformed op is rejected on its own instead of failing the push.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushBody {
    /// The device's ops (see the sync protocol), each accepted or rejected on its own.
    #[schema(value_type = Vec<Object>)]
    ops: Vec<Box<RawValue>>,
}

/// A phone's ops: each accepted or rejected on its own. Pushes are processed a few at a time;
/// more wait their turn before their body is read.
#[utoipa::path(
    post,
    path = "/api/v1/sync/push",
    tag = "sync",
    operation_id = "sync_push",
    request_body = PushBody,
    responses(
        (status = 200, description = "What became of each op (sync protocol `PushResponse`).",
            body = Object),
        JsonBodyErrors,
        Unauthorized,
        (status = 403, description = "`forbidden`: a person's token; sync is for enrolled devices.",
            body = ApiError),
        (status = 413, description = "`body_too_large`, or `too_many_ops`: split the push.",
            body = ApiError),
    ),
    security(("bearer" = [])),
)]
pub async fn push(
    State(app): State<AppState>,
    Device(device): Device,
    JsonBody(body): JsonBody<PushBody>,
) -> Result<Json<PushResponse>, AppError> {
    let ctx = usecase::PushContext {
        storage: &app.storage,
        clock: &app.clock,
        max_clock_skew_ms: app.settings.max_clock_skew_ms,
        project_indicators: app.settings.project_indicators,
        derive_evidence: true,
    };
    Ok(Json(usecase::push(ctx, &device, &body.ops).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PullQuery {
    /// Where the last page ended; from the start when left out.
    cursor: Option<String>,
    /// Records per page.
    #[param(value_type = Option<u32>)]
    limit: Option<String>,
}

/// The records of the device's municipalities changed since `cursor`, a page at a time.
#[utoipa::path(
    get,
    path = "/api/v1/sync/pull",
    tag = "sync",
    operation_id = "sync_pull",
    params(PullQuery),
    responses(
        (status = 200, description = "A page of records, the next cursor and whether more follow \
            (sync protocol `PullResponse`).", body = Object),
        (status = 400, description = "`invalid_limit`, or a cursor that is not one.", body = ApiError),
        Unauthorized,
        (status = 403, description = "`forbidden`: a person's token; sync is for enrolled devices.",
            body = ApiError),
        (status = 410, description = "`cursor_reset`: the cursor cannot be served; pull again \
            without one.", body = ApiError),
    ),
    security(("bearer" = [])),
)]
pub async fn pull(
    State(app): State<AppState>,
    Device(device): Device,
    Query(query): Query<PullQuery>,
) -> Result<Json<PullOutcome>, AppError> {
    let outcome = usecase::pull(
        &app.storage,
        &device,
        query.cursor.as_deref(),
        query.limit.as_deref(),
    )
    .await?;
    Ok(Json(outcome))
}
