//! Offline map for the supervisor's review of a field visit.
//!
//! The server draws it as an inline SVG string so the review page needs no tile
//! server or internet connection. Coordinates are WGS84 degrees: `Point` x is
//! longitude, y is latitude.

use geo::{Coord, MultiPolygon, Point};

pub struct Marker {
    pub at: Point<f64>,
    pub label: String,
}

pub struct MapInput<'a> {
    pub boundary: Option<&'a MultiPolygon<f64>>,
    pub facility: Option<Marker>,
    pub reported: Option<Marker>,
    /// Radius around `reported`, in metres.
    pub accuracy_m: Option<f64>,
    pub photos: Vec<Marker>,
}

/// Metres per degree of latitude (and of longitude at the equator).
const M_PER_DEG: f64 = 111_320.0;
/// Share of each side left empty so markers on the edge of the content are not clipped.
const MARGIN: f64 = 0.06;
/// Smallest side of the window; a lone point would otherwise give a zero-size box.
const MIN_SPAN_M: f64 = 1_000.0;
/// Half the Earth's circumference: anything larger is not a fix, and capping keeps the arithmetic finite.
const MAX_ACCURACY_M: f64 = 20_000_000.0;

/// None when there is nothing with a position to draw.
pub fn render(input: &MapInput, width_px: u32, height_px: u32) -> Option<String> {
    let (w, h) = (f64::from(width_px.max(1)), f64::from(height_px.max(1)));
    let rings = input.boundary.map(valid_rings).unwrap_or_default();
    let facility = input.facility.as_ref().filter(|m| valid(m.at.0));
    let reported = input.reported.as_ref().filter(|m| valid(m.at.0));
    let photos: Vec<&Marker> = input.photos.iter().filter(|m| valid(m.at.0)).collect();
    let accuracy_m = reported
        .and(input.accuracy_m)
        .filter(|m| m.is_finite() && *m > 0.0)
        .map(|m| m.min(MAX_ACCURACY_M));

    let points: Vec<Coord<f64>> = rings
        .iter()
        .flatten()
        .copied()
        .chain(
            facility
                .into_iter()
                .chain(reported)
                .chain(photos.iter().copied())
                .map(|m| m.at.0),
        )
        .collect();
    let circle = reported
        .zip(accuracy_m)
        .map(|(m, r)| (m.at.0, r / M_PER_DEG));
    let view = View::fit(&points, circle, w, h)?;

    let (wn, hn) = (num(w), num(h));
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {wn} {hn}" width="{wn}" height="{hn}" role="img" aria-label="{}">"#,
        escape(&description(
            !rings.is_empty(),
            facility,
            reported,
            photos.len()
        ))
    );

    let d = boundary_path(&rings, &view);
    if !d.is_empty() {
        svg.push_str(&format!(
            r##"<path class="map-boundary" d="{d}" fill-rule="evenodd" fill="#2f6f4f" fill-opacity="0.08" stroke="#2f6f4f" stroke-width="1.5" stroke-linejoin="round"/>"##
        ));
    }
    if let (Some(m), Some(r)) = (reported, accuracy_m) {
        let (x, y) = view.px(m.at.0);
        svg.push_str(&format!(
            r##"<circle class="map-accuracy" cx="{}" cy="{}" r="{}" fill="#d73a49" fill-opacity="0.12" stroke="#d73a49" stroke-opacity="0.5" stroke-width="1"><title>{}</title></circle>"##,
            num(x),
            num(y),
            num(view.metres_to_px(r)),
            escape(&format!("Accuracy ±{}", distance_label(r)))
        ));
    }
    if let (Some(f), Some(r)) = (facility, reported) {
        let ((x1, y1), (x2, y2)) = (view.px(f.at.0), view.px(r.at.0));
        svg.push_str(&format!(
            r##"<line class="map-link" x1="{}" y1="{}" x2="{}" y2="{}" stroke="#555" stroke-width="1.5" stroke-dasharray="4 3"/>"##,
            num(x1),
            num(y1),
            num(x2),
            num(y2)
        ));
    }
    for p in &photos {
        let (x, y) = view.px(p.at.0);
        svg.push_str(&format!(
            r##"<path class="map-photo" d="M{} {}L{} {} {} {}Z" fill="#f59e0b" stroke="#fff" stroke-width="1"><title>{}</title></path>"##,
            num(x),
            num(y - 5.0),
            num(x + 4.5),
            num(y + 3.0),
            num(x - 4.5),
            num(y + 3.0),
            escape(&p.label)
        ));
    }
    if let Some(f) = facility {
        let (x, y) = view.px(f.at.0);
        svg.push_str(&format!(
            r##"<rect class="map-facility" x="{}" y="{}" width="10" height="10" fill="#1f6feb" stroke="#fff" stroke-width="1.5"><title>{}</title></rect>"##,
            num(x - 5.0),
            num(y - 5.0),
            escape(&f.label)
        ));
    }
    // Drawn last so the reported position stays visible when it sits on the facility.
    if let Some(r) = reported {
        let (x, y) = view.px(r.at.0);
        svg.push_str(&format!(
            r##"<circle class="map-reported" cx="{}" cy="{}" r="5" fill="#d73a49" stroke="#fff" stroke-width="1.5"><title>{}</title></circle>"##,
            num(x),
            num(y),
            escape(&r.label)
        ));
    }
    svg.push_str(&scale_bar(&view));
    svg.push_str("</svg>");
    Some(svg)
}

