//! GPS and time checks of a visit and its photos, as pure functions over what is known of them.
//! Each failed check is a flag with the measured value and the threshold, for the supervisor;
//! flags never block or drop data.

use geo::{Contains, Distance, Haversine, HaversineClosestPoint, MultiPolygon, Point};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Limits per facility kind (a road is long; a water point is a spot).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Thresholds {
    /// Farthest the reported position may be from the facility.
    pub max_distance_m: f64,
    /// Worst accuracy the phone may report.
    pub max_accuracy_m: f64,
    /// Farthest a photo's EXIF position may be from the reported one.
    pub max_photo_distance_m: f64,
    /// Largest gap between a photo's EXIF time and the capture time.
    pub max_photo_age_s: f64,
}

/// A position as phones report it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fix {
    pub lat: f64,
    pub lon: f64,
    pub acc: Option<f64>,
}

impl Fix {
    /// From the `gps` field's JSON (`{"lat", "lon", "acc"?}`); anything else is no fix.
    pub fn from_json(value: &serde_json::Value) -> Option<Fix> {
        let lat = value.get("lat")?.as_f64()?;
        let lon = value.get("lon")?.as_f64()?;
        let ok = lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0;
        ok.then(|| Fix {
            lat,
            lon,
            acc: value.get("acc").and_then(|a| a.as_f64()),
        })
    }

    fn point(self) -> Point<f64> {
        Point::new(self.lon, self.lat)
    }
}

/// What the checks need of a visit.
#[derive(Debug, Clone, Default)]
pub struct VisitFacts {
    pub gps: Option<Fix>,
    /// `captured_at` as sent (RFC 3339).
    pub captured_at: Option<String>,
    /// When the server first received the visit.
    pub received_at_ms: i64,
}

/// What the checks need of one photo of the visit.
#[derive(Debug, Clone, Default)]
pub struct PhotoFacts {
    pub photo_id: String,
    /// The photo record's own position and time, when the phone sent them.
    pub reported: Option<Fix>,
    pub captured_at: Option<String>,
    /// From the image's EXIF, once its bytes arrived.
    pub exif_lat: Option<f64>,
    pub exif_lon: Option<f64>,
    /// `YYYY-MM-DDTHH:MM:SS` camera time, with its offset when the camera wrote one.
    pub exif_time: Option<String>,
    pub exif_offset: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagKind {
    NoPosition,
    LowAccuracy,
    OutsideBoundary,
    FarFromFacility,
    PhotoPositionMismatch,
    PhotoTimeMismatch,
    ImplausibleCaptureTime,
}

impl FlagKind {
    pub const ALL: [FlagKind; 7] = [
        FlagKind::NoPosition,
        FlagKind::LowAccuracy,
        FlagKind::OutsideBoundary,
        FlagKind::FarFromFacility,
        FlagKind::PhotoPositionMismatch,
        FlagKind::PhotoTimeMismatch,
        FlagKind::ImplausibleCaptureTime,
    ];

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// This kind's bit in a submission's set of flag kinds (the review queue filters on it).
    pub fn bit(self) -> i64 {
        1 << Self::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }

    /// The set of kinds named, as bits; unknown names add nothing.
    pub fn bits<'a>(kinds: impl IntoIterator<Item = &'a str>) -> i64 {
        kinds
            .into_iter()
            .filter_map(Self::parse)
            .fold(0, |acc, k| acc | k.bit())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FlagKind::NoPosition => "no_position",
            FlagKind::LowAccuracy => "low_accuracy",
            FlagKind::OutsideBoundary => "outside_boundary",
            FlagKind::FarFromFacility => "far_from_facility",
            FlagKind::PhotoPositionMismatch => "photo_position_mismatch",
            FlagKind::PhotoTimeMismatch => "photo_time_mismatch",
            FlagKind::ImplausibleCaptureTime => "implausible_capture_time",
        }
    }
}

/// One failed check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flag {
    pub kind: FlagKind,
    /// The photo a photo flag is about; empty for the visit itself.
    pub subject: String,
    pub measured: Option<f64>,
    pub threshold: Option<f64>,
    pub unit: &'static str,
    pub message: String,
}

fn flag(
    kind: FlagKind,
    subject: &str,
    measured: Option<f64>,
    threshold: Option<f64>,
    unit: &'static str,
    message: String,
) -> Flag {
    Flag {
        kind,
        subject: subject.to_owned(),
        measured: measured.map(|m| (m * 10.0).round() / 10.0),
        threshold,
        unit,
        message,
    }
}

/// Metres from `p` to the nearest point of the boundary; zero inside.
fn distance_outside(boundary: &MultiPolygon<f64>, p: Point<f64>) -> f64 {
    if boundary.contains(&p) {
        return 0.0;
    }
    let mut best = f64::INFINITY;
    for polygon in boundary {
        let closest = polygon.exterior().haversine_closest_point(&p);
        if let geo::Closest::SinglePoint(c) | geo::Closest::Intersection(c) = closest {
            best = best.min(Haversine.distance(p, c));
        }
    }
    best
}

fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// EXIF time is the camera's local time; without an offset of its own it is read in the offset
/// of the capture time, since the phone and its camera share a clock.
fn exif_instant(time: &str, offset: Option<&str>, fallback: UtcOffset) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let local = PrimitiveDateTime::parse(time.get(..19)?, &format).ok()?;
    let offset = offset
        .and_then(|o| {
            let f =
                time::macros::format_description!("[offset_hour sign:mandatory]:[offset_minute]");
            UtcOffset::parse(o, &f).ok()
        })
        .unwrap_or(fallback);
    Some(local.assume_offset(offset))
}

