//! The municipality's socio-economic development programme (SEDP): a three-year period, its
//! goals, and the joint action plan (JAP) actions under each goal, linked to the SEDP indicators
//! that measure them. It is adopted as one document, so it is imported and replaced as one.
//!
//! ```json
//! {"municipality": "KG-N-AB-01", "from_year": 2025, "to_year": 2027,
//!  "title": {"ky": "…", "ru": "…", "en": "…"},
//!  "goals": [{"code": "G1", "title": {…},
//!             "actions": [{"code": "G1-A1", "title": {…}, "responsible": "AO",
//!                          "due": "2026-H1", "budget_kgs": 150000,
//!                          "indicators": ["KG-N-AB-01-WAT-ACCESS"]}]}]}
//! ```

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use sync_protocol::Scope;
use sync_protocol::form::Labels;

use crate::territory::ImportError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sedp {
    pub municipality: Scope,
    pub from_year: u16,
    pub to_year: u16,
    pub title: Labels,
    pub goals: Vec<Goal>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Goal {
    pub code: String,
    pub title: Labels,
    #[serde(default)]
    pub actions: Vec<Action>,
}

/// An action of the joint action plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub code: String,
    pub title: Labels,
    /// Who carries it out (AO, a department, a partner).
    pub responsible: String,
    /// The period it is due: `2026`, `2026-H1`, `2026-Q3` or `2026-05`.
    pub due: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_kgs: Option<f64>,
    /// Codes of the SEDP indicators that measure it.
    #[serde(default)]
    pub indicators: Vec<String>,
}

fn fail(at: impl Into<String>, problem: impl Into<String>) -> ImportError {
    ImportError {
        at: at.into(),
        problem: problem.into(),
    }
}

fn check_labels(at: &str, labels: &Labels) -> Result<(), ImportError> {
    for (lang, text) in [("ky", &labels.ky), ("ru", &labels.ru), ("en", &labels.en)] {
        if text.trim().is_empty() {
            return Err(fail(
                format!("{at}.{lang}"),
                "a label is required in Kyrgyz, Russian and English",
            ));
        }
    }
    Ok(())
}

fn check_code(at: &str, code: &str, seen: &mut HashSet<String>) -> Result<(), ImportError> {
    let ok = !code.is_empty()
        && code.len() <= 64
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(fail(
            at,
            format!("{code:?} is not a code (1-64 letters, digits, - _ .)"),
        ));
    }
    if !seen.insert(code.to_owned()) {
        return Err(fail(at, format!("code {code:?} is used twice")));
    }
    Ok(())
}

/// Parses and checks an SEDP document; errors name the place (`goals[1].actions[0].due`).
pub fn parse(text: &str) -> Result<Sedp, ImportError> {
    let sedp: Sedp = serde_json::from_str(text).map_err(|e| {
        fail(
            format!("json line {} column {}", e.line(), e.column()),
            e.to_string(),
        )
    })?;
    if !(2000..=2100).contains(&sedp.from_year) || sedp.to_year != sedp.from_year + 2 {
        return Err(fail(
            "to_year",
            format!(
                "an SEDP covers three years: from_year {} needs to_year {}",
                sedp.from_year,
                sedp.from_year + 2
            ),
        ));
    }
    check_labels("title", &sedp.title)?;
    if sedp.goals.is_empty() {
        return Err(fail("goals", "an SEDP has at least one goal"));
    }
    let mut codes = HashSet::new();
    for (g, goal) in sedp.goals.iter().enumerate() {
        let at = format!("goals[{g}]");
        check_code(&format!("{at}.code"), &goal.code, &mut codes)?;
        check_labels(&format!("{at}.title"), &goal.title)?;
        for (a, action) in goal.actions.iter().enumerate() {
            let at = format!("{at}.actions[{a}]");
            check_code(&format!("{at}.code"), &action.code, &mut codes)?;
            check_labels(&format!("{at}.title"), &action.title)?;
            if action.responsible.trim().is_empty() {
                return Err(fail(
                    format!("{at}.responsible"),
                    "who is responsible is required",
                ));
            }
            let year: u16 = action
                .due
                .get(..4)
                .and_then(|y| y.parse().ok())
                .unwrap_or(0);
            if !crate::indicator::is_period(&action.due)
                || !(sedp.from_year..=sedp.to_year).contains(&year)
            {
                return Err(fail(
                    format!("{at}.due"),
                    format!(
                        "{:?} is not a period within {}-{} (2026, 2026-H1, 2026-Q3 or 2026-05)",
                        action.due, sedp.from_year, sedp.to_year
                    ),
                ));
            }
            if action.budget_kgs.is_some_and(|b| !b.is_finite() || b < 0.0) {
                return Err(fail(
                    format!("{at}.budget_kgs"),
                    "a budget is a number of som, not negative",
                ));
            }
        }
    }
    Ok(sedp)
}

impl Sedp {
    /// Every indicator code the actions name, with where, for checking against stored ones.
    pub fn indicator_links(&self) -> impl Iterator<Item = (String, &str)> {
        self.goals.iter().enumerate().flat_map(|(g, goal)| {
            goal.actions
                .iter()
                .enumerate()
                .flat_map(move |(a, action)| {
                    action.indicators.iter().enumerate().map(move |(i, code)| {
                        (
                            format!("goals[{g}].actions[{a}].indicators[{i}]"),
                            code.as_str(),
                        )
                    })
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> serde_json::Value {
        let l = serde_json::json!({"ky": "к", "ru": "р", "en": "e"});
        serde_json::json!({"municipality": "KG-N-AB-01", "from_year": 2025, "to_year": 2027, "title": l,
            "goals": [{"code": "G1", "title": l, "actions": [
                {"code": "G1-A1", "title": l, "responsible": "AO", "due": "2026-H1", "budget_kgs": 1000.0, "indicators": ["X"]}]}]})
    }

    #[test]
    fn a_good_document_parses_and_each_fault_is_named() {
        assert!(parse(&doc().to_string()).is_ok());
        let cases = [
            ("/to_year", serde_json::json!(2028), "to_year"),
            (
                "/goals/0/actions/0/due",
                serde_json::json!("2030"),
                "goals[0].actions[0].due",
            ),
            (
                "/goals/0/actions/0/code",
                serde_json::json!("G1"),
                "goals[0].actions[0].code",
            ),
            (
                "/goals/0/title/ru",
                serde_json::json!(" "),
                "goals[0].title.ru",
            ),
            (
                "/goals/0/actions/0/budget_kgs",
                serde_json::json!(-5),
                "goals[0].actions[0].budget_kgs",
            ),
            (
                "/goals/0/actions/0/responsible",
                serde_json::json!(""),
                "goals[0].actions[0].responsible",
            ),
        ];
        for (pointer, value, at) in cases {
            let mut d = doc();
            *d.pointer_mut(pointer).unwrap() = value;
            let e = parse(&d.to_string()).unwrap_err();
            assert_eq!(e.at, at, "{pointer}: {}", e.problem);
        }
        let e = parse("{\"municipality\": 1").unwrap_err();
        assert!(e.at.starts_with("json line 1"), "{e:?}");
    }
}
