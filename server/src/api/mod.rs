//! The HTTP API: thin handlers that extract, authorise, call a use case and shape the answer.

pub(crate) mod auth;
mod body;
mod enroll;
mod errors_as_json;
mod evidence;
mod forms;
mod health;
mod municipality;
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
use axum::routing::{delete, get, post};
use tower::ServiceBuilder;
use tower::limit::ConcurrencyLimitLayer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

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
}

pub type AppState = Arc<AppInner>;

/// The whole HTTP application over a storage handle; tests serve it on any listener.
pub fn build_app(storage: Storage, blobs: crate::blobs::BlobStore, settings: Settings) -> Router {
    let timeout = settings.request_timeout;
    let push_limit = ConcurrencyLimitLayer::new(settings.push_concurrency.max(1));
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
    });
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/api/v1/sync/push", post(sync::push).layer(push_limit))
        .route("/api/v1/sync/pull", get(sync::pull))
        .route("/api/v1/enroll", post(enroll::enroll))
        .route("/api/v1/login", post(session::login))
        .route("/api/v1/logout", post(session::logout))
        .route("/api/v1/me", get(session::me))
        .route("/api/v1/me/tokens", post(session::create_token))
        .route(
            "/api/v1/me/tokens/{token_id}",
            delete(session::revoke_token),
        )
        .route("/api/v1/users", get(users::list).post(users::create))
        .route("/api/v1/users/{user_id}/disable", post(users::disable))
        .route(
            "/api/v1/territories",
            get(territories::list).post(territories::import),
        )
        .route("/api/v1/forms", get(forms::list).post(forms::import))
        .route("/api/v1/forms/{form_id}/{version}", get(forms::get))
        .route("/api/v1/facilities", post(municipality::import_facilities))
        .route("/api/v1/indicators/{code}/series", get(results::series))
        .route(
            "/api/v1/indicators/{code}/entries/{period}",
            axum::routing::put(results::put_entry).delete(results::delete_entry),
        )
        .route(
            "/api/v1/municipalities/{code}/plan-vs-fact",
            get(results::plan_vs_fact),
        )
        .route("/api/v1/municipalities/{code}/survey", get(results::survey))
        .route(
            "/api/v1/municipalities/{code}/scorecard/{year}",
            get(results::scorecard),
        )
        .route(
            "/api/v1/municipalities/{code}/scorecard/{year}/assessment",
            axum::routing::put(results::put_assessment),
        )
        .route(
            "/api/v1/municipalities/{code}/lsg-entries",
            get(results::entries),
        )
        .route(
            "/api/v1/submissions/{collection}/{id}/status",
            get(reviews::status),
        )
        .route(
            "/api/v1/submissions/{collection}/{id}/reviews",
            post(reviews::decide),
        )
        .route(
            "/api/v1/submissions/{collection}/{id}/comments",
            post(reviews::comment),
        )
        .route(
            "/api/v1/submissions/{collection}/{id}",
            get(reviews::detail),
        )
        .route("/api/v1/review-queue", get(reviews::queue))
        .route("/api/v1/review-queue/approve", post(reviews::bulk_approve))
        .route("/api/v1/indicators", post(municipality::import_indicators))
        .route(
            "/api/v1/municipalities/{code}/facilities",
            get(municipality::facilities),
        )
        .route(
            "/api/v1/municipalities/{code}/indicators",
            get(municipality::indicators),
        )
        .route(
            "/api/v1/municipalities/{code}/plan",
            get(municipality::plan).put(municipality::set_plan),
        )
        .route(
            "/api/v1/municipalities/{code}/plan/approve",
            post(municipality::approve_plan),
        )
        .route(
            "/api/v1/municipalities/{code}/sedp",
            get(municipality::sedp).put(municipality::set_sedp),
        )
        .route("/api/v1/municipalities/{code}/teams", get(teams::list))
        .route("/api/v1/teams", post(teams::create))
        .route(
            "/api/v1/teams/{team_id}/members",
            get(teams::members).post(teams::add_member),
        )
        .route("/api/v1/members/{member_id}/leave", post(teams::leave))
        .route(
            "/api/v1/uploads/{sha256}",
            get(evidence::upload_status).put(evidence::upload_piece),
        )
        .route(
            "/api/v1/photos/{sha256}/{variant}",
            get(evidence::photo_bytes),
        )
        .route(
            "/api/v1/visits/{visit_id}/evidence",
            get(evidence::visit_evidence),
        )
        .route("/api/v1/gps-thresholds", get(evidence::thresholds))
        .route(
            "/api/v1/gps-thresholds/{kind}",
            axum::routing::put(evidence::set_thresholds),
        )
        .route(
            "/api/v1/members/{member_id}/devices",
            get(teams::member_devices),
        )
        .route(
            "/api/v1/members/{member_id}/enrollment-codes",
            post(teams::enrollment_code),
        )
        .route(
            "/api/v1/devices/{device_id}/revoke",
            post(teams::revoke_device),
        )
        .merge(crate::web::routes())
        .merge(crate::open::routes())
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
