//! `HEAD`/`POST submission`: an instance and its attachments become the records the native sync
//! makes, through the same push: one visit (or survey response) whose answers are checked
//! against its form, one photo record per attachment through the evidence pipeline. Every id is
//! derived from `meta/instanceID`, so a retry, or the next part of a split submission, lands on
//! the same records instead of beside them.

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashSet;

use sync_protocol::form::{FormDef, FormRef, QuestionKind};
use sync_protocol::{Collection, FormId, Hlc, RecordId, Scope};
use uuid::Uuid;

use super::instance::{self, Instance, InstanceError};
use super::{ACCEPT_LENGTH_HEADER, OpenRosaDevice, OpenRosaError, VERSION_HEADER, xml};
use crate::api::AppState;
use crate::evidence::upload::{self, UploadError};
use crate::storage::{OpenRosaContext, OpenRosaInstance, PhotoBlob, Storage, SubmissionContext};
use crate::sync::now_ms;

/// Names ids derived from instance ids, so that they differ from any other UUID v5 here.
const NAMESPACE: Uuid = Uuid::from_u128(0x6a6d_6574_6f70_656e_726f_7361_0000_0001);
/// More parts than any form has photos.
const MAX_PARTS: usize = 100;

fn derived(text: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, text.as_bytes())
}

/// `HEAD submission`: what the phone may send.
pub async fn head(State(app): State<AppState>, _caller: OpenRosaDevice) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert(VERSION_HEADER, HeaderValue::from_static("1.0"));
    h.insert(
        ACCEPT_LENGTH_HEADER,
        HeaderValue::from(app.settings.body_limit as u64),
    );
    response
}

fn bad(code: &'static str, message: impl Into<String>) -> OpenRosaError {
    OpenRosaError::new(StatusCode::BAD_REQUEST, code, message)
}

fn too_large(limit: usize) -> OpenRosaError {
    OpenRosaError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!(
            "the submission is larger than the {limit} bytes advertised in \
             X-OpenRosa-Accept-Content-Length; send it in parts"
        ),
    )
}

/// The parts of one POST.
struct Parts {
    xml: Bytes,
    incomplete: bool,
    attachments: Vec<(String, Bytes)>,
}

async fn read_parts(
    multipart: Result<Multipart, MultipartRejection>,
    limit: usize,
) -> Result<Parts, OpenRosaError> {
    let mut multipart = multipart.map_err(|e| {
        bad(
            "not_multipart",
            format!("a submission is multipart/form-data: {e}"),
        )
    })?;
    let part_error = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large(limit)
        } else {
            bad(
                "bad_multipart",
                format!("the multipart body is not valid: {e}"),
            )
        }
    };
    let (mut xml, mut incomplete, mut attachments) = (None, false, Vec::new());
    let mut parts = 0;
    while let Some(field) = multipart.next_field().await.map_err(part_error)? {
        parts += 1;
        if parts > MAX_PARTS {
            return Err(bad(
                "too_many_parts",
                format!("a submission has at most {MAX_PARTS} parts"),
            ));
        }
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let bytes = field.bytes().await.map_err(part_error)?;
        match name.as_str() {
            // Two instances in one POST: which one the phone meant cannot be told.
            "xml_submission_file" if xml.is_some() => {
                return Err(bad(
                    "duplicate_xml_submission_file",
                    "the submission has more than one part named xml_submission_file",
                ));
            }
            "xml_submission_file" => xml = Some(bytes),
            "*isIncomplete*" => incomplete = true,
            _ => {
                let file = file_name.unwrap_or(name);
                // A file name is a name, not a path.
                let file = file
                    .rsplit(['/', '\\'])
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                if file.is_empty() {
                    return Err(bad("bad_attachment", "an attachment part has no file name"));
                }
                // The same file twice is sent once; two different files under one name would
                // leave the answer naming it ambiguous.
                match attachments.iter().find(|(f, _)| *f == file) {
                    Some((_, earlier)) if *earlier == bytes => {}
                    Some(_) => {
                        return Err(bad(
                            "duplicate_attachment",
                            format!("two different attachments are named {file}"),
                        ));
                    }
                    None => attachments.push((file, bytes)),
                }
            }
        }
    }
    let xml = xml.ok_or_else(|| {
        bad(
            "missing_xml_submission_file",
            "the submission has no part named xml_submission_file",
        )
    })?;
    Ok(Parts {
        xml,
        incomplete,
        attachments,
    })
}

