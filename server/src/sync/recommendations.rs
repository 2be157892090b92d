//! JMET recommendations and the members' votes on them, written on phones at a team meeting and
//! synced like every other record. A recommendation lists indicators with plan, fact, gap,
//! forecast, shortcomings and proposals; a vote names a recommendation and says `for`,
//! `against` or `abstain`. Who voted is the member whose phone sent the vote, never a field a
//! phone could claim.

use serde_json::{Map, Value};

pub const RECOMMENDATIONS: &str = "recommendations";
pub const VOTES: &str = "votes";
pub const VOTE_VALUES: [&str; 3] = ["for", "against", "abstain"];
pub const TITLE_MAX_CHARS: usize = 300;
pub const TEXT_MAX_CHARS: usize = 4000;
pub const MAX_ITEMS: usize = 100;
pub const MAX_ADDRESSEES: usize = 30;

type Problem = Option<(String, String)>;

fn fail(field: &str, why: String) -> Problem {
    Some((field.to_owned(), format!("field {field:?}: {why}")))
}

fn text(field: &str, value: &Value, max: usize, empty_ok: bool) -> Problem {
    match value.as_str() {
        Some(s) if !empty_ok && s.trim().is_empty() => fail(field, "may not be empty".into()),
        Some(s) if s.chars().count() > max => fail(field, format!("longer than {max} characters")),
        Some(_) => None,
        None => fail(field, format!("{value} is not text")),
    }
}

fn record_id(field: &str, value: &Value) -> Problem {
    let ok = value
        .as_str()
        .and_then(|s| uuid::Uuid::parse_str(s).ok().filter(|u| u.to_string() == s))
        .is_some();
    (!ok).then(|| {
        (
            field.to_owned(),
            format!("field {field:?}: {value} is not a record_id (a lowercase UUID)"),
        )
    })
}

fn date(field: &str, value: &Value) -> Problem {
    let ok = value.as_str().is_some_and(|s| {
        time::Date::parse(
            s,
            &time::macros::format_description!("[year]-[month]-[day]"),
        )
        .is_ok()
    });
    (!ok).then(|| {
        (
            field.to_owned(),
            format!("field {field:?}: {value} is not a date YYYY-MM-DD"),
        )
    })
}

fn number_or_null(field: &str, value: &Value) -> Problem {
    match value {
        Value::Null => None,
        Value::Number(n) if n.as_f64().is_some_and(f64::is_finite) => None,
        other => fail(field, format!("{other} is not a number")),
    }
}

fn item(at: usize, value: &Value) -> Problem {
    let Some(obj) = value.as_object() else {
        return fail(&format!("items[{at}]"), format!("{value} is not an object"));
    };
    let name = |k: &str| format!("items[{at}].{k}");
    match obj.get("indicator") {
        Some(v) => {
            if let Some(p) = text(&name("indicator"), v, 100, false) {
                return Some(p);
            }
        }
        None => return fail(&name("indicator"), "each item names its indicator".into()),
    }
    for (k, v) in obj {
        let problem = match k.as_str() {
            "indicator" => None,
            "plan" | "fact" | "gap" | "forecast" => number_or_null(&name(k), v),
            "shortcomings" | "proposals" => text(&name(k), v, TEXT_MAX_CHARS, true),
            other => fail(
                &name(other),
                "an item has indicator, plan, fact, gap, forecast, shortcomings, proposals".into(),
            ),
        };
        if problem.is_some() {
            return problem;
        }
    }
    None
}

/// The first problem of a recommendation op's fields, as (field, message).
pub fn check_recommendation(set: &Map<String, Value>, creating: bool) -> Problem {
    let mut keys: Vec<&String> = set.keys().collect();
    keys.sort();
    for key in keys {
        let value = &set[key];
        let problem = match key.as_str() {
            "title" => text(key, value, TITLE_MAX_CHARS, false),
            "meeting_on" => date(key, value),
            "items" => match value.as_array() {
                Some(items) if items.is_empty() => fail(key, "lists at least one indicator".into()),
                Some(items) if items.len() > MAX_ITEMS => {
                    fail(key, format!("more than {MAX_ITEMS} items"))
                }
                Some(items) => items.iter().enumerate().find_map(|(i, v)| item(i, v)),
                None => fail(key, format!("{value} is not a list")),
            },
            "addressees" => match value.as_array() {
                Some(list) if list.len() > MAX_ADDRESSEES => {
                    fail(key, format!("more than {MAX_ADDRESSEES} addressees"))
                }
                Some(list) => list
                    .iter()
                    .enumerate()
                    .find_map(|(i, v)| text(&format!("addressees[{i}]"), v, 200, false)),
                None => fail(key, format!("{value} is not a list")),
            },
            _ => None,
        };
        if problem.is_some() {
            return problem;
        }
    }
    if creating {
        for required in ["title", "meeting_on", "items"] {
            if !set.contains_key(required) {
                return fail(
                    required,
                    "a new recommendation has a title, meeting_on and items".into(),
                );
            }
        }
    }
    None
}

