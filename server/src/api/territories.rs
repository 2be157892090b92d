//! Territories: public geography, imported by admins.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Caller;
use super::body::{TextBody, parse_import};
use super::openapi::errors::{Forbidden, Invalid, TextBodyErrors, Unauthorized};
use crate::access::Action;
use crate::error::AppError;
use crate::storage::StoredTerritory;

/// Every oblast, rayon, municipality and village (no login).
#[utoipa::path(
    get,
    path = "/api/v1/territories",
    tag = "territories",
    operation_id = "list_territories",
    responses(
        (status = 200, description = "Every territory.", body = [Object]),
        Unauthorized,
    ),
    security((), ("bearer" = []), ("session" = [])),
)]
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<StoredTerritory>>, AppError> {
    caller.require(Action::ReadTerritories, None)?;
    Ok(Json(app.storage.territories().await?))
}

/// Imports a GeoJSON FeatureCollection of territories, whole or not at all.
#[utoipa::path(
    post,
    path = "/api/v1/territories",
    tag = "territories",
    operation_id = "import_territories",
    request_body(content = String, content_type = "application/geo+json",
        description = "A GeoJSON FeatureCollection."),
    responses(
        (status = 201, description = "Imported.", body = Object, example = json!({"imported": 42})),
        TextBodyErrors,
        Unauthorized,
        Forbidden,
        Invalid,
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
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
