//! The one error type of the server and its mapping to HTTP. Each variant documents its status;
//! internal details are logged, never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sync_protocol::ErrorBody;
use sync_protocol::wire::RESET_CODE;

use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400 `malformed_json`: the body is not JSON of the expected shape.
    #[error("{0}")]
    MalformedJson(String),
    /// 400 `bad_encoding`: the body's Content-Encoding could not be decoded.
    #[error("the request body could not be decoded: {0}")]
    BadEncoding(String),
    /// 400 `invalid_limit`.
    #[error("{0}")]
    InvalidLimit(String),
    /// 401 `unauthorized`: missing, unknown or revoked token.
    #[error("a valid device token is required: send Authorization: Bearer <token>")]
    Unauthorized,
    /// 401 `invalid_enrollment_code`: unknown, used, expired, or its member left.
    #[error(
        "this enrollment code is not valid (unknown, already used, expired, or its member left the team); ask for a new one"
    )]
    InvalidEnrollmentCode,
    /// 410 `cursor_reset`: the pull cursor cannot be served; start again without one.
    #[error("{0}; pull again without a cursor")]
    CursorReset(String),
    /// 413 `body_too_large`.
    #[error("the request body is larger than {limit} bytes (after decompression)")]
    BodyTooLarge { limit: usize },
    /// 413 `too_many_ops`.
    #[error("a push may carry at most {max} ops, this one has {count}; split it")]
    TooManyOps { count: usize, max: usize },
    /// 415 `unsupported_media_type`.
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    /// 503 `unavailable`: the database does not answer; retry later.
    #[error("the database is unavailable; retry later")]
    Unavailable(#[source] StorageError),
    /// 500 `internal`.
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::Internal(detail.into())
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            Self::BadEncoding(_) => (StatusCode::BAD_REQUEST, "bad_encoding"),
            Self::InvalidLimit(_) => (StatusCode::BAD_REQUEST, "invalid_limit"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::InvalidEnrollmentCode => (StatusCode::UNAUTHORIZED, "invalid_enrollment_code"),
            Self::CursorReset(_) => (StatusCode::GONE, RESET_CODE),
            Self::BodyTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            Self::TooManyOps { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_many_ops"),
            Self::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<StorageError> for AppError {
    fn from(error: StorageError) -> Self {
        use sea_orm::DbErr;
        match &error {
            StorageError::Db(DbErr::ConnectionAcquire(_) | DbErr::Conn(_))
            | StorageError::Sqlx(
                sea_orm::sqlx::Error::PoolTimedOut | sea_orm::sqlx::Error::Io(_),
            ) => Self::Unavailable(error),
            _ => Self::Internal(error.to_string()),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        match &self {
            Self::Internal(detail) => tracing::error!(%detail, "internal error"),
            Self::Unavailable(source) => tracing::warn!(%source, "database unavailable"),
            _ => {}
        }
        error_response(status, code, self.to_string())
    }
}

pub fn error_response(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        Json(ErrorBody {
            code: code.to_owned(),
            message,
        }),
    )
        .into_response()
}