/// The first problem of a vote op's fields, as (field, message).
pub fn check_vote(set: &Map<String, Value>, creating: bool) -> Problem {
    for (key, value) in set {
        let problem = match key.as_str() {
            "recommendation" => record_id(key, value),
            "vote" if !value.as_str().is_some_and(|v| VOTE_VALUES.contains(&v)) => {
                fail(key, format!("{value} is not for, against or abstain"))
            }
            _ => None,
        };
        if problem.is_some() {
            return problem;
        }
    }
    if creating {
        for required in ["recommendation", "vote"] {
            if !set.contains_key(required) {
                return fail(
                    required,
                    "a vote names its recommendation and the vote".into(),
                );
            }
        }
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
    fn a_whole_recommendation_passes() {
        let r = set(
            json!({"title": "Fix the water point", "meeting_on": "2026-11-20",
            "items": [{"indicator": "X", "plan": 16, "fact": 12.5, "gap": 3.5, "forecast": null,
                       "shortcomings": "pump broken", "proposals": "repair"}],
            "addressees": ["deputies", "ao_head", "Water users' association"]}),
        );
        assert_eq!(check_recommendation(&r, true), None);
        assert_eq!(
            check_recommendation(&set(json!({"title": "Better"})), false),
            None
        );
    }

    #[test]
    fn recommendation_refusals_name_the_field() {
        for (fields, creating, field) in [
            (
                json!({"title": "", "meeting_on": "2026-11-20", "items": [{"indicator": "X"}]}),
                true,
                "title",
            ),
            (
                json!({"title": "t", "meeting_on": "2026-13-40", "items": [{"indicator": "X"}]}),
                true,
                "meeting_on",
            ),
            (
                json!({"title": "t", "meeting_on": "2026-11-20", "items": []}),
                true,
                "items",
            ),
            (
                json!({"title": "t", "meeting_on": "2026-11-20", "items": [{"plan": 1}]}),
                true,
                "items[0].indicator",
            ),
            (
                json!({"title": "t", "meeting_on": "2026-11-20", "items": [{"indicator": "X", "gap": "big"}]}),
                true,
                "items[0].gap",
            ),
            (
                json!({"title": "t", "meeting_on": "2026-11-20", "items": [{"indicator": "X", "colour": 1}]}),
                true,
                "items[0].colour",
            ),
            (
                json!({"title": "t", "items": [{"indicator": "X"}]}),
                true,
                "meeting_on",
            ),
            (json!({"addressees": "everyone"}), false, "addressees"),
        ] {
            let got = check_recommendation(&set(fields.clone()), creating);
            assert_eq!(got.map(|(f, _)| f), Some(field.to_owned()), "{fields}");
        }
    }

    #[test]
    fn votes_are_for_against_or_abstain() {
        let id = "0192f0c4-54e1-7c3a-9d2e-3f4a5b6c7d8e";
        for v in VOTE_VALUES {
            assert_eq!(
                check_vote(&set(json!({"recommendation": id, "vote": v})), true),
                None
            );
        }
        let bad = check_vote(&set(json!({"recommendation": id, "vote": "yes"})), true);
        assert_eq!(bad.map(|(f, _)| f), Some("vote".to_owned()));
        let bad = check_vote(&set(json!({"recommendation": "R1", "vote": "for"})), true);
        assert_eq!(bad.map(|(f, _)| f), Some("recommendation".to_owned()));
        let bad = check_vote(&set(json!({"vote": "for"})), true);
        assert_eq!(bad.map(|(f, _)| f), Some("recommendation".to_owned()));
    }
}
