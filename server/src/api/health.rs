use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::AppState;
use super::openapi::ApiError;
use crate::error::AppError;

/// Whether the server and its database answer: 200, or 503 `unavailable`.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    operation_id = "healthz",
    responses(
        (status = 200, description = "The database answers.", body = Object,
            example = json!({"status": "ok"})),
        (status = 503, description = "`unavailable`: the database does not answer.", body = ApiError),
    ),
    security(()),
)]
pub async fn healthz(State(app): State<AppState>) -> Result<Json<Value>, AppError> {
    app.storage.ping().await.map_err(AppError::Unavailable)?;
    Ok(Json(json!({"status": "ok"})))
}
