//! The OpenAPI 3.1 document of the HTTP API, generated from the handlers' annotations and served
//! at `GET /api/v1/openapi.json` (no login).
//!
//! A route and its documentation come from one macro call, so they cannot drift apart. To add an
//! endpoint:
//! 1. annotate its handler with `#[utoipa::path(...)]`: method, `path` (the full path, as axum
//!    writes it), `tag`, a unique `operation_id`, `params` for every `{name}` in the path and the
//!    query, `request_body`, `responses` (the answers, then the error sets below that apply, such
//!    as `Unauthorized, Forbidden, NotFound`, from [`errors`]) and `security` (one of the shapes
//!    below);
//! 2. register it in `api_routes` (`api/mod.rs`) with `.routes(routes!(module::handler))`,
//!    handlers of one path together: `routes!(module::list, module::create)`.
//!
//! Security shapes (names of the schemes in [`base`]):
//! - public: `security(())`;
//! - public, more for a signed-in caller: `security((), ("bearer" = []), ("session" = []))`;
//! - signed in, reading: `security(("bearer" = []), ("session" = []))`;
//! - signed in, writing (a session must echo its CSRF token):
//!   `security(("bearer" = []), ("session" = [], "csrf" = []))`;
//! - enrolled devices only: `security(("bearer" = []))`.
//!
//! `tests/e2e/openapi.rs` checks the document: every operation has an id, responses and a
//! security statement, every documented route answers, and no `/api/` route bypasses `routes!`.

use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use utoipa::ToSchema;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Ref, RefOr,
    ResponseBuilder,
};

use super::AppState;
use super::auth::{CSRF_HEADER, SESSION_COOKIE};

/// Every error answer: a stable machine-readable `code` and a message for people.
#[derive(ToSchema)]
#[allow(dead_code)] // Only its schema is used; the server answers `sync_protocol::ErrorBody`.
pub struct ApiError {
    /// Stable, machine-readable: `unauthorized`, `forbidden`, `not_found`, `invalid`, …
    pub code: String,
    /// For people: what went wrong and what to do.
    pub message: String,
}

// For `body = Binary` and `content = Binary` (the doc comment goes into the document).
/// Raw bytes.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)] // Only its schema is used.
pub struct Binary(Vec<u8>);

/// Error answers to list in `responses(...)`; each has the [`ApiError`] body.
pub mod errors {
    #![allow(dead_code)] // Only their response documentation is used.

    use utoipa::IntoResponses;

    use super::ApiError;

    /// `malformed_json`, `bad_encoding`, or a specific code such as `invalid_period`: the
    /// request is not well-formed.
    #[derive(IntoResponses)]
    #[response(status = 400)]
    pub struct BadRequest(ApiError);

    /// `unauthorized`: no credentials, or an unknown or revoked token.
    #[derive(IntoResponses)]
    #[response(status = 401)]
    pub struct Unauthorized(ApiError);

    /// `forbidden`: this role or scope may not do this; `csrf_failed`: a write over a browser
    /// session without its CSRF token.
    #[derive(IntoResponses)]
    #[response(status = 403)]
    pub struct Forbidden(ApiError);

    /// `not_found`: no such item (an id that is not an id is not found either).
    #[derive(IntoResponses)]
    #[response(status = 404)]
    pub struct NotFound(ApiError);

    /// `conflict`: contradicts what is stored.
    #[derive(IntoResponses)]
    #[response(status = 409)]
    pub struct Conflict(ApiError);

    /// `invalid` or `invalid_import`: well-formed, but the content breaks a rule (the message says
    /// which; for an import, where).
    #[derive(IntoResponses)]
    #[response(status = 422)]
    pub struct Invalid(ApiError);

    /// How reading a JSON body can fail.
    #[derive(IntoResponses)]
    pub enum JsonBodyErrors {
        /// `malformed_json`: not JSON of the expected shape (unknown fields are refused);
        /// `bad_encoding`: the Content-Encoding could not be decoded.
        #[response(status = 400)]
        Malformed(ApiError),
        /// `body_too_large`: larger than the server's limit, after decompression.
        #[response(status = 413)]
        TooLarge(ApiError),
        /// `unsupported_media_type`: send `application/json` (optionally gzip-encoded).
        #[response(status = 415)]
        WrongType(ApiError),
    }

