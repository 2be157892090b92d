//! One submission as a reviewer reads it: its answers against the questions of its form version,
//! photos, flags, the place it was reported from, every change with who made it, the decisions
//! and the comments. Authorisation is the caller's: this reads whatever it is asked.

use serde::Serialize;
use serde_json::Value;
use sync_protocol::FormId;
use sync_protocol::form::{FormDef, Labels, Question, QuestionKind};
use sync_protocol::review::ReviewStatus;

use crate::evidence::gps::Fix;
use crate::storage::{
    CommentEntry, HistoryEntry, PhotoBlob, ReviewEntry, Storage, StorageError, StoredFacility,
    StoredFlag,
};

#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub key: String,
    pub label: Labels,
    pub value: Value,
    #[serde(skip)]
    pub question: Option<Question>,
}

impl Answer {
    /// The answer as a reader wants it: choice labels instead of codes, yes/no, a position.
    pub fn display(&self, pick: impl Fn(&Labels) -> String, yes_no: (&str, &str)) -> String {
        let choice = |code: &str| match self.question.as_ref().map(|q| &q.kind) {
            Some(QuestionKind::SelectOne { choices })
            | Some(QuestionKind::SelectMultiple { choices, .. }) => choices
                .iter()
                .find(|c| c.value == code)
                .map(|c| pick(&c.label))
                .unwrap_or_else(|| code.to_owned()),
            _ => code.to_owned(),
        };
        match &self.value {
            Value::Null => "—".into(),
            Value::Bool(true) => yes_no.0.into(),
            Value::Bool(false) => yes_no.1.into(),
            Value::String(s) => choice(s),
            Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), choice))
                .collect::<Vec<_>>()
                .join(", "),
            Value::Object(_) => match Fix::from_json(&self.value) {
                Some(f) => match f.acc {
                    Some(acc) => format!("{:.5}, {:.5} (±{acc:.0} m)", f.lat, f.lon),
                    None => format!("{:.5}, {:.5}", f.lat, f.lon),
                },
                None => self.value.to_string(),
            },
            Value::Number(n) => n.to_string(),
        }
    }

    pub fn is_photo(&self) -> bool {
        matches!(
            self.question.as_ref().map(|q| &q.kind),
            Some(QuestionKind::Photo)
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PhotoView {
    pub photo_id: String,
    pub sha256: String,
    pub caption: Option<String>,
    /// Bytes not uploaded yet.
    pub pending: bool,
    pub gps: Option<(f64, f64)>,
    #[serde(skip)]
    pub blob: Option<PhotoBlob>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Detail {
    pub collection: String,
    pub id: String,
    pub municipality: String,
    pub status: ReviewStatus,
    pub version: String,
    pub deleted: bool,
    pub form_id: String,
    pub form_version: u32,
    #[serde(skip)]
    pub form: Option<FormDef>,
    pub facility: Option<StoredFacility>,
    pub village: Option<String>,
    pub captured_at: Option<String>,
    pub received_at_ms: i64,
    pub member_id: String,
    pub member_name: Option<String>,
    pub gps: Option<GpsView>,
    pub answers: Vec<Answer>,
    pub photos: Vec<PhotoView>,
    pub flags: Vec<StoredFlag>,
    pub history: Vec<HistoryEntry>,
    pub reviews: Vec<ReviewEntry>,
    pub comments: Vec<CommentEntry>,
    /// `device:<id>` actors by member name, for history and comments.
    pub names: std::collections::HashMap<String, String>,
    /// The municipality's boundary (GeoJSON), for the map.
    #[serde(skip)]
    pub boundary: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct GpsView {
    pub lat: f64,
    pub lon: f64,
    pub acc: Option<f64>,
}

impl Detail {
    /// A person's name for an actor of the history or a comment.
    pub fn who(&self, actor: &str) -> String {
        self.names
            .get(actor)
            .cloned()
            .unwrap_or_else(|| actor.to_owned())
    }
}

/// Everything about a submission, or `None` when there is no such record.
pub async fn load(
    storage: &Storage,
    collection: &str,
    id: &str,
) -> Result<Option<Detail>, StorageError> {
    let records = storage
        .merged_records(collection, std::slice::from_ref(&id.to_owned()))
        .await?;
    let Some(record) = records.get(id) else {
        return Ok(None);
    };
    let Some(state) = storage.submission_state(collection, id).await? else {
        return Ok(None);
    };
    let row = storage.queue_row(collection, id).await?;
    let text = |k: &str| {
        record
            .fields
            .get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let form_id = text("form").unwrap_or_default();
    let form_version = record
        .fields
        .get("form_version")
        .and_then(Value::as_u64)
        .unwrap_or(0) as u32;
    let form = match FormId::parse(&form_id) {
        Ok(f) => storage.form(&f, form_version).await?,
        Err(_) => None,
    };
    let envelope = sync_protocol::form::envelope_fields(collection);
    let mut answers = Vec::new();
    if let Some(form) = &form {
        for q in &form.questions {
            answers.push(Answer {
                key: q.key.to_string(),
                label: q.label.clone(),
                value: record
                    .fields
                    .get(q.key.as_str())
                    .cloned()
                    .unwrap_or(Value::Null),
                question: Some(q.clone()),
            });
        }
    }
    // Fields the form version does not name are shown too: nothing stored is hidden.
    for (k, v) in &record.fields {
        let known = envelope.contains(&k.as_str())
            || matches!(k.as_str(), "form" | "form_version")
            || form.as_ref().is_some_and(|f| f.question(k).is_some());
        if !known {
            answers.push(Answer {
                key: k.clone(),
                label: Labels {
                    ky: k.clone(),
                    ru: k.clone(),
                    en: k.clone(),
                },
                value: v.clone(),
                question: None,
            });
        }
    }
    let facility = match text("facility") {
        Some(code) => storage
            .facilities_of(&record.scope)
            .await?
            .into_iter()
            .find(|f| f.code == code),
        None => None,
    };
    let mut photos = Vec::new();
    if collection == "visits" {
        for (photo_id, photo) in storage.photos_of_visit(id).await? {
            let sha256 = photo
                .fields
                .get("sha256")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let blob = if sha256.is_empty() {
                None
            } else {
                storage.photo_blob(&sha256).await?
            };
            // A photo's own position: what the phone recorded with it, else its EXIF.
            let gps = photo
                .fields
                .get("gps")
                .and_then(Fix::from_json)
                .or_else(|| blob.as_ref().and_then(|b| exif_fix(&b.exif)))
                .map(|f| (f.lat, f.lon))
                .filter(|(lat, lon)| !(*lat == 0.0 && *lon == 0.0));
            photos.push(PhotoView {
                photo_id,
                pending: blob.is_none(),
                caption: photo
                    .fields
                    .get("caption")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                sha256,
                gps,
                blob,
            });
        }
    }
    let flags = storage.flags_of(id).await?;
    let history = storage.record_history(collection, id).await?;
    let reviews = storage.reviews_of(collection, id).await?;
    let comments = storage.comments_of(&record.scope, collection, id).await?;
    let actors: Vec<String> = history
        .iter()
        .map(|h| h.actor.clone())
        .chain(comments.iter().map(|c| c.author.clone()))
        .collect();
    let names = storage.device_member_names(&actors).await?;
    let place = storage.visit_place(&record.scope, None).await?;
    Ok(Some(Detail {
        collection: collection.to_owned(),
        id: id.to_owned(),
        municipality: record.scope.clone(),
        status: state.status,
        version: state.version,
        deleted: state.deleted,
        form_id,
        form_version,
        form,
        facility,
        village: text("village"),
        captured_at: text("captured_at"),
        received_at_ms: row.as_ref().map_or(0, |r| r.received_at_ms),
        member_id: row
            .as_ref()
            .map(|r| r.member_id.clone())
            .unwrap_or_default(),
        member_name: row.and_then(|r| r.member_name),
        gps: record
            .fields
            .get("gps")
            .and_then(Fix::from_json)
            .map(|f| GpsView {
                lat: f.lat,
                lon: f.lon,
                acc: f.acc,
            }),
        answers,
        photos,
        flags,
        history,
        reviews,
        comments,
        names,
        boundary: place.boundary,
    }))
}

/// The position EXIF recorded, as the photo pipeline stored it.
fn exif_fix(exif: &Value) -> Option<Fix> {
    let lat = exif.get("lat").and_then(Value::as_f64)?;
    let lon = exif.get("lon").and_then(Value::as_f64)?;
    Fix::from_json(&serde_json::json!({"lat": lat, "lon": lon}))
}