/// Every check of one visit. `facility` is the visited facility's position; `boundary` the
/// municipality's.
pub fn check_visit(
    visit: &VisitFacts,
    facility: Option<Point<f64>>,
    boundary: Option<&MultiPolygon<f64>>,
    photos: &[PhotoFacts],
    t: &Thresholds,
) -> Vec<Flag> {
    let mut flags = Vec::new();
    match visit.gps {
        None => flags.push(flag(
            FlagKind::NoPosition,
            "",
            None,
            None,
            "",
            "the visit has no reported position".into(),
        )),
        Some(fix) => {
            if let Some(acc) = fix.acc
                && acc > t.max_accuracy_m
            {
                flags.push(flag(
                    FlagKind::LowAccuracy,
                    "",
                    Some(acc),
                    Some(t.max_accuracy_m),
                    "m",
                    format!(
                        "the phone reported an accuracy of {acc:.0} m (at most {:.0} m expected)",
                        t.max_accuracy_m
                    ),
                ));
            }
            if let Some(boundary) = boundary {
                let outside = distance_outside(boundary, fix.point());
                if outside > 0.0 {
                    flags.push(flag(
                        FlagKind::OutsideBoundary,
                        "",
                        Some(outside),
                        Some(0.0),
                        "m",
                        format!(
                            "the reported position is {:.0} m outside the municipality",
                            outside
                        ),
                    ));
                }
            }
            if let Some(facility) = facility {
                let d = Haversine.distance(fix.point(), facility);
                if d > t.max_distance_m {
                    flags.push(flag(
                        FlagKind::FarFromFacility,
                        "",
                        Some(d),
                        Some(t.max_distance_m),
                        "m",
                        format!(
                            "the reported position is {:.0} m from the facility (at most {:.0} m expected)",
                            d, t.max_distance_m
                        ),
                    ));
                }
            }
        }
    }
    let captured = visit.captured_at.as_deref().and_then(parse_time);
    if let Some(captured) = captured {
        let received =
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(visit.received_at_ms) * 1_000_000)
                .ok();
        // A capture after the server received it, or before monitoring could have begun.
        let ahead_s = received.map(|r| (captured - r).as_seconds_f64());
        if ahead_s.is_some_and(|s| s > 3600.0) || captured.year() < 2015 {
            flags.push(flag(
                FlagKind::ImplausibleCaptureTime,
                "",
                ahead_s.filter(|s| *s > 0.0),
                Some(3600.0),
                "s",
                format!(
                    "the capture time {} is later than the server received the visit, or implausibly early",
                    visit.captured_at.as_deref().unwrap_or("")
                ),
            ));
        }
    }
    for photo in photos {
        let reported = photo.reported.or(visit.gps);
        if let (Some(lat), Some(lon), Some(reported)) = (photo.exif_lat, photo.exif_lon, reported) {
            let d = Haversine.distance(Point::new(lon, lat), reported.point());
            if d > t.max_photo_distance_m {
                flags.push(flag(
                    FlagKind::PhotoPositionMismatch,
                    &photo.photo_id,
                    Some(d),
                    Some(t.max_photo_distance_m),
                    "m",
                    format!(
                        "the photo was taken {:.0} m from the reported position (at most {:.0} m expected)",
                        d, t.max_photo_distance_m
                    ),
                ));
            }
        }
        let capture = photo
            .captured_at
            .as_deref()
            .and_then(parse_time)
            .or(captured);
        if let (Some(exif), Some(capture)) = (photo.exif_time.as_deref(), capture)
            && let Some(taken) = exif_instant(exif, photo.exif_offset.as_deref(), capture.offset())
        {
            let gap = (capture - taken).as_seconds_f64().abs();
            if gap > t.max_photo_age_s {
                flags.push(flag(
                    FlagKind::PhotoTimeMismatch,
                    &photo.photo_id,
                    Some(gap),
                    Some(t.max_photo_age_s),
                    "s",
                    format!(
                        "the photo's camera time is {} away from the capture time (at most {} expected)",
                        human_span(gap),
                        human_span(t.max_photo_age_s)
                    ),
                ));
            }
        }
    }
    flags
}

fn human_span(seconds: f64) -> String {
    if seconds >= 2.0 * 86_400.0 {
        format!("{:.0} days", seconds / 86_400.0)
    } else if seconds >= 2.0 * 3600.0 {
        format!("{:.0} hours", seconds / 3600.0)
    } else {
        format!("{seconds:.0} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds {
        max_distance_m: 500.0,
        max_accuracy_m: 50.0,
        max_photo_distance_m: 500.0,
        max_photo_age_s: 86_400.0,
    };

    #[test]
    fn the_exif_time_without_offset_is_read_in_the_capture_offset() {
        let photo = PhotoFacts {
            photo_id: "p".into(),
            exif_time: Some("2025-05-04T10:00:00".into()),
            ..Default::default()
        };
        let visit = VisitFacts {
            gps: None,
            captured_at: Some("2025-05-04T10:20:00+06:00".into()),
            received_at_ms: 1_800_000_000_000,
        };
        let flags = check_visit(&visit, None, None, std::slice::from_ref(&photo), &T);
        assert!(flags.iter().all(|f| f.kind != FlagKind::PhotoTimeMismatch));
        let late = PhotoFacts {
            exif_time: Some("2025-04-01T10:00:00".into()),
            ..photo
        };
        let flags = check_visit(&visit, None, None, &[late], &T);
        let f = flags
            .iter()
            .find(|f| f.kind == FlagKind::PhotoTimeMismatch)
            .unwrap();
        assert_eq!(f.measured, Some(33.0 * 86_400.0 + 1200.0));
        assert_eq!(f.subject, "p");
    }
}