    /// How reading a text body (CSV, GeoJSON, a form or SEDP document) can fail.
    #[derive(IntoResponses)]
    pub enum TextBodyErrors {
        /// `bad_encoding`: not UTF-8, or the Content-Encoding could not be decoded.
        #[response(status = 400)]
        BadEncoding(ApiError),
        /// `body_too_large`: larger than the server's limit, after decompression.
        #[response(status = 413)]
        TooLarge(ApiError),
    }
}

/// The document before any route: title, version, security schemes, shared schemas, tags.
pub fn base() -> OpenApi {
    let tags = [
        ("meta", "The server's health and this document."),
        ("sync", "Phones: pushing ops and pulling records."),
        (
            "session",
            "Signing in and out, and a user's tokens for scripts.",
        ),
        (
            "enrollment",
            "A phone trades a one-time code for its device token.",
        ),
        ("users", "User accounts, managed by admins."),
        (
            "territories",
            "Oblasts, rayons, municipalities and villages.",
        ),
        ("forms", "Form definitions, as phones receive them."),
        (
            "municipality",
            "Facilities, SEDP indicators and the M&E plan.",
        ),
        (
            "results",
            "Indicator series, plan versus fact, surveys, the scorecard.",
        ),
        ("review", "The review queue, decisions and comments."),
        (
            "open data",
            "Public exports of what the panel shows, and the audit chain's published heads.",
        ),
        (
            "council",
            "JMET recommendations with their votes, and the council's decision log.",
        ),
        (
            "teams",
            "JMET teams, members, enrollment codes and devices.",
        ),
        (
            "evidence",
            "Photo upload and serving, a visit's evidence, GPS thresholds.",
        ),
    ]
    .map(|(name, description)| {
        TagBuilder::new()
            .name(name)
            .description(Some(description))
            .build()
    });
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("JMET API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The JMET backend's HTTP API. Every error answer is JSON `{\"code\", \"message\"}`.",
                ))
                .build(),
        )
        .components(Some(
            ComponentsBuilder::new()
                .schema_from::<ApiError>()
                .security_scheme(
                    "bearer",
                    SecurityScheme::Http(
                        HttpBuilder::new()
                            .scheme(HttpAuthScheme::Bearer)
                            .description(Some(
                                "`Authorization: Bearer <token>`: a device token (from \
                                 `POST /api/v1/enroll`) or a user's API token (from \
                                 `POST /api/v1/me/tokens`).",
                            ))
                            .build(),
                    ),
                )
                .security_scheme(
                    "session",
                    SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                        SESSION_COOKIE,
                        "The browser session cookie set by `POST /api/v1/login`.",
                    ))),
                )
                .security_scheme(
                    "csrf",
                    SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                        CSRF_HEADER,
                        "A write over a session must echo the session's CSRF token (it comes \
                         with the login answer and `GET /api/v1/me`).",
                    ))),
                )
                .build(),
        ))
        .tags(Some(tags))
        .build()
}

/// The finished document: every operation also documents the error answers any endpoint may give.
pub fn finish(mut doc: OpenApi) -> OpenApi {
    let any_error = ResponseBuilder::new()
        .description(
            "Any other error, as JSON `{code, message}`: `method_not_allowed` (405), `timeout` \
             (408), `internal` (500), `unavailable` (503, the database does not answer).",
        )
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(Ref::from_schema_name("ApiError"))))
                .build(),
        )
        .build();
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            // A summary is the doc comment's first paragraph, wrapped in the source.
            if let Some(summary) = &mut operation.summary {
                *summary = summary.replace('\n', " ");
            }
            operation
                .responses
                .responses
                .entry("default".to_owned())
                .or_insert_with(|| any_error.clone().into());
        }
    }
    doc
}

/// The document as served.
pub fn to_json(doc: &OpenApi) -> bytes::Bytes {
    // Serialising plain data to JSON cannot fail.
    serde_json::to_vec(doc)
        .expect("the OpenAPI document serialises")
        .into()
}

/// This document: every endpoint of the API with its parameters, bodies, answers and security.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    operation_id = "openapi",
    responses((status = 200, description = "This document (OpenAPI 3.1).", body = Object)),
    security(()),
)]
pub async fn document(State(app): State<AppState>) -> Response {
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        app.openapi.clone(),
    )
        .into_response()
}
