//! Territories and their import from GeoJSON. Parsing and every check that needs no database
//! happen here; the storage layer adds the checks against what is already stored.
//!
//! Each feature of the FeatureCollection is one territory. Properties: `code` (unique; a
//! municipality's code is the sync scope of its JMET's data), `level` (`oblast`, `rayon`,
//! `municipality` or `village`), `parent` (the code of the territory one level up; none for an
//! oblast) and `name_ky`, `name_ru`, `name_en`. Oblasts, rayons and municipalities have a
//! Polygon or MultiPolygon boundary; villages a Point.

use std::collections::HashMap;

use geojson::{FeatureCollection, GeometryValue, Position};
use sync_protocol::Scope;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Oblast,
    Rayon,
    Municipality,
    Village,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oblast => "oblast",
            Self::Rayon => "rayon",
            Self::Municipality => "municipality",
            Self::Village => "village",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Oblast, Self::Rayon, Self::Municipality, Self::Village]
            .into_iter()
            .find(|l| l.as_str() == text)
    }

    /// The level a parent must have; `None` for an oblast, which has no parent.
    pub fn parent(self) -> Option<Self> {
        match self {
            Self::Oblast => None,
            Self::Rayon => Some(Self::Oblast),
            Self::Municipality => Some(Self::Rayon),
            Self::Village => Some(Self::Municipality),
        }
    }
}

/// One territory as imported.
#[derive(Debug, Clone, PartialEq)]
pub struct Territory {
    /// Codes follow the scope alphabet, since a municipality's code is a sync scope.
    pub code: Scope,
    pub level: Level,
    pub parent: Option<Scope>,
    pub name_ky: String,
    pub name_ru: String,
    pub name_en: String,
    /// The geometry as GeoJSON text.
    pub geometry: String,
}

/// Why a file cannot be imported; names the place in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {problem}")]
pub struct ImportError {
    /// `line L, column C`, or `feature N` (1-based) with its code when it has one.
    pub at: String,
    pub problem: String,
}

fn at_feature(index: usize, code: Option<&str>) -> String {
    match code {
        Some(code) => format!("feature {} (code {code})", index + 1),
        None => format!("feature {}", index + 1),
    }
}

/// Parses and checks a whole file; either every territory in it or the first error.
pub fn parse_geojson(text: &str) -> Result<Vec<Territory>, ImportError> {
    let collection: FeatureCollection = serde_json::from_str(text).map_err(|e| ImportError {
        at: format!("line {}, column {}", e.line(), e.column()),
        problem: format!("not a GeoJSON FeatureCollection: {e}"),
    })?;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(collection.features.len());
    for (index, feature) in collection.features.iter().enumerate() {
        let props = feature.properties.as_ref();
        let text_prop = |name: &str| props.and_then(|p| p.get(name)).and_then(|v| v.as_str());
        let code_text = text_prop("code");
        let fail = |problem: String| ImportError {
            at: at_feature(index, code_text),
            problem,
        };
        let code = Scope::parse(code_text.ok_or_else(|| fail("has no \"code\" property".into()))?)
            .map_err(|e| fail(e.to_string()))?;
        if let Some(first) = seen.insert(code.to_string(), index) {
            return Err(fail(format!("repeats the code of feature {}", first + 1)));
        }
        let level_text =
            text_prop("level").ok_or_else(|| fail("has no \"level\" property".into()))?;
        let level = Level::parse(level_text).ok_or_else(|| {
            fail(format!(
                "level {level_text:?} is not oblast, rayon, municipality or village"
            ))
        })?;
        let parent = match (level.parent(), text_prop("parent")) {
            (None, None) => None,
            (None, Some(_)) => return Err(fail("an oblast has no parent".into())),
            (Some(wanted), None) => {
                return Err(fail(format!(
                    "a {} needs a \"parent\" {}",
                    level.as_str(),
                    wanted.as_str()
                )));
            }
            (Some(_), Some(p)) => Some(Scope::parse(p).map_err(|e| fail(format!("parent: {e}")))?),
        };
        let name = |lang: &str| {
            let key = format!("name_{lang}");
            match text_prop(&key).map(str::trim) {
                Some(n) if !n.is_empty() => Ok(n.to_owned()),
                _ => Err(fail(format!("has no \"{key}\" name"))),
            }
        };
        let (name_ky, name_ru, name_en) = (name("ky")?, name("ru")?, name("en")?);
        let geometry = feature
            .geometry
            .as_ref()
            .ok_or_else(|| fail("has no geometry".into()))?;
        check_geometry(level, &geometry.value).map_err(fail)?;
        let geometry = serde_json::to_string(geometry).map_err(|e| fail(e.to_string()))?;
        out.push(Territory {
            code,
            level,
            parent,
            name_ky,
            name_ru,
            name_en,
            geometry,
        });
    }
    // Parents named in the file must be of the right level; parents not in the file are
    // checked against the database by the storage layer.
    let by_code: HashMap<&str, &Territory> = out.iter().map(|t| (t.code.as_str(), t)).collect();
    for (index, t) in out.iter().enumerate() {
        if let (Some(parent), Some(wanted)) = (&t.parent, t.level.parent())
            && let Some(p) = by_code.get(parent.as_str())
            && p.level != wanted
        {
            return Err(ImportError {
                at: at_feature(index, Some(t.code.as_str())),
                problem: format!(
                    "parent {parent} is a {}, not a {}",
                    p.level.as_str(),
                    wanted.as_str()
                ),
            });
        }
    }
    Ok(out)
}

fn check_geometry(level: Level, value: &GeometryValue) -> Result<(), String> {
    match (level, value) {
        (Level::Village, GeometryValue::Point { coordinates }) => check_position(coordinates),
        (Level::Village, other) => {
            Err(format!("a village is a Point, not a {}", other.type_name()))
        }
        (_, GeometryValue::Polygon { coordinates }) => check_polygon(coordinates),
        (_, GeometryValue::MultiPolygon { coordinates }) => {
            coordinates.iter().try_for_each(|p| check_polygon(p))
        }
        (level, other) => Err(format!(
            "a {} boundary is a Polygon or MultiPolygon, not a {}",
            level.as_str(),
            other.type_name()
        )),
    }
}

fn check_position(p: &Position) -> Result<(), String> {
    let c = p.as_slice();
    if c.len() < 2 {
        return Err("a position needs longitude and latitude".into());
    }
    let (lon, lat) = (c[0], c[1]);
    if !(lon.is_finite() && (-180.0..=180.0).contains(&lon)) {
        return Err(format!("longitude {lon} is outside -180..180"));
    }
    if !(lat.is_finite() && (-90.0..=90.0).contains(&lat)) {
        return Err(format!("latitude {lat} is outside -90..90"));
    }
    Ok(())
}

fn check_polygon(rings: &[Vec<Position>]) -> Result<(), String> {
    if rings.is_empty() {
        return Err("a polygon needs at least its outer ring".into());
    }
    for (i, ring) in rings.iter().enumerate() {
        if ring.len() < 4 {
            return Err(format!(
                "ring {} has {} positions; a closed ring needs at least 4",
                i + 1,
                ring.len()
            ));
        }
        if ring.first() != ring.last() {
            return Err(format!(
                "ring {} is not closed (its last position differs from its first)",
                i + 1
            ));
        }
        ring.iter().try_for_each(check_position)?;
    }
    Ok(())
}
