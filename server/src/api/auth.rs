//! Device authentication by bearer token.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::AppState;
use crate::error::AppError;
use crate::storage::AuthedDevice;

/// A request made by a device with a valid, unrevoked token.
pub struct Device(pub AuthedDevice);

impl FromRequestParts<AppState> for Device {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AppError::Unauthorized)?;
        app.storage
            .authenticate_device(token)
            .await?
            .map(Device)
            .ok_or(AppError::Unauthorized)
    }
}
