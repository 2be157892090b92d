//! What one submission or LSG entry contributes to indicators, and which values that touches.

use std::collections::BTreeSet;

use serde_json::{Map, Value};
use sync_protocol::review::ReviewStatus;

use super::period::{self, Period, PeriodKind};
use super::rule::Rule;

/// One contribution to an indicator, kept so a value can be recomputed from its parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    pub indicator: String,
    /// `visits/<id>`, `survey_responses/<id>` or `lsg/<period>`: the evidence a value names.
    pub source: String,
    pub municipality: String,
    /// '' when the contribution concerns no one facility.
    pub facility: String,
    /// Local capture time `YYYY-MM-DDTHH:MM:SS` (text order is time order).
    pub at: String,
    /// For LSG entries, the period entered; '' for a submission (a point in time).
    pub grain: String,
    pub value: f64,
    pub official: bool,
}

/// A value to recompute: indicator, facility ('' for the whole municipality), period.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey {
    pub indicator: String,
    pub municipality: String,
    pub facility: String,
    pub period: Period,
}

/// The local time a capture names, without its offset; `None` if it is not a timestamp.
pub fn local_time(captured_at: &str) -> Option<String> {
    period::parse_date_prefix(captured_at)?;
    let date = &captured_at[..10];
    let time = captured_at
        .get(11..19)
        .filter(|t| t.len() == 8 && t.as_bytes()[2] == b':' && t.as_bytes()[5] == b':')
        .unwrap_or("00:00:00");
    Some(format!("{date}T{time}"))
}

/// The indicators of the submission's municipality that its form feeds, and what it gives each.
pub fn of_submission(
    collection: &str,
    record_id: &str,
    municipality: &str,
    fields: &Map<String, Value>,
    status: ReviewStatus,
    indicators: &[(String, Rule)],
) -> Vec<Fact> {
    if !status.is_counted() {
        return Vec::new();
    }
    let form = fields.get("form").and_then(Value::as_str);
    let Some(at) = fields
        .get("captured_at")
        .and_then(Value::as_str)
        .and_then(local_time)
    else {
        return Vec::new();
    };
    let facility = fields
        .get("facility")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut out = Vec::new();
    for (code, rule) in indicators {
        let Rule::Aggregate {
            form: wanted,
            field,
            ..
        } = rule
        else {
            continue;
        };
        if form != Some(wanted.as_str()) {
            continue;
        }
        if let Some(value) = rule.contribution(fields.get(field)) {
            out.push(Fact {
                indicator: code.clone(),
                source: format!("{collection}/{record_id}"),
                municipality: municipality.to_owned(),
                facility: facility.to_owned(),
                at: at.clone(),
                grain: String::new(),
                value,
                official: status.is_official(),
            });
        }
    }
    out
}

/// An LSG entry as a fact: it stands at the last day of its period.
pub fn of_entry(indicator: &str, municipality: &str, period: Period, value: f64) -> Fact {
    Fact {
        indicator: indicator.to_owned(),
        source: format!("lsg/{period}"),
        municipality: municipality.to_owned(),
        facility: String::new(),
        at: format!("{}T23:59:59", period.end()),
        grain: period.to_string(),
        value,
        official: true,
    }
}

/// Whether a fact belongs in a value of `period`: a submission in every period around its
/// capture day, an entry only in periods that contain the period it was entered for.
pub fn belongs(fact_at: &str, fact_grain: &str, period: &Period) -> bool {
    let Some(day) = period::parse_date_prefix(fact_at) else {
        return false;
    };
    if day < period.start() || day > period.end() {
        return false;
    }
    match fact_grain {
        "" => true,
        grain => grain.parse::<Period>().is_ok_and(|g| period.contains(&g)),
    }
}

/// The values a fact takes part in: every period kind, for its facility and the municipality.
pub fn groups(fact: &Fact, into: &mut BTreeSet<GroupKey>) {
    let Some(day) = period::parse_date_prefix(&fact.at) else {
        return;
    };
    for kind in PeriodKind::ALL {
        let p = Period::of(day, kind);
        if !belongs(&fact.at, &fact.grain, &p) {
            continue;
        }
        let mut key = GroupKey {
            indicator: fact.indicator.clone(),
            municipality: fact.municipality.clone(),
            facility: String::new(),
            period: p,
        };
        if !fact.facility.is_empty() {
            let mut own = key.clone();
            own.facility = fact.facility.clone();
            into.insert(own);
        }
        key.facility.clear();
        into.insert(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn local_times() {
        assert_eq!(
            local_time("2026-05-14T09:30:00+06:00").as_deref(),
            Some("2026-05-14T09:30:00")
        );
        assert_eq!(
            local_time("2026-05-14").as_deref(),
            Some("2026-05-14T00:00:00")
        );
        assert_eq!(local_time("14.05.2026"), None);
    }

    #[test]
    fn an_entry_counts_only_in_periods_that_hold_it() {
        let q2: Period = "2026-Q2".parse().unwrap();
        let fact = of_entry("I", "M", q2, 3.0);
        let mut keys = BTreeSet::new();
        groups(&fact, &mut keys);
        let periods: Vec<String> = keys.iter().map(|k| k.period.to_string()).collect();
        assert_eq!(periods, ["2026", "2026-H1", "2026-Q2"]);
    }

    #[test]
    fn a_visit_feeds_its_facility_and_its_municipality() {
        let fields = json!({"form": "water_visit", "facility": "F-1",
            "captured_at": "2026-05-14T09:30:00+06:00", "hours": 12});
        let rules = vec![
            (
                "H".to_owned(),
                Rule::parse(&json!({"type": "aggregate", "form": "water_visit",
                    "field": "hours", "fn": "mean"}))
                .unwrap(),
            ),
            (
                "X".to_owned(),
                Rule::parse(&json!({"type": "aggregate", "form": "health_visit",
                    "field": "hours", "fn": "mean"}))
                .unwrap(),
            ),
        ];
        let map = fields.as_object().unwrap();
        let facts = of_submission("visits", "v1", "M", map, ReviewStatus::Approved, &rules);
        assert_eq!(facts.len(), 1);
        assert!(facts[0].official);
        assert_eq!(facts[0].at, "2026-05-14T09:30:00");
        let mut keys = BTreeSet::new();
        groups(&facts[0], &mut keys);
        assert_eq!(keys.len(), 8); // four periods, for F-1 and for the municipality
        let rejected = of_submission("visits", "v1", "M", map, ReviewStatus::Rejected, &rules);
        assert!(rejected.is_empty());
        let received = of_submission("visits", "v1", "M", map, ReviewStatus::Received, &rules);
        assert!(!received[0].official);
    }
}
