//! Every error answer is JSON `{"code", "message"}`, including those made by layers and by axum
//! itself (unknown route, wrong method, unsupported Content-Encoding, timeout, panic).

use std::any::Any;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{AppError, error_response};

pub async fn not_found() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint".into(),
    )
}

/// A NUL byte in the path or query names nothing here, and PostgreSQL refuses it in text: say
/// so before any handler runs.
pub async fn refuse_nul(request: Request, next: Next) -> Response {
    let nul = request
        .uri()
        .path_and_query()
        .is_some_and(|pq| pq.as_str().to_ascii_lowercase().contains("%00"));
    if nul {
        return error_response(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "a NUL byte (%00) in the address is not allowed".into(),
        );
    }
    next.run(request).await
}

pub async fn rewrite(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let status = response.status();
    // A body refused for its size is left unread, so the connection cannot carry another
    // request: say so, or a client may reuse it and lose its next request.
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        response.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    // The console's pages answer errors as pages.
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    // OpenRosa answers errors as OpenRosa XML, which the phone apps show.
    let is_xml = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/xml"));
    if !(status.is_client_error() || status.is_server_error()) || is_json || is_html || is_xml {
        return response;
    }
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this endpoint does not take that method",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "unsupported Content-Type or Content-Encoding: send application/json, optionally gzip",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("body_too_large", "the request body is too large"),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long"),
        StatusCode::NOT_FOUND => ("not_found", "not found"),
        s if s.is_server_error() => ("internal", "internal error"),
        _ => ("bad_request", "the request is not valid"),
    };
    let mut rewritten = error_response(status, code, message.into());
    // Keep headers such as Allow or Retry-After.
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten
}

pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic");
    AppError::internal(format!("handler panicked: {detail}")).into_response()
}