/// `POST submission`.
pub async fn submit(
    State(app): State<AppState>,
    caller: OpenRosaDevice,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, OpenRosaError> {
    let limit = app.settings.body_limit;
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64 + 64 * 1024) {
        return Err(too_large(limit));
    }
    let parts = read_parts(multipart, limit).await?;
    let instance = instance::parse(&parts.xml).map_err(|e| match e {
        InstanceError::Dtd => bad("entities_refused", e.to_string()),
        InstanceError::NoFormId | InstanceError::NoInstanceId | InstanceError::IdTooLong(_) => {
            bad("bad_instance", e.to_string())
        }
        _ => bad("malformed_xml", e.to_string()),
    })?;
    let form = submitted_form(&app.storage, &instance).await?;
    let xml_text = String::from_utf8_lossy(&parts.xml).into_owned();
    let xml_sha256 = hex::encode(Sha256::digest(&parts.xml));
    let fresh = RecordId(derived(&instance.instance_id));
    let hashes: Vec<String> = parts
        .attachments
        .iter()
        .map(|(_, bytes)| upload::hash(bytes))
        .collect();
    let OpenRosaContext {
        check: context,
        instances,
        stored_photos,
    } = read_context(
        &app.storage,
        &caller,
        &instance,
        &form,
        fresh,
        (&parts.attachments, &hashes),
    )
    .await?;
    let form_ref = FormRef {
        id: form.id.clone(),
        version: form.version,
    };
    if context.closed.contains(&form_ref) {
        return Err(OpenRosaError::new(
            StatusCode::FORBIDDEN,
            "form_closed",
            format!("form {form_ref} is closed to new submissions"),
        ));
    }
    let existing = instances
        .iter()
        .find(|i| i.instance_id == instance.instance_id);
    if let Some(e) = existing
        && e.xml_sha256 != xml_sha256
    {
        return Err(OpenRosaError::new(
            StatusCode::CONFLICT,
            "instance_conflict",
            format!(
                "instance {} was received before with different answers; an edit carries a new \
                 instanceID and names this one as its deprecatedID",
                instance.instance_id
            ),
        ));
    }
    let previous = instance.deprecated_id.as_deref().and_then(|old| {
        instances
            .iter()
            .find(|i| i.instance_id == old && i.form_id == form.id.as_str())
    });
    // A new instance's record is the one of the instance it replaces, else one of its own.
    let record_id = existing
        .or(previous)
        .map_or_else(|| fresh.to_string(), |i| i.record_id.clone());
    let scope = scope_of(&caller, &instance, &form, &context)?;
    let now = now_ms();

    // Attachments first: a photo that is not one refuses the submission before any record.
    // Their rows are stored with the submission, in its commit.
    let mut photos = Vec::new();
    let mut new_photos: Vec<PhotoBlob> = Vec::new();
    let mut new_hashes: Vec<String> = Vec::new();
    for ((file, bytes), sha) in parts.attachments.iter().zip(hashes) {
        if bytes.is_empty() {
            return Err(bad("bad_attachment", format!("attachment {file} is empty")));
        }
        if !stored_photos.contains(&sha) && !new_hashes.contains(&sha) {
            let row = upload::prepare_whole(&app.evidence, &sha, bytes.clone())
                .await
                .map_err(|e| attachment_error(file, e))?;
            new_photos.push(row);
            new_hashes.push(sha.clone());
        }
        photos.push((file.clone(), sha));
    }

    let set = answers(
        &form,
        &instance,
        now,
        existing.is_some() || instance.deprecated_id.is_some(),
    );
    let mut ops = Vec::new();
    let mut stamp = |op_id: Uuid, collection: &str, record: &str, set: Map<String, Value>| {
        let t = app.clock.tick(now);
        let hlc = Hlc::new(t.ms(), t.counter(), caller.device.device_id.0)
            .map(|h| h.to_string())
            .unwrap_or_default();
        ops.push(json!({
            "op_id": op_id, "collection": collection, "record_id": record,
            "scope": scope, "hlc": hlc, "set": set,
        }));
    };
    stamp(
        derived(&format!("{}/record", instance.instance_id)),
        form.collection.as_str(),
        &record_id,
        photo_ids(&form, set, &record_id),
    );
    let gps = instance.answers.get("gps").and_then(|g| geopoint(g));
    for (file, sha) in &photos {
        let mut set = Map::new();
        set.insert("visit".into(), json!(record_id));
        set.insert("sha256".into(), json!(sha));
        if let Some(at) = captured_at(&instance) {
            set.insert("captured_at".into(), json!(at));
        }
        if let Some(g) = &gps {
            set.insert("gps".into(), g.clone());
        }
        stamp(
            derived(&format!("{}/photo/{file}/{sha}", instance.instance_id)),
            "photos",
            &photo_record(&record_id, file).to_string(),
            set,
        );
    }
    let touched: Vec<(String, String, String)> = ops
        .iter()
        .map(|op| {
            let text = |k: &str| op[k].as_str().unwrap_or_default().to_owned();
            (text("collection"), text("record_id"), text("scope"))
        })
        .collect();
    let raw: Vec<Box<serde_json::value::RawValue>> = ops
        .iter()
        .filter_map(|op| serde_json::value::to_raw_value(op).ok())
        .collect();
    let instance_row = OpenRosaInstance {
        instance_id: instance.instance_id.clone(),
        form_id: form.id.to_string(),
        form_version: form.version,
        collection: form.collection.to_string(),
        record_id: record_id.clone(),
        device_id: caller.device.device_id.to_string(),
        deprecated_id: instance.deprecated_id.clone(),
        xml_sha256,
        xml: xml_text,
        complete: !parts.incomplete || existing.is_some_and(|e| e.complete),
        outcome: String::new(),
        received_at_ms: existing.map_or(now as i64, |e| e.received_at_ms),
    };
    let checked = crate::sync::check_pushes_with(
        &crate::sync::PushContext {
            storage: &app.storage,
            clock: &app.clock,
            max_clock_skew_ms: app.settings.max_clock_skew_ms,
            project_indicators: false,
            derive_evidence: false,
        },
        &[(&caller.device, raw.as_slice())],
        Some(&context),
    )
    .await?
    .pop()
    .ok_or_else(|| {
        OpenRosaError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server could not complete this; send it again later",
        )
    })?
    .with_photos(new_photos);
    let batcher = app
        .openrosa
        .get_or_init(|| super::batch::Batcher::spawn(std::sync::Arc::downgrade(&app)));
    let (_, outcome) = batcher
        .submit(caller.device.clone(), touched, checked, instance_row)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "openrosa: a submission could not be written");
            OpenRosaError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the server could not complete this; nothing was lost on the phone, send it again later",
            )
        })?;
    // Records this submission did not write may name a photo that only now arrived (the
    // projector derives the flags of those it wrote).
    for sha in &new_hashes {
        let visits: Vec<String> = app
            .storage
            .visits_with_photo(sha)
            .await?
            .into_iter()
            .filter(|v| *v != record_id)
            .collect();
        if !visits.is_empty()
            && let Err(e) =
                crate::evidence::flags::recompute(&app.storage, &visits, now as i64).await
        {
            tracing::warn!(error = %e, "evidence flags after an OpenRosa photo failed; run `jmet flags rebuild`");
        }
    }
    if let Some(reason) = outcome.strip_prefix("rejected: ") {
        return Err(bad(
            "rejected",
            format!("the submission was kept but not accepted: {reason}"),
        ));
    }
    let body = super::response_xml(
        "submit_success",
        None,
        &format!("Received: {} {record_id}", form.collection),
    );
    Ok(xml(StatusCode::CREATED, body))
}

