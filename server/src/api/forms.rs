//! Form definitions: read by anyone signed in (and every phone, through the feed), published by
//! admins.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use sync_protocol::{FormDef, FormId};

use super::AppState;
use super::auth::Caller;
use super::body::TextBody;
use super::openapi::errors::{
    Conflict, Forbidden, Invalid, NotFound, TextBodyErrors, Unauthorized,
};
use crate::access::Action;
use crate::error::AppError;
use crate::storage::FormSummary;

/// Every version of every form.
#[utoipa::path(
    get,
    path = "/api/v1/forms",
    tag = "forms",
    operation_id = "list_forms",
    responses(
        (status = 200, description = "Every version of every form.", body = [Object]),
        Unauthorized,
        Forbidden,
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<FormSummary>>, AppError> {
    caller.require(Action::ReadForms, None)?;
    Ok(Json(app.storage.forms().await?))
}

/// One form definition, as phones receive it.
#[utoipa::path(
    get,
    path = "/api/v1/forms/{form_id}/{version}",
    tag = "forms",
    operation_id = "get_form",
    params(
        ("form_id" = String, Path, description = "The form's id."),
        ("version" = u32, Path, description = "The form's version."),
    ),
    responses(
        (status = 200, description = "The definition (sync protocol `FormDef`).", body = Object),
        Unauthorized,
        Forbidden,
        NotFound,
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    Path((form_id, version)): Path<(String, String)>,
) -> Result<Json<FormDef>, AppError> {
    caller.require(Action::ReadForms, None)?;
    let missing = || AppError::NotFound(format!("no form {form_id:?} version {version:?}"));
    let id = FormId::parse(&form_id).map_err(|_| missing())?;
    let version: u32 = version.parse().map_err(|_| missing())?;
    app.storage
        .form(&id, version)
        .await?
        .map(Json)
        .ok_or_else(missing)
}

/// Publishes a form definition (JSON): 201 when stored, 200 when this exact version was already
/// there, 409 when that version exists with different content.
#[utoipa::path(
    post,
    path = "/api/v1/forms",
    tag = "forms",
    operation_id = "import_form",
    request_body(content = Object, description = "A form definition (sync protocol `FormDef`)."),
    responses(
        (status = 201, description = "Stored.", body = Object,
            example = json!({"form": "resident_survey", "version": 1, "created": true})),
        (status = 200, description = "This exact version was already stored.", body = Object,
            example = json!({"form": "resident_survey", "version": 1, "created": false})),
        TextBodyErrors,
        Unauthorized,
        Forbidden,
        Conflict,
        Invalid,
    ),
    security(("bearer" = []), ("session" = [], "csrf" = [])),
)]
pub async fn import(
    State(app): State<AppState>,
    caller: Caller,
    TextBody(text): TextBody,
) -> Result<(StatusCode, Json<Value>), AppError> {
    caller.require(Action::ManageForms, None)?;
    let form = FormDef::from_json(&text).map_err(|e| AppError::InvalidImport {
        at: e.at,
        problem: e.problem,
    })?;
    let now = crate::sync::now_ms() as i64;
    let created = app
        .storage
        .import_form(&form, &caller.audit_name(), now)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({"form": form.id, "version": form.version, "created": created})),
    ))
}
