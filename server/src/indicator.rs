//! SEDP indicators and their import from CSV.
//!
//! Columns: `code`, `municipality`, `name_ky`, `name_ru`, `name_en`, `level` (resource,
//! activity, output, outcome), `kind` (quantitative, qualitative), `unit`, `baseline` (a number,
//! or empty), `targets` (`PERIOD:VALUE` pairs separated by `;`, a period being `2026`, `2026-H1`,
//! `2026-Q3` or `2026-05`), `measured_by` (jmet, lsg), `delegated` (true/false: a state power
//! delegated to the LSG) and `rule` (JSON: how values are derived, `{"type": "aggregate", …}`,
//! `{"type": "lsg_entry"}` or `{"type": "ratio", …}`).

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use sync_protocol::Scope;

use crate::territory::ImportError;

pub const LEVELS: &[&str] = &["resource", "activity", "output", "outcome"];
pub const KINDS: &[&str] = &["quantitative", "qualitative"];
pub const MEASURERS: &[&str] = &["jmet", "lsg"];

const COLUMNS: &[&str] = &[
    "code",
    "municipality",
    "name_ky",
    "name_ru",
    "name_en",
    "level",
    "kind",
    "unit",
    "baseline",
    "targets",
    "measured_by",
    "delegated",
    "rule",
];

#[derive(Debug, Clone, PartialEq)]
pub struct Indicator {
    pub line: u64,
    pub code: Scope,
    pub municipality: Scope,
    pub name_ky: String,
    pub name_ru: String,
    pub name_en: String,
    pub level: &'static str,
    pub kind: &'static str,
    pub unit: String,
    pub baseline: Option<f64>,
    pub targets: BTreeMap<String, f64>,
    pub measured_by: &'static str,
    pub delegated: bool,
    pub rule: Value,
}

/// Whether `text` is a period: a year, a half-year, a quarter or a month.
pub fn is_period(text: &str) -> bool {
    let (year, rest) = text.split_at(text.len().min(4));
    if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    match rest {
        "" | "-H1" | "-H2" | "-Q1" | "-Q2" | "-Q3" | "-Q4" => true,
        month => {
            month.len() == 3
                && month.starts_with('-')
                && (1..=12).contains(&month[1..].parse::<u8>().unwrap_or(0))
        }
    }
}

fn one_of(value: &str, allowed: &[&'static str]) -> Option<&'static str> {
    allowed.iter().copied().find(|a| *a == value)
}

/// Parses and checks a whole file; either every indicator or the first error, by line.
pub fn parse_csv(text: &str) -> Result<Vec<Indicator>, ImportError> {
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut out = Vec::new();
    for row in crate::csv_rows::read(text, COLUMNS)? {
        let fail = |problem: String| row.error(problem);
        let pick = |column: &str, allowed: &[&'static str]| {
            one_of(row.get(column), allowed).ok_or_else(|| {
                fail(format!(
                    "{column} {:?} is not one of {}",
                    row.get(column),
                    allowed.join(", ")
                ))
            })
        };
        let code = Scope::parse(row.get("code")).map_err(|e| fail(format!("code: {e}")))?;
        if let Some(first) = seen.insert(code.to_string(), row.line) {
            return Err(fail(format!("code {code} repeats line {first}")));
        }
        let municipality = Scope::parse(row.get("municipality"))
            .map_err(|e| fail(format!("municipality: {e}")))?;
        let name = |column: &str| match row.get(column) {
            "" => Err(fail(format!("{column} is empty"))),
            n => Ok(n.to_owned()),
        };
        let number = |column: &str, text: &str| {
            text.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| fail(format!("{column}: {text:?} is not a number")))
        };
        let baseline = match row.get("baseline") {
            "" => None,
            text => Some(number("baseline", text)?),
        };
        let mut targets = BTreeMap::new();
        for pair in row
            .get("targets")
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (period, value) = pair
                .split_once(':')
                .ok_or_else(|| fail(format!("targets: {pair:?} is not PERIOD:VALUE")))?;
            let period = period.trim();
            if !is_period(period) {
                return Err(fail(format!(
                    "targets: {period:?} is not a period (2026, 2026-H1, 2026-Q3, 2026-05)"
                )));
            }
            if targets
                .insert(period.to_owned(), number("targets", value.trim())?)
                .is_some()
            {
                return Err(fail(format!("targets: period {period} appears twice")));
            }
        }
        let delegated = match row.get("delegated").to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => true,
            "false" | "no" | "0" => false,
            other => return Err(fail(format!("delegated {other:?} is not true or false"))),
        };
        let rule: Value = serde_json::from_str(row.get("rule"))
            .map_err(|e| fail(format!("rule is not JSON: {e}")))?;
        crate::series::Rule::parse(&rule).map_err(|e| fail(format!("rule: {e}")))?;
        out.push(Indicator {
            line: row.line,
            code,
            municipality,
            name_ky: name("name_ky")?,
            name_ru: name("name_ru")?,
            name_en: name("name_en")?,
            level: pick("level", LEVELS)?,
            kind: pick("kind", KINDS)?,
            unit: row.get("unit").to_owned(),
            baseline,
            targets,
            measured_by: pick("measured_by", MEASURERS)?,
            delegated,
            rule,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::is_period;

    #[test]
    fn periods() {
        for ok in [
            "2026", "2026-H1", "2026-H2", "2026-Q4", "2026-01", "2026-12",
        ] {
            assert!(is_period(ok), "{ok}");
        }
        for bad in [
            "", "26", "2026-H3", "2026-Q5", "2026-13", "2026-00", "2026-1", "20a6", "2026-",
        ] {
            assert!(!is_period(bad), "{bad}");
        }
    }
}
