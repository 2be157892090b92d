//! The audit chain's head, published once a day: whoever keeps a copy can later prove that the
//! history up to it was not rewritten, and check an export's chain position against it.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::AppState;
use crate::api::openapi::errors::{BadRequest, NotFound};
use crate::error::AppError;
use crate::storage::{PublishedHead, Storage, StorageError};

/// Publishes today's head unless it already is.
pub async fn publish_today(storage: &Storage) -> Result<PublishedHead, StorageError> {
    storage
        .publish_head(&super::today_utc(), crate::sync::now_ms() as i64)
        .await
}

/// Runs for the server's life: publishes at start and checks every hour for a new day.
pub async fn publish_daily(storage: Storage) {
    loop {
        match publish_today(&storage).await {
            Ok(head) => tracing::debug!(day = %head.day, seq = head.seq, "audit head published"),
            Err(e) => tracing::warn!(error = %e, "could not publish the audit head; will retry"),
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HeadsQuery {
    /// How many, 1 to 10000 (366 by default).
    limit: Option<u64>,
    /// The newest day to list, `YYYY-MM-DD`.
    until: Option<String>,
}

/// `GET /api/v1/open/audit/heads?limit=&until=YYYY-MM-DD`: published heads, newest first, and
/// the current head.
#[utoipa::path(
    get,
    path = "/api/v1/open/audit/heads",
    tag = "open data",
    operation_id = "published_audit_heads",
    params(HeadsQuery),
    responses(
        (status = 200, description = "`{current: {seq, hash}, published: [{day, seq, hash, published_at_ms}]}`", body = Object),
        BadRequest,
    ),
    security(()),
)]
pub async fn heads(
    State(app): State<AppState>,
    Query(q): Query<HeadsQuery>,
) -> Result<Json<Value>, AppError> {
    let limit = q.limit.unwrap_or(366);
    if !(1..=10_000).contains(&limit) {
        return Err(AppError::InvalidLimit(format!(
            "limit {limit} is not between 1 and 10000"
        )));
    }
    if let Some(day) = q.until.as_deref()
        && time::Date::parse(
            day,
            &time::macros::format_description!("[year]-[month]-[day]"),
        )
        .is_err()
    {
        return Err(AppError::BadRequest {
            code: "invalid_date",
            message: format!("until {day:?} is not a date YYYY-MM-DD"),
        });
    }
    let heads = app
        .storage
        .published_heads(q.until.as_deref(), limit)
        .await?;
    let current = app.storage.chain_head().await?;
    Ok(Json(json!({"current": current, "published": heads})))
}

/// `GET /api/v1/open/audit/{seq}`: one entry's place in the chain (no actor, no detail).
#[utoipa::path(
    get,
    path = "/api/v1/open/audit/{seq}",
    tag = "open data",
    operation_id = "audit_chain_link",
    params(("seq" = i64, Path, description = "The entry's number.")),
    responses(
        (status = 200, description = "`{seq, at_ms, prev_hash, hash}`", body = Object),
        BadRequest,
        NotFound,
    ),
    security(()),
)]
pub async fn link(
    State(app): State<AppState>,
    Path(seq): Path<String>,
) -> Result<Json<Value>, AppError> {
    let n: i64 = seq.parse().map_err(|_| AppError::BadRequest {
        code: "invalid_seq",
        message: format!("{seq:?} is not an entry number"),
    })?;
    let link = app
        .storage
        .chain_link(n)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("the audit chain has no entry {n}")))?;
    Ok(Json(json!(link)))
}