/// A facility on the open panel's map, coloured by its latest monitored state.
pub struct StateMarker {
    pub at: Point<f64>,
    pub label: String,
    /// CSS class and fill: `good`, `warn`, `bad` or `none` (no approved visit yet).
    pub state: &'static str,
    /// Where the marker links to (the facility's row on the same page).
    pub href: String,
}

fn state_fill(state: &str) -> &'static str {
    match state {
        "good" => "#1a7f37",
        "warn" => "#bf8700",
        "bad" => "#cf222e",
        _ => "#8c959f",
    }
}

/// The municipality with every facility as a coloured dot; None when nothing has a position.
pub fn render_facilities(
    boundary: Option<&MultiPolygon<f64>>,
    markers: &[StateMarker],
    title: &str,
    width_px: u32,
    height_px: u32,
) -> Option<String> {
    let (w, h) = (f64::from(width_px.max(1)), f64::from(height_px.max(1)));
    let rings = boundary.map(valid_rings).unwrap_or_default();
    let markers: Vec<&StateMarker> = markers.iter().filter(|m| valid(m.at.0)).collect();
    let points: Vec<Coord<f64>> = rings
        .iter()
        .flatten()
        .copied()
        .chain(markers.iter().map(|m| m.at.0))
        .collect();
    let view = View::fit(&points, None, w, h)?;
    let (wn, hn) = (num(w), num(h));
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {wn} {hn}" width="100%" role="img" aria-label="{}" class="facility-map">"#,
        escape(title)
    );
    let d = boundary_path(&rings, &view);
    if !d.is_empty() {
        svg.push_str(&format!(
            r##"<path class="map-boundary" d="{d}" fill-rule="evenodd" fill="#2f6f4f" fill-opacity="0.08" stroke="#2f6f4f" stroke-width="1.5" stroke-linejoin="round"/>"##
        ));
    }
    for m in &markers {
        let (x, y) = view.px(m.at.0);
        svg.push_str(&format!(
            r##"<a href="{}"><circle class="map-facility state-{}" cx="{}" cy="{}" r="7" fill="{}" stroke="#fff" stroke-width="2"><title>{}</title></circle></a>"##,
            escape(&m.href),
            m.state,
            num(x),
            num(y),
            state_fill(m.state),
            escape(&m.label)
        ));
    }
    svg.push_str(&scale_bar(&view));
    svg.push_str("</svg>");
    Some(svg)
}

/// Human-readable distance for the scale bar: "500 m", "2 km", "1.5 km".
pub fn distance_label(m: f64) -> String {
    if !m.is_finite() {
        return String::new();
    }
    let m = m.round();
    if m.abs() < 1_000.0 {
        return format!("{} m", num(m));
    }
    let km = m / 1_000.0;
    if km.fract() == 0.0 {
        format!("{km} km")
    } else {
        format!("{km:.1} km")
    }
}

