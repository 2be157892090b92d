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
use crate::access::Action;
use crate::error::AppError;
use crate::storage::FormSummary;

/// `GET /api/v1/forms`: every version of every form.
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<FormSummary>>, AppError> {
    caller.require(Action::ReadForms, None)?;
    Ok(Json(app.storage.forms().await?))
}

/// `GET /api/v1/forms/{form_id}/{version}`: one definition, as phones receive it.
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

/// `POST /api/v1/forms`: a form definition (JSON). 201 when stored, 200 when this exact version
/// was already there, 409 when that version exists with different content.
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
