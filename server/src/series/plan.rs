//! Plan versus fact for the indicators of a municipality's M&E plan: computed, never typed in.
//!
//! - Achievement is the share of the planned change made: (actual − baseline) / (target −
//!   baseline) × 100, which reads the same for indicators that should rise and ones that should
//!   fall (waiting time). Without a baseline, or with a target equal to it, it is actual /
//!   target × 100.
//! - The trend is a Theil–Sen line through the values of the periods so far (the median of the
//!   slopes between every pair of periods): one odd year does not tip it the way it tips least
//!   squares. The forecast is that line read at the SEDP deadline.
//! - Status: on track when the forecast reaches the deadline target (achievement ≥ 100 %), at
//!   risk from 80 %, off track below. With fewer than two periods there is no trend, and the
//!   status rests on the achievement of the period asked for, with the same thresholds.

use std::collections::BTreeMap;

use serde::Serialize;

use super::period::{Period, PeriodKind};
use super::stats;
use crate::storage::{IndicatorView, StoredValue, ValueBasis};

pub const ON_TRACK_PCT: f64 = 100.0;
pub const AT_RISK_PCT: f64 = 80.0;
pub const FORECAST_METHOD: &str = "theil-sen";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    Official,
    Provisional,
}

impl Basis {
    pub fn pick(self, value: &StoredValue) -> Option<&ValueBasis> {
        match self {
            Basis::Official => value.official.as_ref(),
            Basis::Provisional => value.provisional.as_ref(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    OnTrack,
    AtRisk,
    OffTrack,
    /// No value yet, or no target to compare with.
    NoData,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendPoint {
    pub period: String,
    pub value: f64,
    pub n: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    pub method: &'static str,
    pub deadline: String,
    pub value: f64,
    pub target: Option<f64>,
    pub achievement_pct: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanRow {
    pub indicator: String,
    pub name_ky: String,
    pub name_ru: String,
    pub name_en: String,
    pub level: String,
    pub unit: String,
    pub measured_by: String,
    pub delegated: bool,
    pub baseline: Option<f64>,
    pub target: Option<f64>,
    pub actual: Option<f64>,
    /// How many submissions (or entries) the actual rests on, and which.
    pub n: i64,
    pub evidence: Vec<String>,
    /// The other basis's value, for comparison (provisional when official was asked).
    pub other_basis: Option<f64>,
    pub achievement_pct: Option<f64>,
    pub trend: Vec<TrendPoint>,
    /// Theil–Sen slope in the indicator's unit per year.
    pub slope_per_year: Option<f64>,
    pub forecast: Option<Forecast>,
    pub status: Status,
}

/// Share of the planned change made, in per cent.
pub fn achievement(actual: f64, baseline: Option<f64>, target: f64) -> Option<f64> {
    match baseline {
        Some(b) if (target - b).abs() > f64::EPSILON => Some((actual - b) / (target - b) * 100.0),
        _ if target.abs() > f64::EPSILON => Some(actual / target * 100.0),
        _ => None,
    }
}

pub fn status_of(achievement_pct: Option<f64>) -> Status {
    match achievement_pct {
        None => Status::NoData,
        Some(a) if a >= ON_TRACK_PCT => Status::OnTrack,
        Some(a) if a >= AT_RISK_PCT => Status::AtRisk,
        Some(_) => Status::OffTrack,
    }
}

/// The period's own target, else its year's: a half-year or a quarter is measured against the
/// year's target unless the plan sets one for it (the AO head's semi-annual report shows how far
/// the first half went towards the year's target).
fn target_for(indicator: &IndicatorView, period: &Period) -> Option<f64> {
    let of = |key: String| {
        indicator
            .targets
            .get(key)
            .and_then(serde_json::Value::as_f64)
    };
    of(period.to_string()).or_else(|| of(period.year.to_string()))
}

/// One row of the table. `values` are the indicator's municipality-wide values of the period
/// kind asked, in period order; `deadline` is the last period of the SEDP (or of the targets).
pub fn row(
    indicator: &IndicatorView,
    values: &[&StoredValue],
    period: Period,
    deadline: Option<Period>,
    basis: Basis,
) -> PlanRow {
    let other = match basis {
        Basis::Official => Basis::Provisional,
        Basis::Provisional => Basis::Official,
    };
    let asked = period.to_string();
    let current = values.iter().find(|v| v.period == asked);
    let actual = current.and_then(|v| basis.pick(v));
    let target = target_for(indicator, &period);
    let achievement_pct = match (actual, target) {
        (Some(a), Some(t)) => achievement(a.value, indicator.baseline, t),
        _ => None,
    };
    // The trend looks at periods up to the one asked, never at later ones.
    let trend: Vec<TrendPoint> = values
        .iter()
        .filter(|v| v.period.as_str() <= asked.as_str())
        .filter_map(|v| {
            basis.pick(v).map(|b| TrendPoint {
                period: v.period.clone(),
                value: b.value,
                n: b.n,
            })
        })
        .collect();
    let points: Vec<(f64, f64)> = trend
        .iter()
        .filter_map(|p| {
            p.period
                .parse::<Period>()
                .ok()
                .map(|q| (q.midpoint_years(), p.value))
        })
        .collect();
    let line = stats::theil_sen(&points);
    let forecast = match (line, deadline) {
        (Some(line), Some(deadline)) => {
            let value = line.at(deadline.midpoint_years());
            let target = target_for(indicator, &deadline);
            Some(Forecast {
                method: FORECAST_METHOD,
                deadline: deadline.to_string(),
                value,
                target,
                achievement_pct: target.and_then(|t| achievement(value, indicator.baseline, t)),
            })
        }
        _ => None,
    };
    let status = match &forecast {
        Some(f) if f.achievement_pct.is_some() => status_of(f.achievement_pct),
        _ => status_of(achievement_pct),
    };
    PlanRow {
        indicator: indicator.code.clone(),
        name_ky: indicator.name_ky.clone(),
        name_ru: indicator.name_ru.clone(),
        name_en: indicator.name_en.clone(),
        level: indicator.level.clone(),
        unit: indicator.unit.clone(),
        measured_by: indicator.measured_by.clone(),
        delegated: indicator.delegated,
        baseline: indicator.baseline,
        target,
        actual: actual.map(|a| a.value),
        n: actual.map_or(0, |a| a.n),
        evidence: actual.map(|a| a.evidence.clone()).unwrap_or_default(),
        other_basis: current.and_then(|v| other.pick(v)).map(|b| b.value),
        achievement_pct,
        trend,
        slope_per_year: line.map(|l| l.slope),
        forecast,
        status,
    }
}

/// The deadline a forecast aims at: the SEDP's last year read in the period kind asked (its
/// last half, quarter or month), else the latest period any target names.
pub fn deadline(
    sedp_last_year: Option<i32>,
    kind: PeriodKind,
    indicators: &[&IndicatorView],
) -> Option<Period> {
    let last_year = sedp_last_year.or_else(|| {
        indicators
            .iter()
            .filter_map(|i| i.targets.as_object())
            .flat_map(|t| t.keys())
            .filter_map(|k| k.parse::<Period>().ok())
            .map(|p| p.year)
            .max()
    })?;
    let day = time::Date::from_calendar_date(last_year, time::Month::December, 31).ok()?;
    Some(Period::of(day, kind))
}

/// Counts per status, for a dashboard's headline.
pub fn summary(rows: &[PlanRow]) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for name in ["on_track", "at_risk", "off_track", "no_data"] {
        out.insert(name, 0);
    }
    for r in rows {
        let name = match r.status {
            Status::OnTrack => "on_track",
            Status::AtRisk => "at_risk",
            Status::OffTrack => "off_track",
            Status::NoData => "no_data",
        };
        *out.entry(name).or_default() += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn indicator(baseline: Option<f64>, targets: serde_json::Value) -> IndicatorView {
        IndicatorView {
            code: "I".into(),
            name_ky: "ky".into(),
            name_ru: "ru".into(),
            name_en: "en".into(),
            level: "outcome".into(),
            kind: "quantitative".into(),
            unit: "%".into(),
            baseline,
            targets,
            measured_by: "jmet".into(),
            delegated: false,
            rule: json!({"type": "lsg_entry"}),
            in_me_plan: true,
        }
    }

    fn value(period: &str, official: f64) -> StoredValue {
        StoredValue {
            indicator: "I".into(),
            facility: String::new(),
            period: period.into(),
            official: Some(ValueBasis {
                value: official,
                n: 3,
                evidence: vec!["a".into()],
            }),
            provisional: Some(ValueBasis {
                value: official + 1.0,
                n: 4,
                evidence: vec!["a".into(), "b".into()],
            }),
        }
    }

    #[test]
    fn achievement_measures_the_planned_change() {
        // From 58 toward 72, at 65: half the way.
        assert_eq!(achievement(65.0, Some(58.0), 72.0), Some(50.0));
        // Waiting time should fall from 40 to 20; at 30 half the way, at 45 backwards.
        assert_eq!(achievement(30.0, Some(40.0), 20.0), Some(50.0));
        assert_eq!(achievement(45.0, Some(40.0), 20.0), Some(-25.0));
        // Without a baseline: against the target.
        assert_eq!(achievement(6.0, None, 8.0), Some(75.0));
        assert_eq!(achievement(6.0, Some(8.0), 8.0), Some(75.0));
        assert_eq!(achievement(6.0, None, 0.0), None);
        assert_eq!(status_of(Some(100.0)), Status::OnTrack);
        assert_eq!(status_of(Some(80.0)), Status::AtRisk);
        assert_eq!(status_of(Some(79.9)), Status::OffTrack);
        assert_eq!(status_of(None), Status::NoData);
    }

    #[test]
    fn a_row_by_hand() {
        let ind = indicator(
            Some(50.0),
            json!({"2025": 60.0, "2026": 70.0, "2027": 80.0}),
        );
        let values = [
            value("2023", 50.0),
            value("2024", 53.0),
            value("2025", 56.0),
            value("2026", 59.0),
        ];
        let refs: Vec<&StoredValue> = values.iter().collect();
        let deadline = Some("2027".parse().unwrap());
        let r = row(
            &ind,
            &refs,
            "2025".parse().unwrap(),
            deadline,
            Basis::Official,
        );
        assert_eq!(r.actual, Some(56.0));
        assert_eq!(r.other_basis, Some(57.0));
        assert_eq!(r.target, Some(60.0));
        // (56 − 50) / (60 − 50) = 60 %.
        assert_eq!(r.achievement_pct, Some(60.0));
        // 2026 is after the period asked and stays out of the trend: 50, 53, 56 rise 3 a year.
        assert_eq!(r.trend.len(), 3);
        assert_eq!(r.slope_per_year, Some(3.0));
        let f = r.forecast.unwrap();
        // 56 + 2 × 3 = 62 in 2027 against 80: (62 − 50) / (80 − 50) = 40 %.
        assert!((f.value - 62.0).abs() < 1e-9, "{}", f.value);
        assert!((f.achievement_pct.unwrap() - 40.0).abs() < 1e-9);
        assert_eq!(f.method, "theil-sen");
        assert_eq!(r.status, Status::OffTrack);
        let p = row(
            &ind,
            &refs,
            "2025".parse().unwrap(),
            None,
            Basis::Provisional,
        );
        assert_eq!(p.actual, Some(57.0));
        assert_eq!(p.n, 4);
        // One period only: the status rests on the achievement, (57 − 50) / 10 = 70 %.
        assert_eq!(p.forecast, None);
        assert_eq!(p.status, Status::OffTrack);
    }
}
