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
use super::openapi::errors::{Forbidden, JsonBodyErrors, NotFound, Unauthorized};
use super::openapi::{ApiError, Binary};
use crate::access::{Action, Principal};
use crate::blobs::BlobKind;
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

/// How much of a photo the server has (`received`), and whether it is complete. A phone asks
/// this before sending, and again after a dropped connection.
#[utoipa::path(
    get,
    path = "/api/v1/uploads/{sha256}",
    tag = "evidence",
    operation_id = "upload_status",
    params(("sha256" = String, Path, description = "The photo's SHA-256, 64 lowercase hex digits.")),
    responses(
        (status = 200, description = "The upload's state.", body = Object,
            example = json!({"received": 0, "complete": false})),
        Unauthorized,
        (status = 403, description = "`forbidden`: a person's token; uploads are for devices.",
            body = ApiError),
        NotFound,
    ),
    security(("bearer" = [])),
)]
pub async fn upload_status(
    State(app): State<AppState>,
    Device(_device): Device,
    Path(sha256): Path<String>,
) -> Result<Json<upload::UploadStatus>, AppError> {
    Ok(Json(upload::status(&app.storage, &sha256).await?))
}

/// One piece of a photo, with `Content-Range: bytes START-END/TOTAL`. The piece must start where
/// the server's `received` is (409 `upload_offset` otherwise, with the right offset). The last
/// piece is answered 201 once the photo is verified and kept.
#[utoipa::path(
    put,
    path = "/api/v1/uploads/{sha256}",
    tag = "evidence",
    operation_id = "upload_piece",
    params(
        ("sha256" = String, Path, description = "The photo's SHA-256, 64 lowercase hex digits."),
        ("Content-Range" = String, Header, description = "`bytes START-END/TOTAL`."),
    ),
    request_body(content = Binary, content_type = "application/octet-stream",
        description = "The piece's bytes."),
    responses(
        (status = 200, description = "Stored; more pieces to come.", body = Object),
        (status = 201, description = "The photo is complete, verified and kept.", body = Object),
        (status = 400, description = "`bad_content_range`, or `bad_encoding`.", body = ApiError),
        Unauthorized,
        (status = 403, description = "`forbidden`: a person's token; uploads are for devices.",
            body = ApiError),
        NotFound,
        (status = 409, description = "`upload_offset`: send from the `Upload-Offset` header's \
            offset; `conflict`: the total differs from an earlier piece's.", body = ApiError),
        (status = 413, description = "`photo_too_large` or `body_too_large`.", body = ApiError),
        (status = 422, description = "`hash_mismatch`, or the image is not acceptable \
            (`corrupt_image`, `not_an_image`, …).", body = ApiError),
    ),
    security(("bearer" = [])),
)]
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

/// The visit's photos (each `ready`, or `pending` while its bytes have not arrived) and its
/// flags.
#[utoipa::path(
    get,
    path = "/api/v1/visits/{visit_id}/evidence",
    tag = "evidence",
    operation_id = "visit_evidence",
    params(("visit_id" = String, Path, description = "The visit's record id.")),
    responses(
        (status = 200, description = "The evidence.", body = Object,
            example = json!({"visit_id": "…", "municipality": "…", "deleted": false,
                "photos": [], "flags": []})),
        Unauthorized,
        Forbidden,
        NotFound,
    ),
    security(("bearer" = []), ("session" = [])),
)]
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

/// A photo's bytes: `thumb320`, `thumb1280`, `stripped` (no metadata) or `original`
/// (supervisors and admins only). Content-addressed, so cached for a year.
#[utoipa::path(
    get,
    path = "/api/v1/photos/{sha256}/{variant}",
    tag = "evidence",
    operation_id = "photo_bytes",
    params(
        ("sha256" = String, Path, description = "The photo's SHA-256, 64 lowercase hex digits."),
        ("variant" = String, Path,
            description = "`thumb320`, `thumb1280`, `stripped` or `original`."),
        ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer."),
    ),
    responses(
        (status = 200, description = "The image.", content(
            (Binary = "image/jpeg"),
            (Binary = "image/png"),
        )),
        (status = 202, description = "The record came through sync; its bytes have not arrived.",
            body = Object, example = json!({"status": "pending", "message": "…"})),
        (status = 304, description = "Not modified (`If-None-Match`)."),
        Unauthorized,
        (status = 404, description = "`not_found`: no such photo or variant, or not one the \
            caller may see.", body = ApiError),
    ),
    security(("bearer" = []), ("session" = [])),
)]
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
    let bytes = upload::read_copy(&app.evidence.blobs, &blob, kind)
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

/// How far from its facility a visit may be before it is flagged, by facility kind (`*` being
/// the default).
#[utoipa::path(
    get,
    path = "/api/v1/gps-thresholds",
    tag = "evidence",
    operation_id = "gps_thresholds",
    responses(
        (status = 200, description = "The thresholds by facility kind.", body = Object),
        Unauthorized,
        Forbidden,
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn thresholds(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, AppError> {
    caller.require(Action::ReadForms, None)?;
    Ok(Json(json!(app.storage.all_thresholds().await?)))
}

/// Sets a facility kind's GPS thresholds; then every visit's flags are recomputed.
#[utoipa::path(
    put,
    path = "/api/v1/gps-thresholds/{kind}",
    tag = "evidence",
    operation_id = "set_gps_thresholds",
    params(("kind" = String, Path, description = "A facility kind, or `*` for the default.")),
    request_body(content = Object, description = "The thresholds \
        (see `crate::evidence::gps::Thresholds`)."),
    responses(
        (status = 200, description = "Stored; how many visits were checked again.", body = Object,
            example = json!({"facility_kind": "school", "thresholds": {}, "visits_rechecked": 0})),
        JsonBodyErrors,
        Unauthorized,
        Forbidden,
        NotFound,
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
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
