//! Open data: the public monitoring panel and the exports anyone may download, without login.
//! Only official (approved) figures, aggregated, without personal data.

mod chart;
mod exports;
pub mod heads;
mod pages;
pub mod panel;
mod redact;
mod table;
mod texts;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::api::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/panel", get(pages::index))
        .route("/panel/go", get(pages::go))
        .route("/panel/{code}", get(pages::show))
        .route("/static/panel.css", get(style))
        .route("/api/v1/open/audit/heads", get(heads::heads))
        .route("/api/v1/open/audit/{seq}", get(heads::link))
        .route("/api/v1/open/{code}/{file}", get(exports::export))
        .route(
            "/api/v1/municipalities/{code}/recommendations",
            get(crate::council::api::list),
        )
        .route(
            "/api/v1/municipalities/{code}/recommendations/draft",
            get(crate::council::api::draft),
        )
        .route(
            "/api/v1/municipalities/{code}/council-decisions",
            get(crate::council::api::decisions).post(crate::council::api::record),
        )
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
