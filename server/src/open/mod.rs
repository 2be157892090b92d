//! Open data: the public monitoring panel and the exports anyone may download, without login.
//! Only official (approved) figures, aggregated, without personal data.

use axum::Router;

use crate::api::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
