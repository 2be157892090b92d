//! Which fields of an approved submission anyone may download. Kept: the envelope (form,
//! version, facility or village, the day of capture, a visit's position) and answers to closed
//! questions (numbers, choices, yes/no, dates). Dropped: free text (it may name people), photos,
//! positions of survey respondents (their homes), and anything the form does not define, such as
//! who captured it and on which device.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sync_protocol::form::{FormDef, QuestionKind};

use crate::storage::{ApprovedSubmission, Storage, StorageError};

/// The columns of the raw export before the answers.
pub const ENVELOPE: [&str; 9] = [
    "collection",
    "record_id",
    "form",
    "form_version",
    "facility",
    "village",
    "captured_on",
    "lat",
    "lon",
];

pub struct Policy {
    /// (form id, version) → the answer keys that may be published.
    allowed: BTreeMap<(String, u32), Vec<String>>,
    /// Every publishable answer key of every form, in first-seen order: the CSV's columns.
    pub answer_columns: Vec<String>,
}

fn closed(kind: &QuestionKind) -> bool {
    matches!(
        kind,
        QuestionKind::Integer { .. }
            | QuestionKind::Decimal { .. }
            | QuestionKind::SelectOne { .. }
            | QuestionKind::SelectMultiple { .. }
            | QuestionKind::Boolean
            | QuestionKind::Date { .. }
    )
}

impl Policy {
    pub async fn load(storage: &Storage) -> Result<Policy, StorageError> {
        let mut defs: Vec<FormDef> = Vec::new();
        for s in storage.forms().await? {
            if let Some(def) = storage.form(&s.id, s.version).await? {
                defs.push(def);
            }
        }
        Ok(Policy::of(&defs))
    }

    pub fn of(defs: &[FormDef]) -> Policy {
        let mut allowed = BTreeMap::new();
        let mut answer_columns: Vec<String> = Vec::new();
        for def in defs {
            let keys: Vec<String> = def
                .questions
                .iter()
                .filter(|q| closed(&q.kind))
                .map(|q| q.key.to_string())
                .filter(|k| !ENVELOPE.contains(&k.as_str()))
                .collect();
            for k in &keys {
                if !answer_columns.contains(k) {
                    answer_columns.push(k.clone());
                }
            }
            allowed.insert((def.id.to_string(), def.version), keys);
        }
        Policy {
            allowed,
            answer_columns,
        }
    }

    /// The publishable part of a submission, or None when it was deleted.
    pub fn public(&self, s: &ApprovedSubmission) -> Option<Map<String, Value>> {
        if s.fields.get("$deleted") == Some(&Value::Bool(true)) {
            return None;
        }
        let version = s
            .fields
            .get("form_version")
            .and_then(Value::as_u64)
            .and_then(|v| u32::try_from(v).ok());
        let mut out = Map::new();
        out.insert("collection".into(), Value::String(s.collection.clone()));
        out.insert("record_id".into(), Value::String(s.record_id.clone()));
        out.insert("form".into(), Value::String(s.form.clone()));
        out.insert(
            "form_version".into(),
            version.map_or(Value::Null, Value::from),
        );
        let text = |key: &str| {
            s.fields
                .get(key)
                .and_then(Value::as_str)
                .map_or(Value::Null, |v| Value::String(v.to_owned()))
        };
        out.insert(
            "facility".into(),
            if s.facility.is_empty() {
                text("facility")
            } else {
                Value::String(s.facility.clone())
            },
        );
        out.insert("village".into(), text("village"));
        out.insert(
            "captured_on".into(),
            Value::String(s.captured_at.chars().take(10).collect()),
        );
        // A visit's position is at a public facility; a respondent's is at their home.
        let position = (s.collection == "visits")
            .then(|| s.fields.get("gps"))
            .flatten()
            .and_then(|g| Some((g.get("lat")?.as_f64()?, g.get("lon")?.as_f64()?)))
            .filter(|(lat, lon)| lat.is_finite() && lon.is_finite());
        let round = |v: f64| Value::from((v * 1e5).round() / 1e5);
        out.insert("lat".into(), position.map_or(Value::Null, |p| round(p.0)));
        out.insert("lon".into(), position.map_or(Value::Null, |p| round(p.1)));
        if let Some(keys) = version.and_then(|v| self.allowed.get(&(s.form.clone(), v))) {
            for k in keys {
                if let Some(v) = s.fields.get(k) {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        Some(out)
    }
}

/// A value as a CSV cell: choices of a multiple choice joined with `;`.
pub fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| cell(Some(i)))
            .collect::<Vec<_>>()
            .join(";"),
        Some(other) => other.to_string(),
    }
}
