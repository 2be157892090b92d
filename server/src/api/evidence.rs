//! Photo upload and serving, a visit's evidence (photos and flags), and GPS thresholds.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sync_protocol::Scope;

use super::AppState;
use super::auth::{Caller, Device};
use super::body::JsonBody;
use crate::access::{Action, Principal};
use crate::blobs::{BlobKind, BlobName};
use crate::error::AppError;
use crate::evidence::gps::Thresholds;
use crate::evidence::{UploadError, upload};

impl From<UploadError> for AppError {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::BadHash(_) => AppError::NotFound(e.to_string()),
            UploadError::BadRange(m) => AppError::BadRequest {
                code: "bad_content_range",
                message: m,
            },
            UploadError::TooLarge { .. } => AppError::PayloadTooLarge {
                code: "photo_too_large",
                message: e.to_string(),
            },
            UploadError::OffsetMismatch { received } => AppError::UploadOffset {
                received,
                message: e.to_string(),
            },
            UploadError::TotalMismatch { .. } => AppError::Conflict(e.to_string()),
            UploadError::HashMismatch { .. } => AppError::Unprocessable {
                code: "hash_mismatch",
                message: e.to_string(),
            },
            UploadError::Image(m) => AppError::Unprocessable {
                code: m.code(),
                message: m.to_string(),
            },
            UploadError::Storage(s) => s.into(),
            UploadError::Blob(b) => AppError::internal(b.to_string()),
        }
    }
}

/// `GET /api/v1/uploads/{sha256}`: how much of a photo the server has (`received`), and whether
/// it is complete. A phone asks this before sending, and again after a dropped connection.
pub async fn upload_status(
    State(app): State<AppState>,
    Device(_device): Device,
    Path(sha256): Path<String>,
) -> Result<Json<upload::UploadStatus>, AppError> {
    Ok(Json(upload::status(&app.storage, &sha256).await?))
}

/// `PUT /api/v1/uploads/{sha256}` with `Content-Range: bytes START-END/TOTAL`: one piece. The
/// piece must start where the server's `received` is (409 `upload_offset` otherwise, with the
/// right offset). The last piece is answered 201 once the photo is verified and kept.
pub async fn upload_piece(
    State(app): State<AppState>,
    Device(device): Device,
    Path(sha256): Path<String>,
    request: Request,
) -> Result<(StatusCode, Json<upload::UploadStatus>), AppError> {
    upload::check_hash(&sha256)?;
    let range = request
        .headers()
        .get(CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .ok_or(UploadError::BadRange(
            "send Content-Range: bytes START-END/TOTAL with each piece".into(),
        ))
        .and_then(upload::parse_content_range)?;
    let limit = app.settings.body_limit;
    let body = axum::body::to_bytes(request.into_body(), limit)
        .await
        .map_err(|e| super::body::read_error(e, limit))?;
    let now = crate::sync::now_ms() as i64;
    let actor = format!("device:{}", device.device_id);
    let status = upload::put_piece(
        &app.storage,
        &app.evidence,
        &actor,
        &sha256,
        range,
        body,
        now,
    )
    .await?;
    let code = if status.complete {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(status)))
}