/// Fitted equirectangular projection from degrees to viewBox pixels.
struct View {
    /// cos(mean latitude): shrinks longitude so a metre east is as long as a metre north.
    k: f64,
    /// Centre of the content, in projected units (degrees of latitude).
    cx: f64,
    cy: f64,
    /// Pixels per projected unit.
    scale: f64,
    w: f64,
    h: f64,
}

impl View {
    /// `circle` is a centre and a radius in degrees of latitude.
    fn fit(
        points: &[Coord<f64>],
        circle: Option<(Coord<f64>, f64)>,
        w: f64,
        h: f64,
    ) -> Option<View> {
        let first = points.first()?;
        let (lat_min, lat_max) = points
            .iter()
            .fold((first.y, first.y), |(lo, hi), p| (lo.min(p.y), hi.max(p.y)));
        // Floor keeps the scale finite for content at a pole.
        let k = ((lat_min + lat_max) / 2.0).to_radians().cos().max(1e-3);

        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        let mut grow = |x: f64, y: f64| {
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        };
        for p in points {
            grow(p.x * k, p.y);
        }
        if let Some((c, r)) = circle {
            grow(c.x * k - r, c.y - r);
            grow(c.x * k + r, c.y + r);
        }

        let min_span = MIN_SPAN_M / M_PER_DEG;
        let fill = 1.0 - 2.0 * MARGIN;
        let scale = (w * fill / (x1 - x0).max(min_span)).min(h * fill / (y1 - y0).max(min_span));
        Some(View {
            k,
            cx: x0 / 2.0 + x1 / 2.0,
            cy: y0 / 2.0 + y1 / 2.0,
            scale,
            w,
            h,
        })
    }

    fn px(&self, c: Coord<f64>) -> (f64, f64) {
        (
            self.w / 2.0 + (c.x * self.k - self.cx) * self.scale,
            // SVG y grows downwards, latitude upwards.
            self.h / 2.0 - (c.y - self.cy) * self.scale,
        )
    }

    fn metres_to_px(&self, m: f64) -> f64 {
        m / M_PER_DEG * self.scale
    }
}

/// Out-of-range values are as unusable as NaN: they would wreck cos(latitude) and the fit.
fn valid(c: Coord<f64>) -> bool {
    c.x.is_finite() && c.y.is_finite() && c.x.abs() <= 180.0 && c.y.abs() <= 90.0
}

/// Every drawable ring, exteriors and holes alike: the even-odd fill rule turns holes
/// back into holes, so the polygon structure need not be kept.
fn valid_rings(boundary: &MultiPolygon<f64>) -> Vec<Vec<Coord<f64>>> {
    let clean = |ring: &geo::LineString<f64>| -> Option<Vec<Coord<f64>>> {
        let pts: Vec<Coord<f64>> = ring.0.iter().copied().filter(|c| valid(*c)).collect();
        (pts.len() >= 3).then_some(pts)
    };
    let mut rings = Vec::new();
    for poly in &boundary.0 {
        // A hole without its shell would be drawn as filled land.
        let Some(exterior) = clean(poly.exterior()) else {
            continue;
        };
        rings.push(exterior);
        rings.extend(poly.interiors().iter().filter_map(clean));
    }
    rings
}

fn boundary_path(rings: &[Vec<Coord<f64>>], view: &View) -> String {
    let mut d = String::new();
    for ring in rings {
        let mut pts: Vec<String> = Vec::with_capacity(ring.len());
        for &c in ring {
            let (x, y) = view.px(c);
            let p = format!("{} {}", num(x), num(y));
            // Detailed boundaries have many vertices within the 0.1 px rounding; they add bytes, not shape.
            if pts.last() != Some(&p) {
                pts.push(p);
            }
        }
        // `Z` closes the ring, so the repeated first vertex is redundant.
        if pts.len() > 1 && pts.first() == pts.last() {
            pts.pop();
        }
        if pts.len() < 3 {
            continue; // Smaller than a pixel at this zoom.
        }
        d.push_str(&format!("M{}L{}Z", pts[0], pts[1..].join(" ")));
    }
    d
}

