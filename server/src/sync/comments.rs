//! A comment on a submission. Members write them from their phones; the server writes a
//! reviewer's on their behalf (with `author`), and both reach the team through the feed. The
//! fields below are checked; an app may add fields of its own (a reply-to, a mention), which
//! merge like any other, but may not claim an `author`.

use serde_json::{Map, Value};

/// Fields a phone may set.
pub const COMMENT_FIELDS: [&str; 3] = ["submission_collection", "submission", "text"];
/// The server's own field: who wrote a comment made in the console. A phone's comment is known
/// by the device that sent it, so a phone may not claim a name.
pub const AUTHOR_FIELD: &str = "author";
pub const TEXT_MAX_CHARS: usize = 4000;

/// The first problem of a comment op's fields, as (field, message).
pub fn check(set: &Map<String, Value>, creating: bool) -> Option<(String, String)> {
    let fail =
        |field: &str, why: String| Some((field.to_owned(), format!("field {field:?}: {why}")));
    let mut keys: Vec<&String> = set.keys().collect();
    keys.sort();
    for key in keys {
        let value = &set[key];
        match key.as_str() {
            "submission_collection"
                if !matches!(value.as_str(), Some("visits" | "survey_responses")) =>
            {
                return fail(key, format!("{value} is not visits or survey_responses"));
            }
            "submission" => {
                let ok = value
                    .as_str()
                    .and_then(|s| uuid::Uuid::parse_str(s).ok().filter(|u| u.to_string() == s))
                    .is_some();
                if !ok {
                    return fail(
                        key,
                        format!("{value} is not a record_id (a lowercase UUID)"),
                    );
                }
            }
            "text" => match value.as_str().map(str::trim) {
                Some("") => return fail(key, "a comment may not be empty".into()),
                Some(s) if s.chars().count() <= TEXT_MAX_CHARS => {}
                Some(_) => return fail(key, format!("longer than {TEXT_MAX_CHARS} characters")),
                None => return fail(key, format!("{value} is not text")),
            },
            AUTHOR_FIELD => {
                return fail(
                    key,
                    "is set by the server for reviewers; a phone's comment is known by its device"
                        .into(),
                );
            }
            _ => {}
        }
    }
    // A comment names its submission from the start, or from none at all: one that names it
    // only partly could never be shown.
    let names = ["submission_collection", "submission"]
        .iter()
        .filter(|k| set.contains_key(**k))
        .count();
    if creating && names == 1 {
        let missing = if set.contains_key("submission") {
            "submission_collection"
        } else {
            "submission"
        };
        return fail(
            missing,
            "a comment names both submission_collection and submission".into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn a_whole_comment_passes_and_a_partial_edit_too() {
        let whole = set(json!({"submission_collection": "visits",
            "submission": "0192f0c4-54e1-7c3a-9d2e-3f4a5b6c7d8e", "text": "Photo is blurry"}));
        assert_eq!(check(&whole, true), None);
        assert_eq!(check(&set(json!({"text": "fixed"})), false), None);
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (
                json!({"text": "x", "submission": "0192f0c4-54e1-7c3a-9d2e-3f4a5b6c7d8e"}),
                true,
                "submission_collection",
            ),
            (json!({"text": "  "}), false, "text"),
            (json!({"author": "someone else"}), false, "author"),
            (
                json!({"submission_collection": "visits"}),
                true,
                "submission",
            ),
            (
                json!({"submission_collection": "photos"}),
                false,
                "submission_collection",
            ),
            (json!({"submission": "ABC"}), false, "submission"),
            (
                json!({"text": "x".repeat(TEXT_MAX_CHARS + 1)}),
                false,
                "text",
            ),
        ];
        for (fields, creating, field) in cases {
            let (got, _) = check(&set(fields.clone()), creating).expect("refused");
            assert_eq!(got, field, "{fields}");
        }
    }
}
