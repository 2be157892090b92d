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