fn attachment_error(file: &str, e: UploadError) -> OpenRosaError {
    match e {
        UploadError::Image(_) => bad(
            "attachment_not_image",
            format!("attachment {file} is not a photo this server takes (JPEG or PNG): {e}"),
        ),
        UploadError::TooLarge { .. } => OpenRosaError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "attachment_too_large",
            format!("attachment {file}: {e}"),
        ),
        UploadError::Storage(s) => s.into(),
        other => {
            tracing::error!(error = %other, "openrosa: keeping an attachment failed");
            OpenRosaError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the server could not keep an attachment; send the submission again later",
            )
        }
    }
}

/// The form version the instance answers, open to submissions.
async fn submitted_form(storage: &Storage, instance: &Instance) -> Result<FormDef, OpenRosaError> {
    let unknown = || {
        OpenRosaError::new(
            StatusCode::NOT_FOUND,
            "unknown_form",
            format!(
                "there is no form {:?} version {}",
                instance.form_id,
                instance.version.as_deref().unwrap_or("(none)")
            ),
        )
    };
    let id = FormId::parse(instance.form_id.as_str()).map_err(|_| unknown())?;
    let version = match instance.version.as_deref() {
        Some(v) => v.trim().parse::<u32>().map_err(|_| unknown())?,
        None => storage
            .forms()
            .await?
            .into_iter()
            .filter(|f| f.id == id)
            .map(|f| f.version)
            .max()
            .ok_or_else(unknown)?,
    };
    let form = storage.form(&id, version).await?.ok_or_else(unknown)?;
    if !sync_protocol::form::FORM_COLLECTIONS.contains(&form.collection.as_str()) {
        return Err(unknown());
    }
    Ok(form)
}

