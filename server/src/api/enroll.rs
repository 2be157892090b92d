use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::body::JsonBody;
use super::openapi::ApiError;
use super::openapi::errors::JsonBodyErrors;
use crate::error::AppError;
use crate::storage::{EnrollError, NewDevice};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollBody {
    /// The one-time enrollment code (typed, or read from the QR code).
    code: String,
    /// What the phone calls itself (model, owner), for people managing devices.
    label: Option<String>,
}

/// A one-time code for a device token. No login: the code is the secret.
#[utoipa::path(
    post,
    path = "/api/v1/enroll",
    tag = "enrollment",
    operation_id = "enroll",
    request_body = EnrollBody,
    responses(
        (status = 200, description = "The new device's id and its token (shown once).",
            body = Object, example = json!({"device_id": "…", "token": "…"})),
        JsonBodyErrors,
        (status = 401, description = "`invalid_enrollment_code`: unknown, used, expired, or its \
            member left; ask for a new one.", body = ApiError),
    ),
    security(()),
)]
pub async fn enroll(
    State(app): State<AppState>,
    JsonBody(body): JsonBody<EnrollBody>,
) -> Result<Json<NewDevice>, AppError> {
    let label: Option<String> = body.label.map(|l| l.chars().take(200).collect());
    let now = crate::sync::now_ms() as i64;
    match app
        .storage
        .enroll(body.code.trim(), label.as_deref(), now)
        .await
    {
        Ok(device) => Ok(Json(device)),
        Err(EnrollError::Invalid) => Err(AppError::InvalidEnrollmentCode),
        Err(EnrollError::Storage(e)) => Err(e.into()),
    }
}
