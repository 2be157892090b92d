//! The OpenRosa 1.0 API that ODK Collect and KoboCollect speak: form list, form download, media
//! manifest and submission, beside the native sync. A phone is an enrolled device either way:
//! its token rides in the URL path (`/openrosa/key/{token}`, set up by scanning the settings QR
//! code) or in HTTP Basic (`/openrosa`, user name the device id, password the token). Revoking
//! the device, or the member leaving the team, shuts both.
//!
//! Answers are OpenRosa XML, errors included (`<OpenRosaResponse>` with the message and a
//! `code` attribute), and every answer carries `X-OpenRosa-Version: 1.0`.

pub mod batch;
pub mod instance;
mod lists;
pub mod odk_settings;
mod submit;
pub mod xform;

use std::collections::HashMap;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;

use crate::api::AppState;
use crate::storage::{AuthedDevice, StorageError};

pub const VERSION_HEADER: &str = "x-openrosa-version";
pub const ACCEPT_LENGTH_HEADER: &str = "x-openrosa-accept-content-length";

/// The OpenRosa routes, under both ways of authenticating.
pub fn routes(body_limit: usize) -> Router<AppState> {
    let inner = || {
        Router::new()
            .route("/formList", get(lists::form_list))
            .route("/forms/{form_id}/form.xml", get(lists::form))
            .route("/forms/{form_id}/manifest", get(lists::manifest))
            .route("/forms/{form_id}/media/{file}", get(lists::media))
            .route(
                "/submission",
                axum::routing::head(submit::head).post(submit::submit),
            )
            // Split submissions stay under the advertised length; the margin is the
            // multipart framing around the parts.
            .layer(DefaultBodyLimit::max(body_limit + 64 * 1024))
    };
    Router::new()
        .nest("/openrosa/key/{token}", inner())
        .nest("/openrosa", inner())
}

/// An OpenRosa error: its status, a stable code and a message for the person holding the phone.
#[derive(Debug)]
pub struct OpenRosaError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Ask for HTTP Basic credentials (a 401 on the Basic path).
    pub challenge: bool,
}

impl OpenRosaError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            challenge: false,
        }
    }
}

impl From<StorageError> for OpenRosaError {
    fn from(e: StorageError) -> Self {
        tracing::error!(error = %e, "openrosa: storage failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server could not complete this; nothing was lost on the phone, send it again later",
        )
    }
}

impl From<crate::error::AppError> for OpenRosaError {
    fn from(e: crate::error::AppError) -> Self {
        tracing::error!(error = %e, "openrosa: request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server could not complete this; nothing was lost on the phone, send it again later",
        )
    }
}

impl IntoResponse for OpenRosaError {
    fn into_response(self) -> Response {
        let body = response_xml("error", Some(self.code), &self.message);
        let mut response = xml(self.status, body);
        if self.challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"JMET\", charset=\"UTF-8\""),
            );
        }
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// An `OpenRosaResponse` document with one message.
pub fn response_xml(nature: &str, code: Option<&str>, message: &str) -> String {
    let code = code
        .map(|c| format!(" code=\"{}\"", xform::esc(c)))
        .unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <OpenRosaResponse xmlns=\"http://openrosa.org/http/response\">\
         <message nature=\"{}\"{code}>{}</message></OpenRosaResponse>",
        xform::esc(nature),
        xform::esc(message)
    )
}

/// An XML answer with the OpenRosa headers.
pub fn xml(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    h.insert(VERSION_HEADER, HeaderValue::from_static("1.0"));
    response
}

/// The device a request is made by, and the base URL its links are made from (the same way of
/// authenticating as the request's).
pub struct OpenRosaDevice {
    pub device: AuthedDevice,
    pub base_url: String,
}

impl FromRequestParts<AppState> for OpenRosaDevice {
    type Rejection = OpenRosaError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if parts
            .headers
            .get(VERSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            != Some("1.0")
        {
            return Err(OpenRosaError::new(
                StatusCode::BAD_REQUEST,
                "openrosa_version",
                "this is an OpenRosa 1.0 endpoint: send the header X-OpenRosa-Version: 1.0",
            ));
        }
        let params: HashMap<String, String> = RawPathParams::from_request_parts(parts, app)
            .await
            .map(|p| {
                p.iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let origin = origin(&parts.headers, app.settings.public_url.as_deref())
            .unwrap_or_else(|| "http://localhost".into());
        if let Some(token) = params.get("token") {
            let device = app.storage.authenticate_device(token).await?.ok_or_else(|| {
                OpenRosaError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "this phone's access was revoked or its link is wrong: scan a new settings QR code",
                )
            })?;
            return Ok(Self {
                device,
                base_url: format!("{origin}/openrosa/key/{token}"),
            });
        }
        let challenge = |message: &str| OpenRosaError {
            challenge: true,
            ..OpenRosaError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
        };
        let (user, password) = basic(&parts.headers).ok_or_else(|| {
            challenge("sign in with the device id as user name and the device token as password")
        })?;
        let device = app
            .storage
            .authenticate_device(&password)
            .await?
            .filter(|d| d.device_id.to_string() == user.trim())
            .ok_or_else(|| {
                challenge("the user name or password is wrong, or the device was revoked")
            })?;
        Ok(Self {
            device,
            base_url: format!("{origin}/openrosa"),
        })
    }
}

/// The scheme and host links are made with: the configured public URL, else the request's host
/// (behind a TLS proxy, its `X-Forwarded-Proto`).
pub fn origin(headers: &HeaderMap, public_url: Option<&str>) -> Option<String> {
    if let Some(url) = public_url {
        return Some(url.trim_end_matches('/').to_owned());
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok())?;
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    Some(format!("{scheme}://{host}"))
}

fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}