fn scale_bar(view: &View) -> String {
    let px_per_m = view.metres_to_px(1.0);
    let metres = round_distance(view.w / 4.0 / px_per_m);
    let (x0, x1, y) = (
        view.w * MARGIN,
        view.w * MARGIN + metres * px_per_m,
        view.h - 6.0,
    );
    format!(
        r##"<g class="map-scale"><path d="M{x0} {t}V{y}H{x1}V{t}" fill="none" stroke="#333" stroke-width="1.5"/><text x="{x0}" y="{ty}" font-family="sans-serif" font-size="11" fill="#333" stroke="#fff" stroke-width="3" paint-order="stroke">{label}</text></g>"##,
        x0 = num(x0),
        x1 = num(x1),
        y = num(y),
        t = num(y - 4.0),
        ty = num(y - 6.0),
        label = distance_label(metres)
    )
}

/// The 1-2-5 step (10 m, 20 m, 50 m, 100 m, …) nearest to `target_m` by ratio, at least 10 m.
fn round_distance(target_m: f64) -> f64 {
    let mut best = 10.0;
    if !target_m.is_finite() {
        return best;
    }
    // By ratio, not difference, so 7 km rounds to 5 km rather than to 10 km.
    let off = |d: f64| (d / target_m).ln().abs();
    let mut decade = 10.0;
    while decade <= target_m * 10.0 {
        for step in [1.0, 2.0, 5.0] {
            if off(decade * step) < off(best) {
                best = decade * step;
            }
        }
        decade *= 10.0;
    }
    best
}

fn description(
    boundary: bool,
    facility: Option<&Marker>,
    reported: Option<&Marker>,
    photos: usize,
) -> String {
    let mut parts = Vec::new();
    if boundary {
        parts.push("municipality boundary".to_string());
    }
    if facility.is_some() {
        parts.push("facility".to_string());
    }
    if reported.is_some() {
        parts.push("reported position".to_string());
    }
    match photos {
        0 => {}
        1 => parts.push("1 photo".to_string()),
        n => parts.push(format!("{n} photos")),
    }
    format!("Visit map: {}", parts.join(", "))
}

/// One decimal is far below a screen pixel and keeps large boundaries small.
pub(crate) fn num(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    // Avoids "-0", which is valid but makes equal outputs differ.
    if r == 0.0 {
        "0".to_string()
    } else {
        r.to_string()
    }
}

pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML forbids most control characters; one in a label would break the whole image.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{LineString, Polygon, point};

    fn marker(lon: f64, lat: f64, label: &str) -> Marker {
        Marker {
            at: point!(x: lon, y: lat),
            label: label.to_string(),
        }
    }

    fn empty() -> MapInput<'static> {
        MapInput {
            boundary: None,
            facility: None,
            reported: None,
            accuracy_m: None,
            photos: Vec::new(),
        }
    }

    fn square(lon: f64, lat: f64, side: f64) -> LineString<f64> {
        LineString::from(vec![
            (lon, lat),
            (lon + side, lat),
            (lon + side, lat + side),
            (lon, lat + side),
            (lon, lat),
        ])
    }

    /// The tag of the first element with `class`.
    fn element<'s>(svg: &'s str, class: &str) -> &'s str {
        let at = svg
            .find(&format!(r#"class="{class}""#))
            .unwrap_or_else(|| panic!("no {class} in {svg}"));
        let start = svg[..at].rfind('<').expect("tag start");
        let end = at + svg[at..].find('>').expect("tag end");
        &svg[start..=end]
    }

    fn attr(svg: &str, class: &str, name: &str) -> f64 {
        let tag = element(svg, class);
        let key = format!(r#" {name}=""#);
        let from = tag
            .find(&key)
            .unwrap_or_else(|| panic!("no {name} in {tag}"))
            + key.len();
        let to = from + tag[from..].find('"').expect("closing quote");
        tag[from..to].parse().expect("number")
    }

    // Bishkek area.
    const LON: f64 = 74.6;
    const LAT: f64 = 42.87;

    #[test]
    fn projected_points_stay_inside_the_view_box() {
        let pts = [
            Coord { x: LON, y: LAT },
            Coord {
                x: LON + 0.3,
                y: LAT - 0.1,
            },
            Coord {
                x: LON - 0.05,
                y: LAT + 0.2,
            },
        ];
        let (w, h) = (400.0, 300.0);
        let view = View::fit(&pts, None, w, h).expect("view");
        for p in pts {
            let (x, y) = view.px(p);
            assert!(
                (w * MARGIN - 0.01..=w * (1.0 - MARGIN) + 0.01).contains(&x),
                "x {x}"
            );
            assert!(
                (h * MARGIN - 0.01..=h * (1.0 - MARGIN) + 0.01).contains(&y),
                "y {y}"
            );
        }

        let input = MapInput {
            facility: Some(marker(LON, LAT, "School")),
            reported: Some(marker(LON + 0.3, LAT - 0.1, "Phone")),
            ..empty()
        };
        let svg = render(&input, 400, 300).expect("svg");
        let (cx, cy) = (
            attr(&svg, "map-reported", "cx"),
            attr(&svg, "map-reported", "cy"),
        );
        assert!((0.0..=400.0).contains(&cx) && (0.0..=300.0).contains(&cy));
    }

    #[test]
    fn facility_and_reported_markers_have_escaped_titles() {
        let input = MapInput {
            facility: Some(marker(LON, LAT, r#"School "No 5" & <Gym>"#)),
            reported: Some(marker(LON + 0.001, LAT, "Aibek's phone")),
            ..empty()
        };
        let svg = render(&input, 400, 300).expect("svg");
        assert!(svg.starts_with(r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 300" width="400" height="300" role="img" aria-label=""#));
        assert!(svg.contains(r#"class="map-facility""#));
        assert!(svg.contains("<title>School &quot;No 5&quot; &amp; &lt;Gym&gt;</title>"));
        assert!(svg.contains(r#"class="map-reported""#));
        assert!(svg.contains("<title>Aibek&apos;s phone</title>"));
        assert!(svg.contains(r#"class="map-link""#));
        assert_eq!(render(&input, 400, 300), Some(svg), "deterministic");
    }

    #[test]
    fn boundary_with_hole_is_one_path_with_two_subpaths() {
        let boundary = MultiPolygon::new(vec![Polygon::new(
            square(LON, LAT, 0.1),
            vec![square(LON + 0.03, LAT + 0.03, 0.04)],
        )]);
        let input = MapInput {
            boundary: Some(&boundary),
            ..empty()
        };
        let svg = render(&input, 400, 300).expect("svg");
        assert_eq!(svg.matches(r#"class="map-boundary""#).count(), 1);
        let tag = element(&svg, "map-boundary");
        assert!(tag.contains(r#"fill-rule="evenodd""#));
        let d = &tag[tag.find(" d=\"").expect("d") + 4..];
        let d = &d[..d.find('"').expect("end of d")];
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert_eq!(d.matches('Z').count(), 2, "{d}");
    }

    #[test]
    fn accuracy_radius_scales_with_metres() {
        // The 10 km boundary fixes the zoom, so the radius alone varies.
        let boundary = MultiPolygon::new(vec![Polygon::new(
            square(LON - 0.05, LAT - 0.05, 0.1),
            vec![],
        )]);
        let radius = |m: f64| {
            let input = MapInput {
                boundary: Some(&boundary),
                reported: Some(marker(LON, LAT, "Phone")),
                accuracy_m: Some(m),
                ..empty()
            };
            attr(&render(&input, 400, 300).expect("svg"), "map-accuracy", "r")
        };
        let (r1, r2) = (radius(1_000.0), radius(2_000.0));
        assert!(r1 > 10.0, "{r1}");
        assert!((r2 / r1 - 2.0).abs() < 0.01, "{r1} {r2}");

        // With nothing else drawn the circle alone is fitted: its diameter fills the shorter side.
        let input = MapInput {
            reported: Some(marker(LON, LAT, "Phone")),
            accuracy_m: Some(2_000.0),
            ..empty()
        };
        let svg = render(&input, 400, 300).expect("svg");
        assert_eq!(
            attr(&svg, "map-accuracy", "r"),
            300.0 * (1.0 - 2.0 * MARGIN) / 2.0
        );
        assert!(svg.contains("<title>Accuracy ±2 km</title>"));
    }

    #[test]
    fn single_point_gets_a_finite_centred_window() {
        let input = MapInput {
            facility: Some(marker(LON, LAT, "Clinic")),
            ..empty()
        };
        let svg = render(&input, 400, 300).expect("svg");
        assert!(svg.contains(r#"viewBox="0 0 400 300""#));
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        // Centred: the 10 px square straddles the middle.
        assert_eq!(attr(&svg, "map-facility", "x"), 195.0);
        assert_eq!(attr(&svg, "map-facility", "y"), 145.0);
        // A 1 km window puts a few hundred metres in a quarter of the width.
        assert!(
            svg.contains(">200 m</text>") || svg.contains(">500 m</text>"),
            "{svg}"
        );
    }

    #[test]
    fn nothing_drawable_gives_none() {
        assert_eq!(render(&empty(), 400, 300), None);
        let nowhere = MapInput {
            facility: Some(marker(f64::NAN, LAT, "Lost")),
            reported: Some(marker(LON, f64::INFINITY, "Lost")),
            accuracy_m: Some(50.0),
            photos: vec![marker(f64::NAN, f64::NAN, "Lost")],
            ..empty()
        };
        assert_eq!(render(&nowhere, 400, 300), None);
    }

    #[test]
    fn nan_coordinates_are_skipped() {
        let mut ring = square(LON, LAT, 0.05);
        ring.0.insert(
            2,
            Coord {
                x: f64::NAN,
                y: LAT,
            },
        );
        let boundary = MultiPolygon::new(vec![Polygon::new(ring, vec![])]);
        let input = MapInput {
            boundary: Some(&boundary),
            facility: Some(marker(LON + 0.01, LAT + 0.01, "Facility")),
            reported: Some(marker(f64::NAN, LAT, "Phone")),
            accuracy_m: Some(f64::NAN),
            photos: vec![
                marker(LON + 0.02, LAT + 0.02, "IMG_1"),
                marker(LON, f64::NAN, "IMG_2"),
                marker(LON + 0.03, LAT + 0.01, "IMG_3"),
            ],
        };
        let svg = render(&input, 400, 300).expect("svg");
        assert!(!svg.contains("NaN"), "{svg}");
        assert_eq!(svg.matches(r#"class="map-photo""#).count(), 2);
        assert!(!svg.contains("IMG_2"));
        assert!(
            !svg.contains("map-reported")
                && !svg.contains("map-accuracy")
                && !svg.contains("map-link")
        );
        assert!(svg.contains(r#"class="map-boundary""#));
    }

    #[test]
    fn scale_bar_uses_round_distances() {
        assert_eq!(round_distance(260.0), 200.0);
        assert_eq!(round_distance(999.0), 1_000.0);
        assert_eq!(round_distance(4_700.0), 5_000.0);
        assert_eq!(round_distance(1_000.0), 1_000.0);
        assert_eq!(round_distance(2_600.0), 2_000.0);
        assert_eq!(round_distance(60_000.0), 50_000.0);
        assert_eq!(round_distance(0.0), 10.0);
        assert_eq!(round_distance(3.0), 10.0);
        assert_eq!(distance_label(500.0), "500 m");
        assert_eq!(distance_label(2_000.0), "2 km");
        assert_eq!(distance_label(1_500.0), "1.5 km");
        assert_eq!(distance_label(10.0), "10 m");

        // The 5.6 km tall square sets the zoom: a quarter of the width is about 1.6 km.
        let boundary = MultiPolygon::new(vec![Polygon::new(square(LON, LAT, 0.05), vec![])]);
        let input = MapInput {
            boundary: Some(&boundary),
            ..empty()
        };
        let svg = render(&input, 400, 400).expect("svg");
        assert!(element(&svg, "map-scale").starts_with("<g"));
        assert!(svg.contains(">2 km</text>"), "{svg}");
    }
}