/// What the request needs from the database, in one read: the instance and the one it
/// replaces, if they came before; closed forms; the facilities and villages of the phone's
/// municipalities; and whether the records a new instance makes exist (the check of its ops
/// then needs no read of its own; an edit's records are read again).
async fn read_context(
    storage: &Storage,
    caller: &OpenRosaDevice,
    instance: &Instance,
    form: &FormDef,
    fresh: RecordId,
    (attachments, hashes): (&[(String, Bytes)], &[String]),
) -> Result<OpenRosaContext, OpenRosaError> {
    let mut ids = vec![instance.instance_id.as_str()];
    ids.extend(instance.deprecated_id.as_deref());
    let hashes: Vec<&str> = hashes.iter().map(String::as_str).collect();
    let forms = HashSet::from([FormRef {
        id: form.id.clone(),
        version: form.version,
    }]);
    let scopes: HashSet<&Scope> = caller.device.scopes.iter().collect();
    let mut records: Vec<(RecordId, Collection)> = vec![(fresh, form.collection.clone())];
    if let Ok(photos) = Collection::parse("photos") {
        let record = fresh.to_string();
        for (file, _) in attachments {
            records.push((RecordId(photo_record(&record, file)), photos.clone()));
        }
    }
    let records: HashSet<(&RecordId, &Collection)> = records.iter().map(|(r, c)| (r, c)).collect();
    Ok(storage
        .openrosa_context(&ids, &hashes, &forms, &scopes, &records)
        .await?)
}

/// The municipality the record belongs to: the one of its facility or village, among the
/// phone's; with one municipality, that one (the form check then explains a wrong code).
fn scope_of(
    caller: &OpenRosaDevice,
    instance: &Instance,
    form: &FormDef,
    context: &SubmissionContext,
) -> Result<String, OpenRosaError> {
    let scopes = &caller.device.scopes;
    let field = super::xform::list_field(form).unwrap_or("facility");
    let code = instance
        .answers
        .get(field)
        .map(String::as_str)
        .unwrap_or("");
    // The context holds the facilities and villages of the phone's municipalities only.
    let municipality = if field == "facility" {
        context.facilities.get(code).map(|(m, _)| m)
    } else {
        context.villages.get(code)
    };
    if let Some(m) = municipality
        && let Some(scope) = scopes.iter().find(|s| s.as_str() == m)
    {
        return Ok(scope.to_string());
    }
    match scopes.as_slice() {
        [only] => Ok(only.to_string()),
        [] => Err(OpenRosaError::new(
            StatusCode::FORBIDDEN,
            "no_scope",
            "this phone is not granted any municipality",
        )),
        _ => Err(bad(
            "unknown_place",
            format!("{field} {code:?} is not one of this phone's municipalities"),
        )),
    }
}

