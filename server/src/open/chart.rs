//! Charts drawn by the server as SVG: readable on a cheap phone, printable, no script needed.

use crate::web::map::{escape, num};

/// One point of a trend: its period label and value.
pub struct Point<'a> {
    pub period: &'a str,
    pub value: f64,
}

const W: f64 = 320.0;
const H: f64 = 120.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = 20.0;

/// A compact label for an axis value: 1234.6 → "1235", 12.26 → "12.3", 0.126 → "0.13".
pub fn short(v: f64) -> String {
    let a = v.abs();
    let text = if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    if text == "-0" { "0".into() } else { text }
}

/// A value as plain decimal text, to a millionth: what a machine-readable file carries.
pub fn plain(v: f64) -> String {
    let r = (v * 1e6).round() / 1e6;
    if r == 0.0 { "0".into() } else { r.to_string() }
}

/// A line chart of an indicator's values over its periods, with the target (dashed) and the
/// baseline (dotted) when known. An empty string when there is no value to draw.
pub fn trend(
    points: &[Point],
    baseline: Option<f64>,
    target: Option<f64>,
    title: &str,
    target_label: &str,
    baseline_label: &str,
) -> String {
    let values: Vec<f64> = points
        .iter()
        .map(|p| p.value)
        .filter(|v| v.is_finite())
        .collect();
    if values.is_empty() {
        return String::new();
    }
    let refs = baseline.into_iter().chain(target).filter(|v| v.is_finite());
    let all: Vec<f64> = values.iter().copied().chain(refs).collect();
    let (mut lo, mut hi) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    if (hi - lo).abs() < 1e-9 {
        lo -= 1.0;
        hi += 1.0;
    }
    let pad = (hi - lo) * 0.08;
    let (lo, hi) = (
        if lo >= 0.0 {
            (lo - pad).max(0.0)
        } else {
            lo - pad
        },
        hi + pad,
    );
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let y = |v: f64| TOP + (hi - v) / (hi - lo) * plot_h;
    let step = if points.len() > 1 {
        plot_w / (points.len() - 1) as f64
    } else {
        0.0
    };
    let x = |i: usize| {
        if points.len() > 1 {
            LEFT + i as f64 * step
        } else {
            LEFT + plot_w / 2.0
        }
    };
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" class="trend" role="img" aria-label="{}">"#,
        escape(title)
    );
    svg.push_str(&format!(
        r##"<path d="M{l} {t}V{b}H{r}" fill="none" stroke="#8c959f" stroke-width="1"/>"##,
        l = num(LEFT),
        t = num(TOP),
        b = num(TOP + plot_h),
        r = num(W - RIGHT)
    ));
    for (v, anchor) in [(hi, "hanging"), (lo, "auto")] {
        svg.push_str(&format!(
            r##"<text x="{}" y="{}" text-anchor="end" dominant-baseline="{anchor}" font-size="10" fill="#57606a">{}</text>"##,
            num(LEFT - 4.0),
            num(y(v)),
            escape(&short(v))
        ));
    }
    let mut reference = |value: Option<f64>, dash: &str, colour: &str, label: &str, class: &str| {
        if let Some(v) = value.filter(|v| v.is_finite()) {
            svg.push_str(&format!(
                r##"<line class="{class}" x1="{}" x2="{}" y1="{yv}" y2="{yv}" stroke="{colour}" stroke-width="1.2" stroke-dasharray="{dash}"><title>{}</title></line>"##,
                num(LEFT),
                num(W - RIGHT),
                escape(&format!("{label}: {}", short(v))),
                yv = num(y(v)),
            ));
        }
    };
    reference(baseline, "1 3", "#57606a", baseline_label, "baseline");
    reference(target, "5 3", "#1a7f37", target_label, "target");
    let path: Vec<String> = points
        .iter()
        .enumerate()
        .filter(|(_, p)| p.value.is_finite())
        .map(|(i, p)| format!("{} {}", num(x(i)), num(y(p.value))))
        .collect();
    if path.len() > 1 {
        svg.push_str(&format!(
            r##"<path class="line" d="M{}" fill="none" stroke="#0969da" stroke-width="2" stroke-linejoin="round"/>"##,
            path.join("L")
        ));
    }
    for (i, p) in points
        .iter()
        .enumerate()
        .filter(|(_, p)| p.value.is_finite())
    {
        svg.push_str(&format!(
            r##"<circle cx="{}" cy="{}" r="2.5" fill="#0969da"><title>{}: {}</title></circle>"##,
            num(x(i)),
            num(y(p.value)),
            escape(p.period),
            escape(&short(p.value))
        ));
    }
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        svg.push_str(&format!(
            r##"<text x="{}" y="{}" font-size="10" fill="#57606a">{}</text>"##,
            num(LEFT),
            num(H - 5.0),
            escape(first.period)
        ));
        if points.len() > 1 {
            svg.push_str(&format!(
                r##"<text x="{}" y="{}" text-anchor="end" font-size="10" fill="#57606a">{}</text>"##,
                num(W - RIGHT),
                num(H - 5.0),
                escape(last.period)
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

/// One segment of a stacked bar: a choice and its share in per cent.
pub struct Segment<'a> {
    pub label: &'a str,
    pub share: f64,
}

/// Colours for ordered choices, from the first (often the worst) to the last.
const PALETTE: [&str; 6] = [
    "#cf222e", "#fb8f44", "#d4a72c", "#8fbc5a", "#1a7f37", "#0969da",
];

pub fn colour(i: usize, of: usize) -> &'static str {
    if of <= 1 {
        return PALETTE[5];
    }
    let at = i * (PALETTE.len() - 2) / (of - 1).max(1);
    PALETTE[at.min(PALETTE.len() - 1)]
}

/// A 100 % stacked bar per row (a survey question's answers in one year).
pub fn stacked(rows: &[(String, Vec<Segment>)], title: &str) -> String {
    let row_h = 22.0;
    let label_w = 48.0;
    let bar_w = W - label_w - RIGHT;
    let h = row_h * rows.len() as f64 + 4.0;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {hh}" width="{W}" height="{hh}" class="stacked" role="img" aria-label="{}">"#,
        escape(title),
        hh = num(h)
    );
    for (r, (label, segments)) in rows.iter().enumerate() {
        let top = 2.0 + r as f64 * row_h;
        svg.push_str(&format!(
            r##"<text x="0" y="{}" font-size="11" dominant-baseline="middle" fill="#24292f">{}</text>"##,
            num(top + row_h / 2.0 - 1.0),
            escape(label)
        ));
        let mut at = label_w;
        for (i, s) in segments.iter().enumerate() {
            let width = bar_w * s.share.clamp(0.0, 100.0) / 100.0;
            if width <= 0.0 {
                continue;
            }
            svg.push_str(&format!(
                r##"<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {} %</title></rect>"##,
                num(at),
                num(top + 2.0),
                num(width),
                num(row_h - 6.0),
                colour(i, segments.len()),
                escape(s.label),
                escape(&short(s.share))
            ));
            at += width;
        }
    }
    svg.push_str("</svg>");
    svg
}

