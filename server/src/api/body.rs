//! Reading a JSON body: bounded after decompression, with clear errors for each way it can fail.

use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use super::AppState;
use crate::error::AppError;

pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, app: &AppState) -> Result<Self, Self::Rejection> {
        // A missing Content-Type is tolerated (some phone HTTP stacks omit it); a wrong one is not.
        if let Some(content_type) = request.headers().get(CONTENT_TYPE) {
            let essence = content_type
                .to_str()
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim();
            if !essence.eq_ignore_ascii_case("application/json") {
                return Err(AppError::UnsupportedMediaType);
            }
        }
        let limit = app.settings.body_limit;
        let bytes = axum::body::to_bytes(request.into_body(), limit)
            .await
            .map_err(|e| read_error(e, limit))?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            AppError::MalformedJson(format!(
                "the body is not valid JSON of the expected shape: {e}"
            ))
        })
    }
}

pub(super) fn read_error(error: axum::Error, limit: usize) -> AppError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return AppError::BodyTooLarge { limit };
        }
        source = e.source();
    }
    AppError::BadEncoding(error.to_string())
}

/// Parses an import file on the blocking pool (a large GeoJSON takes a while); answers the text
/// (kept for the audit digest) with what was parsed.
pub async fn parse_import<T: Send + 'static>(
    text: String,
    parse: fn(&str) -> Result<T, crate::territory::ImportError>,
) -> Result<(String, T), AppError> {
    let (text, parsed) = tokio::task::spawn_blocking(move || {
        let parsed = parse(&text);
        (text, parsed)
    })
    .await
    .map_err(|e| AppError::internal(e.to_string()))?;
    Ok((text, parsed?))
}

/// A text body (CSV, GeoJSON) for an import: bounded like JSON bodies, and UTF-8.
pub struct TextBody(pub String);

impl FromRequest<AppState> for TextBody {
    type Rejection = AppError;

    async fn from_request(request: Request, app: &AppState) -> Result<Self, Self::Rejection> {
        let limit = app.settings.body_limit;
        let bytes = axum::body::to_bytes(request.into_body(), limit)
            .await
            .map_err(|e| read_error(e, limit))?;
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|e| AppError::BadEncoding(format!("the body is not UTF-8: {e}")))?;
        // Spreadsheet programs save CSV with a byte-order mark.
        Ok(TextBody(text.trim_start_matches('\u{feff}').to_owned()))
    }
}