/// Whether the caller may see the photos and flags of a submission in `scope`; a state body only
/// for a visit to a facility under a delegated state power.
async fn may_read_submission(
    app: &AppState,
    caller: &Caller,
    scope: &Scope,
    visit_id: Option<&str>,
) -> Result<bool, AppError> {
    if !caller.0.may(Action::ReadSubmissions, Some(scope)) {
        return Ok(false);
    }
    if !caller.0.delegated_only() {
        return Ok(true);
    }
    let Some(visit_id) = visit_id else {
        return Ok(false);
    };
    let visits = app
        .storage
        .merged_records("visits", &[visit_id.to_owned()])
        .await?;
    let facility = visits
        .get(visit_id)
        .and_then(|v| v.fields.get("facility"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let Some(code) = facility else {
        return Ok(false);
    };
    Ok(app
        .storage
        .facilities()
        .await?
        .iter()
        .any(|f| f.code == code && f.delegated && f.municipality == scope.as_str()))
}

fn deny(caller: &Caller) -> AppError {
    if caller.0.is_public() {
        AppError::Unauthorized
    } else {
        AppError::Forbidden("you may not see this submission's evidence".into())
    }
}

/// `GET /api/v1/visits/{record_id}/evidence`: the visit's photos (each `ready` or `pending`
/// while its bytes have not arrived) and its flags.
pub async fn visit_evidence(
    State(app): State<AppState>,
    caller: Caller,
    Path(visit_id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let visits = app
        .storage
        .merged_records("visits", std::slice::from_ref(&visit_id))
        .await?;
    let Some(visit) = visits.get(&visit_id) else {
        return Err(AppError::NotFound(format!("no visit {visit_id:?}")));
    };
    let scope = Scope::parse(&visit.scope).map_err(|e| AppError::internal(e.to_string()))?;
    if !may_read_submission(&app, &caller, &scope, Some(&visit_id)).await? {
        return Err(deny(&caller));
    }
    let mut photos = Vec::new();
    for (photo_id, photo) in app.storage.photos_of_visit(&visit_id).await? {
        let sha = photo
            .fields
            .get("sha256")
            .and_then(Value::as_str)
            .unwrap_or("");
        let blob = if sha.is_empty() {
            None
        } else {
            app.storage.photo_blob(sha).await?
        };
        let base = format!("/api/v1/photos/{sha}");
        photos.push(json!({
            "photo_id": photo_id,
            "sha256": sha,
            "caption": photo.fields.get("caption"),
            "status": if blob.is_some() { "ready" } else { "pending" },
            "width": blob.as_ref().map(|b| b.width),
            "height": blob.as_ref().map(|b| b.height),
            "exif": blob.as_ref().map(|b| &b.exif),
            "urls": blob.as_ref().map(|_| json!({
                "thumb320": format!("{base}/thumb320"),
                "thumb1280": format!("{base}/thumb1280"),
                "stripped": format!("{base}/stripped"),
                "original": format!("{base}/original"),
            })),
        }));
    }
    let flags = app.storage.flags_of(&visit_id).await?;
    Ok(Json(json!({
        "visit_id": visit_id,
        "municipality": visit.scope,
        "deleted": visit.deleted,
        "photos": photos,
        "flags": flags,
    })))
}

/// `GET /api/v1/photos/{sha256}/{variant}`: `thumb320`, `thumb1280`, `stripped` (no metadata)
/// or `original` (supervisors and admins only). Content-addressed, so cached for a year.
pub async fn photo_bytes(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((sha256, variant)): Path<(String, String)>,
) -> Result<Response, AppError> {
    upload::check_hash(&sha256)?;
    let kind = match variant.as_str() {
        "thumb320" => BlobKind::Thumb320,
        "thumb1280" => BlobKind::Thumb1280,
        "stripped" => BlobKind::Stripped,
        "original" => BlobKind::Original,
        other => {
            return Err(AppError::NotFound(format!(
                "no variant {other:?}: thumb320, thumb1280, stripped or original"
            )));
        }
    };
    let mut allowed = false;
    for (scope, visit) in app.storage.photo_scopes(&sha256).await? {
        let Ok(scope) = Scope::parse(&scope) else {
            continue;
        };
        let action = if kind == BlobKind::Original {
            Action::ReadOriginals
        } else {
            Action::ReadSubmissions
        };
        if caller.0.may(action, Some(&scope))
            && may_read_submission(&app, &caller, &scope, visit.as_deref()).await?
        {
            allowed = true;
            break;
        }
    }
    if !allowed {
        // Unknown bytes and bytes one may not see look the same from outside.
        return Err(match &caller.0 {
            Principal::Public => AppError::Unauthorized,
            _ => AppError::NotFound(format!("no photo {sha256} you may see")),
        });
    }
    let Some(blob) = app.storage.photo_blob(&sha256).await? else {
        // The record came through sync, the bytes are still on their way.
        return Ok((
            StatusCode::ACCEPTED,
            [(CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Json(json!({"status": "pending", "message": "the photo's bytes have not arrived yet"})),
        )
            .into_response());
    };
    let etag = format!("\"{sha256}-{variant}\"");
    let cache = HeaderValue::from_static("private, max-age=31536000, immutable");
    if headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(CACHE_CONTROL, cache), (ETAG, header(&etag))],
        )
            .into_response());
    }
    let bytes = app
        .evidence
        .blobs
        .get(&BlobName::new(kind, &sha256).map_err(|e| AppError::internal(e.to_string()))?)
        .await
        .map_err(|e| AppError::internal(e.to_string()))?
        .ok_or_else(|| AppError::internal(format!("blob {variant} of {sha256} is missing")))?;
    let content_type = match kind {
        BlobKind::Thumb320 | BlobKind::Thumb1280 => "image/jpeg",
        _ if blob.format == "png" => "image/png",
        _ => "image/jpeg",
    };
    Ok((
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (CACHE_CONTROL, cache),
            (ETAG, header(&etag)),
            (
                axum::http::header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        Body::from(bytes),
    )
        .into_response())
}

fn header(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `GET /api/v1/gps-thresholds`: by facility kind, `*` being the default.
pub async fn thresholds(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, AppError> {
    caller.require(Action::ReadForms, None)?;
    Ok(Json(json!(app.storage.all_thresholds().await?)))
}

/// `PUT /api/v1/gps-thresholds/{kind}`: then every visit's flags are recomputed.
pub async fn set_thresholds(
    State(app): State<AppState>,
    caller: Caller,
    Path(kind): Path<String>,
    JsonBody(body): JsonBody<Thresholds>,
) -> Result<Json<Value>, AppError> {
    caller.require(Action::ManageForms, None)?;
    if kind != "*" && !crate::facility::KINDS.contains(&kind.as_str()) {
        return Err(AppError::NotFound(format!(
            "no facility kind {kind:?}: one of {} or *",
            crate::facility::KINDS.join(", ")
        )));
    }
    let now = crate::sync::now_ms() as i64;
    app.storage
        .set_thresholds(&kind, &body, &caller.audit_name(), now)
        .await?;
    let visits = crate::evidence::flags::rebuild(&app.storage, now).await?;
    Ok(Json(
        json!({"facility_kind": kind, "thresholds": body, "visits_rechecked": visits}),
    ))
}
