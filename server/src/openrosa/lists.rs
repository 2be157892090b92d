//! Form list, form download, media manifest and media files.

use std::fmt::Write;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use md5::{Digest, Md5};
use sync_protocol::FormId;
use sync_protocol::form::{FORM_COLLECTIONS, FormDef};

use super::xform::{self, esc};
use super::{OpenRosaDevice, OpenRosaError, xml};
use crate::api::AppState;
use crate::storage::{Storage, StorageError};

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// The language of the form list's names, from the phone's `Accept-Language`.
fn language(headers: &HeaderMap) -> &'static str {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let first = accept
        .split([',', ';', '-', '_'])
        .next()
        .unwrap_or("")
        .trim();
    match first {
        "ky" => "ky",
        "ru" => "ru",
        _ => "en",
    }
}

/// The latest open version of each form that answers into a form collection.
pub(super) async fn open_forms(storage: &Storage) -> Result<Vec<FormDef>, OpenRosaError> {
    let closed = storage.closed_forms().await?;
    let mut latest: std::collections::BTreeMap<String, u32> = Default::default();
    for f in storage.forms().await? {
        if !FORM_COLLECTIONS.contains(&f.collection.as_str())
            || closed
                .iter()
                .any(|(id, v)| id == f.id.as_str() && *v == f.version)
        {
            continue;
        }
        let v = latest.entry(f.id.to_string()).or_default();
        *v = (*v).max(f.version);
    }
    let mut out = Vec::new();
    for (id, version) in latest {
        let Ok(id) = FormId::parse(id) else { continue };
        if let Some(def) = storage.form(&id, version).await? {
            out.push(def);
        }
    }
    Ok(out)
}

async fn open_form(storage: &Storage, form_id: &str) -> Result<FormDef, OpenRosaError> {
    open_forms(storage)
        .await?
        .into_iter()
        .find(|f| f.id.as_str() == form_id)
        .ok_or_else(|| {
            OpenRosaError::new(
                StatusCode::NOT_FOUND,
                "unknown_form",
                format!("there is no open form {form_id:?}"),
            )
        })
}

/// `GET formList`: the XForms list.
pub async fn form_list(
    State(app): State<AppState>,
    caller: OpenRosaDevice,
    headers: HeaderMap,
) -> Result<Response, OpenRosaError> {
    let lang = language(&headers);
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><xforms xmlns=\"http://openrosa.org/xforms/xformsList\">",
    );
    for form in open_forms(&app.storage).await? {
        let text = xform::xform(&form, xform::list_file(&form).is_some());
        let name = match lang {
            "ky" => &form.title.ky,
            "ru" => &form.title.ru,
            _ => &form.title.en,
        };
        let base = &caller.base_url;
        let id = form.id.as_str();
        let _ = write!(
            out,
            "<xform><formID>{}</formID><name>{}</name><version>{}</version><hash>md5:{}</hash>\
             <downloadUrl>{}</downloadUrl>",
            esc(id),
            esc(name),
            form.version,
            md5_hex(text.as_bytes()),
            esc(&format!("{base}/forms/{id}/form.xml")),
        );
        if xform::list_file(&form).is_some() {
            let _ = write!(
                out,
                "<manifestUrl>{}</manifestUrl>",
                esc(&format!("{base}/forms/{id}/manifest"))
            );
        }
        out.push_str("</xform>");
    }
    out.push_str("</xforms>");
    Ok(xml(StatusCode::OK, out))
}

/// `GET forms/{id}/form.xml`: the XForm of the form's latest open version.
pub async fn form(
    State(app): State<AppState>,
    _caller: OpenRosaDevice,
    Path(params): Path<std::collections::HashMap<String, String>>,
) -> Result<Response, OpenRosaError> {
    let form_id = params.get("form_id").map(String::as_str).unwrap_or("");
    let form = open_form(&app.storage, form_id).await?;
    Ok(xml(
        StatusCode::OK,
        xform::xform(&form, xform::list_file(&form).is_some()),
    ))
}

/// `GET forms/{id}/manifest`: the form's media files (its list of facilities or villages).
pub async fn manifest(
    State(app): State<AppState>,
    caller: OpenRosaDevice,
    Path(params): Path<std::collections::HashMap<String, String>>,
) -> Result<Response, OpenRosaError> {
    let form_id = params.get("form_id").map(String::as_str).unwrap_or("");
    let form = open_form(&app.storage, form_id).await?;
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><manifest xmlns=\"http://openrosa.org/xforms/xformsManifest\">",
    );
    if let Some(file) = xform::list_file(&form) {
        let csv = list_csv(&app.storage, &caller, &form).await?;
        let _ = write!(
            out,
            "<mediaFile><filename>{file}</filename><hash>md5:{}</hash><downloadUrl>{}</downloadUrl></mediaFile>",
            md5_hex(csv.as_bytes()),
            esc(&format!(
                "{}/forms/{}/media/{file}",
                caller.base_url,
                form.id.as_str()
            ))
        );
    }
    out.push_str("</manifest>");
    Ok(xml(StatusCode::OK, out))
}

/// `GET forms/{id}/media/{file}`.
pub async fn media(
    State(app): State<AppState>,
    caller: OpenRosaDevice,
    Path(params): Path<std::collections::HashMap<String, String>>,
) -> Result<Response, OpenRosaError> {
    let form_id = params.get("form_id").map(String::as_str).unwrap_or("");
    let file = params.get("file").map(String::as_str).unwrap_or("");
    let form = open_form(&app.storage, form_id).await?;
    if xform::list_file(&form) != Some(file) {
        return Err(OpenRosaError::new(
            StatusCode::NOT_FOUND,
            "unknown_media",
            format!("form {form_id} has no media file {file:?}"),
        ));
    }
    let csv = list_csv(&app.storage, &caller, &form).await?;
    let mut response = (StatusCode::OK, csv).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(super::VERSION_HEADER, HeaderValue::from_static("1.0"));
    Ok(response)
}

/// The facilities (for a visit form: of the kinds it is for) or villages of the phone's
/// municipalities, as `name,label` CSV; the label names it in the three languages.
async fn list_csv(
    storage: &Storage,
    caller: &OpenRosaDevice,
    form: &FormDef,
) -> Result<String, OpenRosaError> {
    let mut rows: Vec<(String, String)> = Vec::new();
    let scopes: Vec<&str> = caller.device.scopes.iter().map(|s| s.as_str()).collect();
    match form.collection.as_str() {
        "visits" => {
            for scope in &scopes {
                for f in storage.facilities_of(scope).await? {
                    if form.facility_kinds.is_empty() || form.facility_kinds.contains(&f.kind) {
                        rows.push((
                            f.code,
                            format!("{} / {} / {}", f.name_ky, f.name_ru, f.name_en),
                        ));
                    }
                }
            }
        }
        _ => {
            for t in storage.territories().await? {
                if t.level == "village" && t.parent.as_deref().is_some_and(|p| scopes.contains(&p))
                {
                    rows.push((
                        t.code,
                        format!("{} / {} / {}", t.name_ky, t.name_ru, t.name_en),
                    ));
                }
            }
        }
    }
    let mut writer = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| OpenRosaError::from(StorageError::Corrupt(e.to_string()));
    writer.write_record(["name", "label"]).map_err(io)?;
    for (name, label) in rows {
        writer.write_record([name, label]).map_err(io)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| OpenRosaError::from(StorageError::Corrupt(e.to_string())))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
