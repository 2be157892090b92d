//! Keeping each visit's flags up to date: after a push merges visits or photo records, after a
//! photo's bytes arrive, and all at once with `jmet flags rebuild`. Flags are derived from merged
//! state only, so recomputing them any number of times gives the same flags.

use std::collections::HashMap;

use geo::{MultiPolygon, Point};
use sync_protocol::Scope;

use super::gps::{self, Fix, PhotoFacts, VisitFacts};
use crate::storage::{Storage, StorageError};

/// A record a push changed: collection, record id, scope.
pub type Touched = (String, String, String);

pub fn boundary(geojson_text: &str) -> Option<MultiPolygon<f64>> {
    let geometry: geojson::Geometry = geojson_text.parse().ok()?;
    match geo::Geometry::<f64>::try_from(geometry).ok()? {
        geo::Geometry::Polygon(p) => Some(MultiPolygon(vec![p])),
        geo::Geometry::MultiPolygon(m) => Some(m),
        _ => None,
    }
}

/// Everything a merged push changed that evidence depends on.
pub async fn after_push(
    storage: &Storage,
    touched: &[Touched],
    now_ms: i64,
) -> Result<(), StorageError> {
    let photos: Vec<String> = touched
        .iter()
        .filter(|(c, _, _)| c == "photos")
        .map(|(_, id, _)| id.clone())
        .collect();
    let mut visits: Vec<String> = touched
        .iter()
        .filter(|(c, _, _)| c == "visits")
        .map(|(_, id, _)| id.clone())
        .collect();
    if !photos.is_empty() {
        visits.extend(storage.link_photos(&photos).await?);
    }
    visits.sort();
    visits.dedup();
    recompute(storage, &visits, now_ms).await
}

/// Recomputes the flags of these visits from their merged state.
pub async fn recompute(
    storage: &Storage,
    visit_ids: &[String],
    now_ms: i64,
) -> Result<(), StorageError> {
    if visit_ids.is_empty() {
        return Ok(());
    }
    let merged = storage.merged_records("visits", visit_ids).await?;
    // Read for all the visits at once: a run of the OpenRosa projector takes hundreds.
    let received = storage.first_received_many(visit_ids).await?;
    let mut photos_of = storage.photos_of_visits(visit_ids).await?;
    let mut computed = Vec::with_capacity(visit_ids.len());
    // Visits of a push share a municipality and a few facilities: read and parse those once.
    let mut places: HashMap<(String, Option<String>), crate::storage::VisitPlace> = HashMap::new();
    let mut boundaries: HashMap<String, Option<MultiPolygon<f64>>> = HashMap::new();
    let mut limits: HashMap<Option<String>, gps::Thresholds> = HashMap::new();
    for id in visit_ids {
        let Some(visit) = merged.get(id) else {
            continue;
        };
        let scope = Scope::parse(&visit.scope).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        if visit.deleted {
            computed.push((id.clone(), scope, Vec::new()));
            continue;
        }
        let text = |k: &str| {
            visit
                .fields
                .get(k)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let facts = VisitFacts {
            gps: visit.fields.get("gps").and_then(Fix::from_json),
            captured_at: text("captured_at"),
            received_at_ms: received.get(id).copied().unwrap_or(now_ms),
        };
        let place_key = (visit.scope.clone(), text("facility"));
        if !places.contains_key(&place_key) {
            let place = storage
                .visit_place(&visit.scope, place_key.1.as_deref())
                .await?;
            places.insert(place_key.clone(), place);
        }
        let place = &places[&place_key];
        let kind = place.facility.as_ref().map(|(_, _, kind)| kind.clone());
        if !limits.contains_key(&kind) {
            limits.insert(kind.clone(), storage.thresholds(kind.as_deref()).await?);
        }
        let thresholds = limits[&kind];
        let facility = place
            .facility
            .as_ref()
            .map(|(lat, lon, _)| Point::new(*lon, *lat));
        let boundary = boundaries
            .entry(visit.scope.clone())
            .or_insert_with(|| place.boundary.as_deref().and_then(boundary));
        let mut photos = Vec::new();
        for (photo_id, photo) in photos_of.remove(id).unwrap_or_default() {
            let ptext = |k: &str| {
                photo
                    .fields
                    .get(k)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            let mut facts = PhotoFacts {
                photo_id,
                reported: photo.fields.get("gps").and_then(Fix::from_json),
                captured_at: ptext("captured_at"),
                ..Default::default()
            };
            if let Some(sha) = ptext("sha256")
                && let Some(blob) = storage.photo_blob(&sha).await?
            {
                let exif = &blob.exif;
                facts.exif_lat = exif.get("lat").and_then(|v| v.as_f64());
                facts.exif_lon = exif.get("lon").and_then(|v| v.as_f64());
                facts.exif_time = exif
                    .get("taken_at")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned);
                facts.exif_offset = exif
                    .get("taken_at_offset")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned);
            }
            photos.push(facts);
        }
        let flags = gps::check_visit(&facts, facility, boundary.as_ref(), &photos, &thresholds);
        computed.push((id.clone(), scope, flags));
    }
    storage.replace_flags(&computed, now_ms).await
}

/// Recomputes every visit's flags (after changing thresholds, or to check the projection).
pub async fn rebuild(storage: &Storage, now_ms: i64) -> Result<usize, StorageError> {
    let ids = storage.all_visit_ids().await?;
    for chunk in ids.chunks(200) {
        recompute(storage, chunk, now_ms).await?;
    }
    Ok(ids.len())
}