/// A single horizontal bar of a 0–100 score.
pub fn score_bar(score: Option<f64>, title: &str) -> String {
    let w = 200.0;
    let filled = score.map_or(0.0, |s| w * s.clamp(0.0, 100.0) / 100.0);
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} 14" width="{w}" height="14" class="score" role="img" aria-label="{}"><rect width="{w}" height="14" fill="#eaeef2"/><rect width="{}" height="14" fill="#0969da"/></svg>"##,
        escape(title),
        num(filled)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_labels() {
        assert_eq!(short(1234.6), "1235");
        assert_eq!(short(12.26), "12.3");
        assert_eq!(short(0.126), "0.13");
        assert_eq!(short(72.0), "72");
        assert_eq!(short(-0.001), "0");
    }

    #[test]
    fn a_trend_draws_every_point_and_the_target() {
        let pts = [
            Point {
                period: "2024",
                value: 10.0,
            },
            Point {
                period: "2025",
                value: 12.0,
            },
            Point {
                period: "2026",
                value: 15.0,
            },
        ];
        let svg = trend(&pts, Some(9.0), Some(20.0), "t", "Target", "Baseline");
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains(r#"class="target""#));
        assert!(svg.contains("Target: 20"));
        assert!(svg.contains(">2024<") && svg.contains(">2026<"));
        // The target is the highest value, so it is drawn above the last point.
        let y_of = |needle: &str| -> f64 {
            let at = svg.find(needle).unwrap();
            let rest = &svg[at..];
            let y = rest.split("y1=\"").nth(1).unwrap();
            y.split('"').next().unwrap().parse().unwrap()
        };
        assert!(y_of(r#"class="target""#) < y_of(r#"class="baseline""#));
    }

    #[test]
    fn nothing_to_draw_is_no_chart() {
        assert_eq!(trend(&[], None, Some(1.0), "t", "T", "B"), "");
        let nan = [Point {
            period: "2024",
            value: f64::NAN,
        }];
        assert_eq!(trend(&nan, None, None, "t", "T", "B"), "");
    }

    #[test]
    fn titles_are_escaped() {
        let pts = [Point {
            period: "<p>",
            value: 1.0,
        }];
        let svg = trend(&pts, None, None, "a\"b<c>", "T", "B");
        assert!(!svg.contains("<p>") && !svg.contains("a\"b"));
    }
}
