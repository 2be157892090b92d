//! Facilities and services JMETs monitor, and their import from CSV. Parsing and every check
//! that needs no database happen here; the storage layer checks municipalities.
//!
//! Columns (a header row names them, in any order): `code`, `municipality` (the code of a stored
//! municipality), `kind`, `name_ky`, `name_ru`, `name_en`, `lat`, `lon`, `delegated` (whether it
//! falls under a state power delegated to the LSG: `true`/`false`, `yes`/`no` or `1`/`0`).

use std::collections::HashMap;

use serde::Serialize;
use sync_protocol::Scope;

use crate::territory::ImportError;

/// The kinds of facility and service the monitoring covers.
pub const KINDS: &[&str] = &[
    "piped_water_system",
    "water_point",
    "health_post",
    "family_medicine_centre",
    "school",
    "kindergarten",
    "road",
    "other",
];

const COLUMNS: &[&str] = &[
    "code",
    "municipality",
    "kind",
    "name_ky",
    "name_ru",
    "name_en",
    "lat",
    "lon",
    "delegated",
];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Facility {
    /// Where it stands in the imported file, for errors found later.
    #[serde(skip)]
    pub line: u64,
    pub code: Scope,
    pub municipality: Scope,
    pub kind: &'static str,
    pub name_ky: String,
    pub name_ru: String,
    pub name_en: String,
    pub lat: f64,
    pub lon: f64,
    pub delegated: bool,
}

/// Parses and checks a whole CSV file; either every facility in it or the first error, named by
/// its line.
pub fn parse_csv(text: &str) -> Result<Vec<Facility>, ImportError> {
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut out = Vec::new();
    for row in crate::csv_rows::read(text, COLUMNS)? {
        let line = row.line;
        let fail = |problem: String| row.error(problem);
        let get = |name: &str| row.get(name);
        let code = Scope::parse(get("code")).map_err(|e| fail(format!("code: {e}")))?;
        if let Some(first) = seen.insert(code.to_string(), line) {
            return Err(fail(format!("code {code} repeats line {first}")));
        }
        let municipality =
            Scope::parse(get("municipality")).map_err(|e| fail(format!("municipality: {e}")))?;
        let kind = KINDS.iter().find(|k| **k == get("kind")).ok_or_else(|| {
            fail(format!(
                "kind {:?} is not one of {}",
                get("kind"),
                KINDS.join(", ")
            ))
        })?;
        let name = |column: &str| match get(column) {
            "" => Err(fail(format!("{column} is empty"))),
            n => Ok(n.to_owned()),
        };
        let number = |column: &str, range: std::ops::RangeInclusive<f64>| {
            let value: f64 = get(column)
                .parse()
                .map_err(|_| fail(format!("{column} {:?} is not a number", get(column))))?;
            if value.is_finite() && range.contains(&value) {
                Ok(value)
            } else {
                Err(fail(format!(
                    "{column} {value} is outside {}..{}",
                    range.start(),
                    range.end()
                )))
            }
        };
        let delegated = match get("delegated").to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => true,
            "false" | "no" | "0" => false,
            other => return Err(fail(format!("delegated {other:?} is not true or false"))),
        };
        out.push(Facility {
            line,
            code,
            municipality,
            kind,
            name_ky: name("name_ky")?,
            name_ru: name("name_ru")?,
            name_en: name("name_en")?,
            lat: number("lat", -90.0..=90.0)?,
            lon: number("lon", -180.0..=180.0)?,
            delegated,
        });
    }
    Ok(out)
}
