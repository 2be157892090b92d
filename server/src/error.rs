//! The one error type of the server and its mapping to HTTP. Each variant documents its status;
//! internal details are logged, never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sync_protocol::ErrorBody;
use sync_protocol::wire::RESET_CODE;

use crate::accounts::AccountError;
use crate::storage::{ImportFailure, StorageError};

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
    /// 401 `unauthorized`: missing, unknown or revoked token, or no session.
    #[error(
        "sign in first, or send a valid token: Authorization: Bearer <token> (device or API token)"
    )]
    Unauthorized,
    /// 401 `bad_credentials`: unknown login or wrong password (never says which).
    #[error("unknown login or wrong password")]
    BadCredentials,
    /// 403 `forbidden`: signed in, but this role or scope may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 403 `csrf_failed`: a write over a browser session without the session's CSRF token.
    #[error(
        "send the session's CSRF token in the X-CSRF-Token header (it comes with the login answer and GET /api/v1/me)"
    )]
    CsrfFailed,
    /// 404 `not_found`.
    #[error("{0}")]
    NotFound(String),
    /// 409 `conflict`: contradicts what is stored.
    #[error("{0}")]
    Conflict(String),
    /// 422 `invalid`: well-formed, but the content breaks a rule (message says which).
    #[error("{0}")]
    Invalid(String),
    /// 422 `invalid_import`: a file to import is wrong at `at` (a line, a feature); nothing of it
    /// was imported.
    #[error("{at}: {problem}; nothing of this file was imported")]
    InvalidImport { at: String, problem: String },
    /// 401 `invalid_enrollment_code`: unknown, used, expired, or its member left.
    #[error(
        "this enrollment code is not valid (unknown, already used, expired, or its member left the team); ask for a new one"
    )]
    InvalidEnrollmentCode,
    /// 410 `cursor_reset`: the pull cursor cannot be served; start again without one.
    #[error("{0}; pull again without a cursor")]
    CursorReset(String),
    /// 429 `too_many_attempts`: too many failed logins for this login; wait and try again.
    #[error("too many failed sign-ins for this login; try again in {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },
    /// 400 with a specific code (e.g. `bad_content_range`).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// 413 with a specific code (e.g. `photo_too_large`).
    #[error("{message}")]
    PayloadTooLarge { code: &'static str, message: String },
    /// 409 `upload_offset`: a piece that does not start where the server's bytes end; the
    /// `Upload-Offset` header says where to go on.
    #[error("{message}")]
    UploadOffset { received: u64, message: String },
    /// 422 with a specific code (`hash_mismatch`, `corrupt_image`, `not_an_image`, …).
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
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

    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            Self::BadEncoding(_) => (StatusCode::BAD_REQUEST, "bad_encoding"),
            Self::InvalidLimit(_) => (StatusCode::BAD_REQUEST, "invalid_limit"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::BadCredentials => (StatusCode::UNAUTHORIZED, "bad_credentials"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::CsrfFailed => (StatusCode::FORBIDDEN, "csrf_failed"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            Self::InvalidImport { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_import"),
            Self::InvalidEnrollmentCode => (StatusCode::UNAUTHORIZED, "invalid_enrollment_code"),
            Self::CursorReset(_) => (StatusCode::GONE, RESET_CODE),
            Self::BodyTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            Self::TooManyAttempts { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
            Self::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            Self::PayloadTooLarge { code, .. } => (StatusCode::PAYLOAD_TOO_LARGE, code),
            Self::UploadOffset { .. } => (StatusCode::CONFLICT, "upload_offset"),
            Self::Unprocessable { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
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
            StorageError::NotFound(what) => Self::NotFound(format!("not found: {what}")),
            StorageError::Invalid(message) => Self::Invalid(message.clone()),
            StorageError::Conflict(message) => Self::Conflict(message.clone()),
            _ => Self::Internal(error.to_string()),
        }
    }
}

impl From<crate::territory::ImportError> for AppError {
    fn from(e: crate::territory::ImportError) -> Self {
        Self::InvalidImport {
            at: e.at,
            problem: e.problem,
        }
    }
}

impl From<ImportFailure> for AppError {
    fn from(error: ImportFailure) -> Self {
        match error {
            ImportFailure::Invalid(e) => e.into(),
            ImportFailure::Storage(e) => e.into(),
        }
    }
}

impl From<AccountError> for AppError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::WeakPassword => Self::Invalid(error.to_string()),
            AccountError::BadCredentials => Self::BadCredentials,
            AccountError::Storage(e) => e.into(),
            AccountError::Hashing(e) => Self::Internal(e),
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
        let mut response = error_response(status, code, self.to_string());
        if let Self::TooManyAttempts { retry_after_secs } = &self
            && let Ok(value) = retry_after_secs.to_string().parse()
        {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, value);
        }
        if let Self::UploadOffset { received, .. } = &self
            && let Ok(value) = received.to_string().parse()
        {
            response.headers_mut().insert("upload-offset", value);
        }
        response
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
