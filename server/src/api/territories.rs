//! Territories: public geography, imported by admins.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Caller;
use super::body::{TextBody, parse_import};
use crate::access::Action;
use crate::error::AppError;
use crate::storage::StoredTerritory;

/// `GET /api/v1/territories`: every oblast, rayon, municipality and village (no login).
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<StoredTerritory>>, AppError> {
    caller.require(Action::ReadTerritories, None)?;
    Ok(Json(app.storage.territories().await?))
}

/// `POST /api/v1/territories`: a GeoJSON FeatureCollection, imported whole or not at all.
pub async fn import(
    State(app): State<AppState>,
    caller: Caller,
    TextBody(text): TextBody,
) -> Result<(StatusCode, Json<Value>), AppError> {
    caller.require(Action::ManageTerritories, None)?;
    let (text, territories) = parse_import(text, crate::territory::parse_geojson).await?;
    let now = crate::sync::now_ms() as i64;
    let count = app
        .storage
        .import_territories(&territories, &text, &caller.audit_name(), now)
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"imported": count}))))
}
