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

fn read_error(error: axum::Error, limit: usize) -> AppError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return AppError::BodyTooLarge { limit };
        }
        source = e.source();
    }
    AppError::BadEncoding(error.to_string())
}
