use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use super::AppState;
use super::body::JsonBody;
use crate::error::AppError;
use crate::storage::{EnrollError, NewDevice};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollBody {
    code: String,
    /// What the phone calls itself (model, owner), for people managing devices.
    label: Option<String>,
}

/// `POST /api/v1/enroll`: a one-time code for a device token. No login: the code is the secret.
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
