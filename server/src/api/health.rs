use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::AppState;
use crate::error::AppError;

/// 200 when the database answers, 503 `unavailable` otherwise.
pub async fn healthz(State(app): State<AppState>) -> Result<Json<Value>, AppError> {
    app.storage.ping().await.map_err(AppError::Unavailable)?;
    Ok(Json(json!({"status": "ok"})))
}
