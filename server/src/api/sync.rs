use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::value::RawValue;
use sync_protocol::PushResponse;

use super::AppState;
use super::auth::Device;
use super::body::JsonBody;
use crate::error::AppError;
use crate::sync::{self as usecase, PullOutcome};

/// Ops stay raw here so that one malformed op is rejected on its own instead of failing the push.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushBody {
    ops: Vec<Box<RawValue>>,
}

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
    };
    Ok(Json(usecase::push(ctx, &device, &body.ops).await?))
}

#[derive(Deserialize)]
pub struct PullQuery {
    cursor: Option<String>,
    limit: Option<String>,
}

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
