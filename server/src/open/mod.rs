//! Open data: the public monitoring panel and the exports anyone may download, without login.
//! Only official (approved) figures, aggregated, without personal data.

mod chart;
mod exports;
pub mod heads;
mod pages;
pub mod panel;
mod redact;
pub mod report;
mod table;
mod texts;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::AppState;

/// Today in UTC, `YYYY-MM-DD`.
pub fn today_utc() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}",
        now.year(),
        u8::from(now.month()),
        now.day()
    )
}

/// The snake_case name a serialised status enum carries.
pub fn status_name<T: serde::Serialize>(status: T) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The municipality a code names, or 404.
pub async fn municipality(
    storage: &crate::storage::Storage,
    code: &str,
) -> Result<sync_protocol::Scope, crate::error::AppError> {
    let known = storage
        .territories()
        .await?
        .into_iter()
        .any(|t| t.code == code && t.level == "municipality");
    match sync_protocol::Scope::parse(code) {
        Ok(scope) if known => Ok(scope),
        _ => Err(crate::error::AppError::NotFound(format!(
            "no municipality {code:?}"
        ))),
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/panel", get(pages::index))
        .route("/panel/go", get(pages::go))
        .route("/panel/{code}", get(pages::show))
        .route("/panel/{code}/report/{period}", get(report::page))
        .route("/static/panel.css", get(style))
}

/// The open data's API routes, each registered with its documentation (see `api::openapi`).
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(heads::heads))
        .routes(routes!(heads::link))
        .routes(routes!(exports::export))
        .routes(routes!(crate::council::api::list))
        .routes(routes!(crate::council::api::draft))
        .routes(routes!(
            crate::council::api::decisions,
            crate::council::api::record
        ))
}

async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/panel.css"),
    )
}