/// The capture time: the form's start, as RFC 3339.
fn captured_at(instance: &Instance) -> Option<String> {
    ["captured_at", "start"]
        .iter()
        .filter_map(|k| instance.answers.get(*k))
        .find_map(|t| rfc3339(t))
}

fn rfc3339(text: &str) -> Option<String> {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?;
    t.format(&Rfc3339).ok()
}

/// An ODK geopoint, `lat lon [alt [acc]]`.
fn geopoint(text: &str) -> Option<Value> {
    let parts: Vec<f64> = text
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let (lat, lon) = (*parts.first()?, *parts.get(1)?);
    let mut point = Map::new();
    point.insert("lat".into(), json!(lat));
    point.insert("lon".into(), json!(lon));
    if let Some(alt) = parts.get(2) {
        point.insert("alt".into(), json!(alt));
    }
    if let Some(acc) = parts.get(3) {
        point.insert("acc".into(), json!(acc));
    }
    Some(Value::Object(point))
}

/// The record's fields from the instance. A value that does not read as its type is passed as
/// text, so that the form check refuses it with the field named and the op kept in quarantine.
/// An edit clears the answers it leaves empty.
fn answers(form: &FormDef, instance: &Instance, now: u64, editing: bool) -> Map<String, Value> {
    let mut set = Map::new();
    set.insert("form".into(), json!(form.id));
    set.insert("form_version".into(), json!(form.version));
    if let Some(field) = super::xform::list_field(form)
        && let Some(code) = instance.answers.get(field).filter(|c| !c.is_empty())
    {
        set.insert(field.into(), json!(code));
    }
    let at = captured_at(instance).unwrap_or_else(|| {
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(now) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    });
    set.insert("captured_at".into(), json!(at));
    if let Some(g) = instance.answers.get("gps").filter(|g| !g.is_empty()) {
        set.insert("gps".into(), geopoint(g).unwrap_or_else(|| json!(g)));
    }
    for q in &form.questions {
        let key = q.key.as_str();
        let Some(text) = instance
            .answers
            .get(key)
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
        else {
            if editing {
                set.insert(key.into(), Value::Null);
            }
            continue;
        };
        let value = match &q.kind {
            QuestionKind::Integer { .. } => text
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| json!(text)),
            QuestionKind::Decimal { .. } => text
                .parse::<f64>()
                .ok()
                .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
                .unwrap_or_else(|| json!(text)),
            QuestionKind::Boolean => match text {
                "true" | "1" | "yes" => json!(true),
                "false" | "0" | "no" => json!(false),
                other => json!(other),
            },
            QuestionKind::SelectMultiple { .. } => {
                json!(
                    text.split(char::is_whitespace)
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                )
            }
            QuestionKind::Geopoint => geopoint(text).unwrap_or_else(|| json!(text)),
            // The file name for now; `photo_ids` makes it the photo record's id.
            QuestionKind::Photo => json!(text),
            QuestionKind::Date { .. } => json!(text.get(..10).unwrap_or(text)),
            QuestionKind::Text { .. } | QuestionKind::SelectOne { .. } => json!(text),
        };
        set.insert(key.into(), value);
    }
    set
}

/// The photo record an attachment of a record becomes; the same file of an edit is the same
/// photo.
fn photo_record(record_id: &str, file: &str) -> Uuid {
    derived(&format!("{record_id}/{file}"))
}

/// Photo answers name the attachment's file; the record holds the photo record's id.
fn photo_ids(form: &FormDef, mut set: Map<String, Value>, record_id: &str) -> Map<String, Value> {
    for q in &form.questions {
        if matches!(q.kind, QuestionKind::Photo)
            && let Some(Value::String(file)) = set.get(q.key.as_str()).cloned()
        {
            set.insert(
                q.key.as_str().into(),
                json!(photo_record(record_id, &file).to_string()),
            );
        }
    }
    set
}
