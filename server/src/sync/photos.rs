//! The fixed shape of a photo record: its metadata comes through sync, its bytes through the
//! upload (addressed by `sha256`), so a photo whose bytes have not arrived is merely pending.

use serde_json::{Map, Value};
use sync_protocol::FieldName;
use sync_protocol::form::{Labels, Question, QuestionKind};

/// Fields of a `photos` record.
pub const PHOTO_FIELDS: [&str; 5] = ["visit", "sha256", "caption", "captured_at", "gps"];
/// Needed when the op creates the record.
const REQUIRED: [&str; 2] = ["visit", "sha256"];
const CAPTION_MAX_CHARS: usize = 1000;

fn question(key: &str, kind: QuestionKind) -> Option<Question> {
    let label = Labels {
        ky: key.into(),
        ru: key.into(),
        en: key.into(),
    };
    Some(Question {
        key: FieldName::parse(key).ok()?,
        label,
        hint: None,
        required: false,
        kind,
    })
}

/// The first problem of a photo op's fields, as (field, message).
pub fn check(set: &Map<String, Value>, creating: bool) -> Option<(String, String)> {
    let fail =
        |field: &str, why: String| Some((field.to_owned(), format!("field {field:?}: {why}")));
    let mut keys: Vec<&String> = set.keys().collect();
    keys.sort();
    for key in keys {
        let value = &set[key];
        let required = REQUIRED.contains(&key.as_str());
        if value.is_null() {
            if required {
                return fail(key, "is required and may not be cleared".into());
            }
            continue;
        }
        match key.as_str() {
            "visit" => {
                let ok = value
                    .as_str()
                    .and_then(|s| uuid::Uuid::parse_str(s).ok().filter(|u| u.to_string() == s))
                    .is_some();
                if !ok {
                    return fail(
                        key,
                        format!("{value} is not the record_id of a visit (a lowercase UUID)"),
                    );
                }
            }
            "sha256" => {
                let ok = value.as_str().is_some_and(|s| {
                    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                });
                if !ok {
                    return fail(key, format!("{value} is not a SHA-256 in lowercase hex"));
                }
            }
            "caption" => match value.as_str() {
                Some(s) if s.chars().count() <= CAPTION_MAX_CHARS => {}
                Some(_) => return fail(key, format!("longer than {CAPTION_MAX_CHARS} characters")),
                None => return fail(key, format!("{value} is not text")),
            },
            "captured_at" => {
                let ok = value.as_str().is_some_and(|s| {
                    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                        .is_ok()
                });
                if !ok {
                    return fail(key, format!("{value} is not an RFC 3339 time with offset"));
                }
            }
            "gps" => {
                if let Some(q) = question("gps", QuestionKind::Geopoint)
                    && let Err(problem) = q.check_value(value)
                {
                    return fail(key, problem.to_string());
                }
            }
            other => {
                return fail(
                    other,
                    format!(
                        "a photo has no such field; its fields are {}",
                        PHOTO_FIELDS.join(", ")
                    ),
                );
            }
        }
    }
    if creating {
        for key in REQUIRED {
            if !set.contains_key(key) {
                return fail(key, "is required when the photo record is created".into());
            }
        }
    }
    None
}
