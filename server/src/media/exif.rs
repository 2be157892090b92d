//! Reading the few EXIF facts the server keeps: when and where a photo was taken, which way up,
//! and with what camera. Uses `kamadak-exif`; never fails.

use std::io::Cursor;

use ::exif::{DateTime, Exif, Field, In, Reader, Tag, Value};

use super::ExifFacts;

/// The EXIF facts of a JPEG or PNG (or any container `kamadak-exif` knows). Missing or garbled
/// EXIF gives all `None`; so does each implausible value on its own (a date of
/// `0000:00:00 00:00:00`, a latitude of 91°, an orientation of 9, ...). Parsing continues past
/// damaged entries and keeps what could be read.
pub fn read_exif(bytes: &[u8]) -> ExifFacts {
    let exif = match Reader::new()
        .continue_on_error(true)
        .read_from_container(&mut Cursor::new(bytes))
    {
        Ok(exif) => exif,
        Err(err) => match err.distill_partial_result(|_| {}) {
            Ok(exif) => exif,
            Err(_) => return ExifFacts::default(),
        },
    };
    facts(&exif)
}

fn facts(exif: &Exif) -> ExifFacts {
    let (taken_at, taken_at_offset) = taken_at(exif).unzip();
    let (lat, lon) = position(exif).unzip();
    ExifFacts {
        taken_at,
        taken_at_offset: taken_at_offset.flatten(),
        lat,
        lon,
        orientation: orientation(exif),
        camera: camera(exif),
    }
}

fn field(exif: &Exif, tag: Tag) -> Option<&Field> {
    exif.get_field(tag, In::PRIMARY)
}

/// The first string of an ASCII field, trimmed of NULs and spaces; `None` when empty.
fn ascii(exif: &Exif, tag: Tag) -> Option<&str> {
    match &field(exif, tag)?.value {
        Value::Ascii(strings) => {
            let s = std::str::from_utf8(strings.first()?).ok()?;
            let s = s.trim_matches(|c: char| c == '\0' || c.is_whitespace());
            (!s.is_empty()).then_some(s)
        }
        _ => None,
    }
}

/// `("YYYY-MM-DDTHH:MM:SS[+HH:MM]", offset)`: DateTimeOriginal with OffsetTimeOriginal, else
/// DateTime with OffsetTime.
fn taken_at(exif: &Exif) -> Option<(String, Option<String>)> {
    [
        (Tag::DateTimeOriginal, Tag::OffsetTimeOriginal),
        (Tag::DateTime, Tag::OffsetTime),
    ]
    .into_iter()
    .find_map(|(time_tag, offset_tag)| {
        let local = local_time(ascii(exif, time_tag)?)?;
        let offset = ascii(exif, offset_tag).and_then(utc_offset);
        let full = match &offset {
            Some(offset) => format!("{local}{offset}"),
            None => local,
        };
        Some((full, offset))
    })
}

/// EXIF `"YYYY:MM:DD HH:MM:SS"` as `"YYYY-MM-DDTHH:MM:SS"`, if it is a plausible date.
fn local_time(text: &str) -> Option<String> {
    let t = DateTime::from_ascii(text.as_bytes()).ok()?;
    let days_in_month = match t.month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if t.year % 4 == 0 && (t.year % 100 != 0 || t.year % 400 == 0) => 29,
        2 => 28,
        _ => return None,
    };
    let plausible = (1900..=9999).contains(&t.year)
        && (1..=days_in_month).contains(&t.day)
        && t.hour < 24
        && t.minute < 60
        && t.second <= 60;
    plausible.then(|| {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            t.year, t.month, t.day, t.hour, t.minute, t.second
        )
    })
}

/// EXIF `"+HH:MM"` / `"-HH:MM"` (checked), as is.
fn utc_offset(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let well_formed = b.len() == 6
        && (b[0] == b'+' || b[0] == b'-')
        && b[3] == b':'
        && [1, 2, 4, 5].iter().all(|&i| b[i].is_ascii_digit());
    if !well_formed {
        return None;
    }
    let hours = u32::from(b[1] - b'0') * 10 + u32::from(b[2] - b'0');
    let minutes = u32::from(b[4] - b'0') * 10 + u32::from(b[5] - b'0');
    (hours <= 14 && minutes < 60).then(|| text.to_owned())
}

/// Decimal degrees of both coordinates, or `None` unless both are present and sane.
fn position(exif: &Exif) -> Option<(f64, f64)> {
    let lat = coordinate(exif, Tag::GPSLatitude, Tag::GPSLatitudeRef, 'N', 'S', 90.0)?;
    let lon = coordinate(
        exif,
        Tag::GPSLongitude,
        Tag::GPSLongitudeRef,
        'E',
        'W',
        180.0,
    )?;
    // Some phones write 0/0 when they had no fix; nobody monitors a facility at null island.
    if lat == 0.0 && lon == 0.0 {
        return None;
    }
    Some((lat, lon))
}

/// Degrees, minutes, seconds (rationals; minutes and seconds may be missing) and a hemisphere
/// reference, as signed decimal degrees within ±`max`.
fn coordinate(
    exif: &Exif,
    value_tag: Tag,
    ref_tag: Tag,
    positive: char,
    negative: char,
    max: f64,
) -> Option<f64> {
    let parts: Vec<f64> = match &field(exif, value_tag)?.value {
        Value::Rational(v) => v
            .iter()
            .map(|r| (r.denom != 0).then(|| r.to_f64()))
            .collect::<Option<_>>()?,
        Value::SRational(v) => v
            .iter()
            .map(|r| (r.denom != 0).then(|| r.to_f64()))
            .collect::<Option<_>>()?,
        _ => return None,
    };
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    if parts.iter().any(|p| !p.is_finite() || *p < 0.0) {
        return None;
    }
    // Minutes and seconds must be below 60 (a fractional last part is fine).
    if parts.iter().skip(1).any(|p| *p >= 60.0) {
        return None;
    }
    let magnitude = parts
        .iter()
        .zip([1.0, 60.0, 3600.0])
        .map(|(p, d)| p / d)
        .sum::<f64>();
    let sign = match ascii(exif, ref_tag)?.chars().next()?.to_ascii_uppercase() {
        c if c == positive => 1.0,
        c if c == negative => -1.0,
        _ => return None,
    };
    let degrees = sign * magnitude;
    (degrees.is_finite() && degrees.abs() <= max).then_some(degrees)
}

fn orientation(exif: &Exif) -> Option<u16> {
    let value = field(exif, Tag::Orientation)?.value.get_uint(0)?;
    (1..=8).contains(&value).then_some(value as u16)
}

/// `"Make Model"`, or just the model when it already names the make (`"Canon EOS 80D"`).
fn camera(exif: &Exif) -> Option<String> {
    let make = ascii(exif, Tag::Make).map(clean);
    let model = ascii(exif, Tag::Model).map(clean);
    let camera = match (make, model) {
        (Some(make), Some(model)) => {
            if model.to_lowercase().starts_with(&make.to_lowercase()) {
                model
            } else {
                format!("{make} {model}")
            }
        }
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => return None,
    };
    (!camera.is_empty()).then_some(camera)
}

/// Without control characters, and at most 64 characters.
fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect::<String>()
        .trim()
        .to_owned()
}
