//! The HTTP API: thin handlers that extract, authorise, call a use case and shape the answer.

pub(crate) mod auth;
mod body;
mod enroll;
mod errors_as_json;
mod evidence;
mod forms;
mod health;
mod municipality;
pub mod openapi;
mod results;
pub(crate) mod reviews;
pub(crate) mod session;
mod sync;
mod teams;
mod territories;
pub(crate) mod throttle;
mod users;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tower::ServiceBuilder;
use tower::limit::ConcurrencyLimitLayer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::storage::Storage;
use crate::sync::ServerClock;

/// Limits and policies an operator may tune.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest request body, counted after decompression.
    pub body_limit: usize,
    /// How far ahead of the server's clock an op's HLC may be.
    pub max_clock_skew_ms: u64,
    pub request_timeout: Duration,
    /// Pushes processed at once; more wait their turn before their body is read. Writes are
    /// serialised by the database anyway, and each push in memory costs a few times its body.
    pub push_concurrency: usize,
    /// Session cookies only over HTTPS. Off only for a plain-HTTP deployment on a closed network.
    pub secure_cookies: bool,
    /// The address phones reach this server at, written into enrollment QR codes; the request's
    /// Host when unset.
    pub public_url: Option<String>,
    /// What a photo may be (size in bytes, pixels, decoded memory).
    pub image_limits: crate::media::Limits,
    /// Photos decoded at once; each takes about 100 MB for a moment.
    pub photo_processing: usize,
    /// Bring indicator values up to date right after each push (off only to measure ingest
    /// without it; the projection then catches up at the next start or `jmet rebuild`).
    pub project_indicators: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            body_limit: 16 * 1024 * 1024,
            max_clock_skew_ms: 5 * 60 * 1000,
            request_timeout: Duration::from_secs(120),
            push_concurrency: 2,
            secure_cookies: true,
            public_url: None,
            image_limits: crate::media::Limits::default(),
            photo_processing: 2,
            project_indicators: true,
        }
    }
}

pub struct AppInner {
    pub storage: Storage,
    pub settings: Settings,
    pub clock: ServerClock,
    pub login_throttle: throttle::LoginThrottle,
    pub evidence: crate::evidence::Evidence,
    /// The OpenAPI document, as served at `GET /api/v1/openapi.json`.
    pub openapi: bytes::Bytes,
    /// Writes OpenRosa submissions in batches; started with the first submission.
    pub openrosa: std::sync::OnceLock<crate::openrosa::batch::Batcher>,
}

pub type AppState = Arc<AppInner>;

/// The whole HTTP application over a storage handle; tests serve it on any listener.
pub fn build_app(storage: Storage, blobs: crate::blobs::BlobStore, settings: Settings) -> Router {
    let timeout = settings.request_timeout;
    let push_limit = ConcurrencyLimitLayer::new(settings.push_concurrency.max(1));
    let (api, doc) = api_routes(push_limit).split_for_parts();
    let openapi = openapi::to_json(&openapi::finish(doc));
    let openrosa = crate::openrosa::routes(settings.body_limit);
    let state: AppState = Arc::new(AppInner {
        storage,
        clock: ServerClock::default(),
        login_throttle: throttle::LoginThrottle::default(),
        evidence: crate::evidence::Evidence::new(
            blobs,
            settings.image_limits.clone(),
            settings.photo_processing,
        ),
        settings,
        openapi,
        openrosa: std::sync::OnceLock::new(),
    });
    api.merge(crate::web::routes())
        .merge(crate::open::routes())
        .merge(openrosa)
        .fallback(errors_as_json::not_found)
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(TraceLayer::new_for_http())
                .layer(CompressionLayer::new())
                .layer(axum::middleware::from_fn(errors_as_json::rewrite))
                .layer(axum::middleware::from_fn(errors_as_json::refuse_nul))
                .layer(CatchPanicLayer::custom(errors_as_json::panic_response))
                .layer(RequestDecompressionLayer::new())
                .layer(TimeoutLayer::with_status_code(
                    axum::http::StatusCode::REQUEST_TIMEOUT,
                    timeout,
                )),
        )
}

/// Every route of the API, each registered with its documentation by one `routes!` call (see
/// `openapi` for how to add one). Register no `/api/` route any other way: `tests/e2e/openapi.rs`
/// checks that every route here is documented and answers.
fn api_routes(push_limit: ConcurrencyLimitLayer) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .merge(crate::open::api_routes())
        .routes(routes!(health::healthz))
        .routes(routes!(openapi::document))
        // Pushes wait their turn before their body is read: the limit wraps this route alone.
        .routes(routes!(sync::push).layer(push_limit))
        .routes(routes!(sync::pull))
        .routes(routes!(enroll::enroll))
        .routes(routes!(session::login))
        .routes(routes!(session::logout))
        .routes(routes!(session::me))
        .routes(routes!(session::create_token))
        .routes(routes!(session::revoke_token))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::disable))
        .routes(routes!(territories::list, territories::import))
        .routes(routes!(forms::list, forms::import))
        .routes(routes!(forms::get))
        .routes(routes!(municipality::import_facilities))
        .routes(routes!(results::series))
        .routes(routes!(results::put_entry, results::delete_entry))
        .routes(routes!(results::plan_vs_fact))
        .routes(routes!(results::survey))
        .routes(routes!(results::scorecard))
        .routes(routes!(results::put_assessment))
        .routes(routes!(results::entries))
        .routes(routes!(reviews::status))
        .routes(routes!(reviews::decide))
        .routes(routes!(reviews::comment))
        .routes(routes!(reviews::detail))
        .routes(routes!(reviews::queue))
        .routes(routes!(reviews::bulk_approve))
        .routes(routes!(municipality::import_indicators))
        .routes(routes!(municipality::facilities))
        .routes(routes!(municipality::indicators))
        .routes(routes!(municipality::plan, municipality::set_plan))
        .routes(routes!(municipality::approve_plan))
        .routes(routes!(municipality::sedp, municipality::set_sedp))
        .routes(routes!(teams::list))
        .routes(routes!(teams::create))
        .routes(routes!(teams::members, teams::add_member))
        .routes(routes!(teams::leave))
        .routes(routes!(evidence::upload_status, evidence::upload_piece))
        .routes(routes!(evidence::photo_bytes))
        .routes(routes!(evidence::visit_evidence))
        .routes(routes!(evidence::thresholds))
        .routes(routes!(evidence::set_thresholds))
        .routes(routes!(teams::member_devices))
        .routes(routes!(teams::enrollment_code))
        .routes(routes!(teams::odk_device))
        .routes(routes!(teams::revoke_device))
}
