//! Calendar reporting periods: years, half-years, quarters and months.
//!
//! Periods always follow the Gregorian calendar year (January–December), which
//! is what DHIS2's `yyyy`, `yyyySn`, `yyyyQn` and `yyyyMM` period types use, so
//! series computed here can be exported without re-bucketing.

use std::fmt;
use std::str::FromStr;

use time::Date;

/// Granularity of a [`Period`], declared from coarsest to finest so that the
/// derived ordering reads as "coarser < finer".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PeriodKind {
    Year,
    Half,
    Quarter,
    Month,
}

impl PeriodKind {
    pub const ALL: [PeriodKind; 4] = [
        PeriodKind::Year,
        PeriodKind::Half,
        PeriodKind::Quarter,
        PeriodKind::Month,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PeriodKind::Year => "year",
            PeriodKind::Half => "half",
            PeriodKind::Quarter => "quarter",
            PeriodKind::Month => "month",
        }
    }

    /// Parses a kind name as written by [`PeriodKind::name`], ignoring ASCII
    /// case because these names arrive in query strings typed by people.
    /// "half-year" and "halfyear" are accepted for [`PeriodKind::Half`].
    pub fn parse(text: &str) -> Option<Self> {
        let lower = text.to_ascii_lowercase();
        match lower.as_str() {
            "year" => Some(PeriodKind::Year),
            "half" | "half-year" | "halfyear" => Some(PeriodKind::Half),
            "quarter" => Some(PeriodKind::Quarter),
            "month" => Some(PeriodKind::Month),
            _ => None,
        }
    }

    /// How many periods of this kind make up one year; the largest valid
    /// [`Period::index`].
    pub fn per_year(self) -> u8 {
        match self {
            PeriodKind::Year => 1,
            PeriodKind::Half => 2,
            PeriodKind::Quarter => 4,
            PeriodKind::Month => 12,
        }
    }

    fn months(self) -> u8 {
        12 / self.per_year()
    }
}

/// One calendar period: `index` is 1 for a year, 1–2 for a half, 1–4 for a
/// quarter and 1–12 for a month.
///
/// The fields are public for pattern matching and literals in tests; values
/// from [`Period::new`], [`Period::of`] and parsing are always valid, and the
/// date methods panic on a hand-built period whose index is out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    pub year: i32,
    pub kind: PeriodKind,
    pub index: u8,
}

impl Period {
    /// A period, if `index` is valid for `kind` and the year is one that
    /// [`Date`] can represent.
    pub fn new(year: i32, kind: PeriodKind, index: u8) -> Option<Period> {
        let year_ok = (Date::MIN.year()..=Date::MAX.year()).contains(&year);
        let index_ok = (1..=kind.per_year()).contains(&index);
        (year_ok && index_ok).then_some(Period { year, kind, index })
    }

    /// The period of the given kind that `date` falls in.
    pub fn of(date: Date, kind: PeriodKind) -> Period {
        let month = u8::from(date.month());
        Period {
            year: date.year(),
            kind,
            index: (month - 1) / kind.months() + 1,
        }
    }

    /// The year, half, quarter and month containing `date`, in the order of
    /// [`PeriodKind::ALL`].
    pub fn all_of(date: Date) -> [Period; 4] {
        PeriodKind::ALL.map(|kind| Period::of(date, kind))
    }

    /// First day of the period.
    pub fn start(&self) -> Date {
        Date::from_calendar_date(self.year, self.calendar_month(self.first_month()), 1)
            .expect("period year outside the supported date range")
    }

    /// Last day of the period, inclusive.
    pub fn end(&self) -> Date {
        let month = self.calendar_month(self.last_month());
        Date::from_calendar_date(self.year, month, month.length(self.year))
            .expect("period year outside the supported date range")
    }

    /// Whether `other` lies entirely inside `self`. Calendar periods nest
    /// (a quarter never straddles two halves), so comparing month spans is
    /// enough and a period contains itself.
    pub fn contains(&self, other: &Period) -> bool {
        self.year == other.year
            && self.first_month() <= other.first_month()
            && other.last_month() <= self.last_month()
    }

    /// The period's middle as a fractional year, so that periods of any kind
    /// can be placed on one x axis for trend fitting: 2026 → 2026.5,
    /// 2026-Q3 → 2026.625, 2026-05 → 2026 + 4.5/12.
    ///
    /// Months are treated as twelfths of a year rather than by day counts;
    /// the few-day skew is irrelevant for trends and keeps equally spaced
    /// periods equally spaced.
    pub fn midpoint_years(&self) -> f64 {
        let months_before = f64::from(self.first_month() - 1);
        let half_span = f64::from(self.kind.months()) / 2.0;
        f64::from(self.year) + (months_before + half_span) / 12.0
    }

    /// The following period of the same kind.
    pub fn next(&self) -> Period {
        if self.index < self.kind.per_year() {
            Period {
                index: self.index + 1,
                ..*self
            }
        } else {
            Period {
                year: self.year + 1,
                index: 1,
                ..*self
            }
        }
    }

    /// All periods from `from` to `to` inclusive. Empty when the kinds
    /// differ or `from` comes after `to`.
    pub fn range(from: Period, to: Period) -> Vec<Period> {
        let mut periods = Vec::new();
        if from.kind != to.kind {
            return periods;
        }
        let mut current = from;
        // `<=` rather than `!=` so a malformed `to` cannot loop forever.
        while current <= to {
            periods.push(current);
            current = current.next();
        }
        periods
    }

    /// The period in DHIS2 syntax: "2026", "2026S1", "2026Q3", "202605".
    pub fn dhis2(&self) -> String {
        match self.kind {
            PeriodKind::Year => format!("{}", self.year),
            PeriodKind::Half => format!("{}S{}", self.year, self.index),
            PeriodKind::Quarter => format!("{}Q{}", self.year, self.index),
            PeriodKind::Month => format!("{}{:02}", self.year, self.index),
        }
    }

    fn first_month(&self) -> u8 {
        (self.index - 1) * self.kind.months() + 1
    }

    fn last_month(&self) -> u8 {
        self.index * self.kind.months()
    }

    fn calendar_month(&self, number: u8) -> time::Month {
        time::Month::try_from(number).expect("period index out of range for its kind")
    }
}

/// Error from parsing a [`Period`]; keeps the rejected text for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsePeriodError {
    pub input: String,
}

impl fmt::Display for ParsePeriodError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid period {:?}: expected YYYY, YYYY-H1..2, YYYY-Q1..4 or YYYY-MM",
            self.input
        )
    }
}

impl std::error::Error for ParsePeriodError {}

impl FromStr for Period {
    type Err = ParsePeriodError;

    /// Parses "2026", "2026-H1", "2026-Q3" or "2026-05". Only four-digit
    /// years from 1000 and two-digit months are accepted, so that every
    /// accepted string is exactly what [`Display`](fmt::Display) writes.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ParsePeriodError {
            input: text.to_owned(),
        };
        let (year_text, rest) = match text.split_once('-') {
            Some((year, rest)) => (year, Some(rest)),
            None => (text, None),
        };
        let year = match year_text.as_bytes() {
            [b'1'..=b'9', others @ ..]
                if others.len() == 3 && others.iter().all(u8::is_ascii_digit) =>
            {
                year_text.parse::<i32>().map_err(|_| error())?
            }
            _ => return Err(error()),
        };
        let (kind, index) = match rest.map(str::as_bytes) {
            None => (PeriodKind::Year, 1),
            Some(&[b'H', digit @ b'1'..=b'2']) => (PeriodKind::Half, digit - b'0'),
            Some(&[b'Q', digit @ b'1'..=b'4']) => (PeriodKind::Quarter, digit - b'0'),
            Some(&[tens @ b'0'..=b'1', ones @ b'0'..=b'9']) => {
                (PeriodKind::Month, (tens - b'0') * 10 + (ones - b'0'))
            }
            Some(_) => return Err(error()),
        };
        Period::new(year, kind, index).ok_or_else(error)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            PeriodKind::Year => write!(f, "{}", self.year),
            PeriodKind::Half => write!(f, "{}-H{}", self.year, self.index),
            PeriodKind::Quarter => write!(f, "{}-Q{}", self.year, self.index),
            PeriodKind::Month => write!(f, "{}-{:02}", self.year, self.index),
        }
    }
}

/// The calendar date written at the start of an RFC 3339 / ISO 8601
/// timestamp ("2026-05-14T09:30:00+06:00") or a bare date ("2026-05-14").
///
/// The offset is deliberately ignored: a capture belongs to the local day the
/// member saw on the device, and converting to UTC would move late-evening
/// captures into the next day (and sometimes the next month or year).
/// Only the date part is validated; what follows the date must start with a
/// 'T' or space separator.
pub fn parse_date_prefix(text: &str) -> Option<Date> {
    let bytes = text.as_bytes();
    let date = bytes.get(..10)?;
    let digit = |i: usize| date[i].is_ascii_digit().then(|| u32::from(date[i] - b'0'));
    let number = |range: std::ops::Range<usize>| {
        range
            .map(digit)
            .try_fold(0u32, |acc, d| Some(acc * 10 + d?))
    };
    if date[4] != b'-' || date[7] != b'-' {
        return None;
    }
    if !matches!(bytes.get(10), None | Some(b'T' | b't' | b' ')) {
        return None;
    }
    let year = i32::try_from(number(0..4)?).ok()?;
    let month = time::Month::try_from(u8::try_from(number(5..7)?).ok()?).ok()?;
    let day = u8::try_from(number(8..10)?).ok()?;
    Date::from_calendar_date(year, month, day).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn p(text: &str) -> Period {
        text.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn kind_names_round_trip() {
        for kind in PeriodKind::ALL {
            assert_eq!(PeriodKind::parse(kind.name()), Some(kind));
        }
        assert_eq!(PeriodKind::parse("half-year"), Some(PeriodKind::Half));
        assert_eq!(PeriodKind::parse("halfyear"), Some(PeriodKind::Half));
        assert_eq!(PeriodKind::parse("Quarter"), Some(PeriodKind::Quarter));
        assert_eq!(PeriodKind::parse("week"), None);
        assert_eq!(PeriodKind::parse(""), None);
    }

    #[test]
    fn kinds_order_coarse_to_fine() {
        let mut sorted = PeriodKind::ALL;
        sorted.sort();
        assert_eq!(sorted, PeriodKind::ALL);
        assert!(PeriodKind::Year < PeriodKind::Month);
    }

    #[test]
    fn parses_each_form() {
        assert_eq!(
            p("2026"),
            Period {
                year: 2026,
                kind: PeriodKind::Year,
                index: 1
            }
        );
        assert_eq!(
            p("2026-H1"),
            Period {
                year: 2026,
                kind: PeriodKind::Half,
                index: 1
            }
        );
        assert_eq!(
            p("2026-Q3"),
            Period {
                year: 2026,
                kind: PeriodKind::Quarter,
                index: 3
            }
        );
        assert_eq!(
            p("2026-05"),
            Period {
                year: 2026,
                kind: PeriodKind::Month,
                index: 5
            }
        );
        assert_eq!(p("1000-12").index, 12);
        assert_eq!(p("9999").year, 9999);
    }

    #[test]
    fn rejects_malformed_periods() {
        for bad in [
            "2026-1",
            "2026-13",
            "2026-00",
            "2026-H3",
            "2026-H0",
            "2026-Q0",
            "2026-Q5",
            "2026-h1",
            "2026-q1",
            "2026-",
            "-2026",
            "999",
            "0999",
            "10000",
            "+2026",
            "2026-05-01",
            "2026-5",
            "2026-M05",
            "2026Q1",
            "202605",
            " 2026",
            "2026 ",
            "",
            "abcd",
            "2026-Q",
            "2026-H12",
            "２０２６",
        ] {
            let err = bad.parse::<Period>().expect_err(bad);
            assert_eq!(err.input, bad);
            assert!(err.to_string().contains("invalid period"));
        }
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "2026", "2026-H1", "2026-H2", "2026-Q1", "2026-Q4", "2026-01", "2026-12",
        ] {
            assert_eq!(p(text).to_string(), text);
        }
        for kind in PeriodKind::ALL {
            for period in Period::range(
                Period::of(date!(2025 - 01 - 01), kind),
                Period::of(date!(2026 - 12 - 31), kind),
            ) {
                assert_eq!(p(&period.to_string()), period);
            }
        }
    }

    #[test]
    fn new_validates() {
        assert!(Period::new(2026, PeriodKind::Month, 12).is_some());
        assert!(Period::new(2026, PeriodKind::Month, 13).is_none());
        assert!(Period::new(2026, PeriodKind::Quarter, 0).is_none());
        assert!(Period::new(2026, PeriodKind::Year, 2).is_none());
        assert!(Period::new(i32::MAX, PeriodKind::Year, 1).is_none());
    }

    #[test]
    fn of_places_dates() {
        let d = date!(2026 - 08 - 14);
        assert_eq!(Period::of(d, PeriodKind::Year), p("2026"));
        assert_eq!(Period::of(d, PeriodKind::Half), p("2026-H2"));
        assert_eq!(Period::of(d, PeriodKind::Quarter), p("2026-Q3"));
        assert_eq!(Period::of(d, PeriodKind::Month), p("2026-08"));
        assert_eq!(
            Period::all_of(date!(2026 - 06 - 30)),
            [p("2026"), p("2026-H1"), p("2026-Q2"), p("2026-06")]
        );
        assert_eq!(
            Period::all_of(date!(2026 - 07 - 01)),
            [p("2026"), p("2026-H2"), p("2026-Q3"), p("2026-07")]
        );
        assert_eq!(
            Period::of(date!(2026 - 01 - 01), PeriodKind::Quarter),
            p("2026-Q1")
        );
        assert_eq!(
            Period::of(date!(2026 - 12 - 31), PeriodKind::Quarter),
            p("2026-Q4")
        );
    }

    #[test]
    fn start_and_end() {
        assert_eq!(p("2026").start(), date!(2026 - 01 - 01));
        assert_eq!(p("2026").end(), date!(2026 - 12 - 31));
        assert_eq!(p("2026-H1").end(), date!(2026 - 06 - 30));
        assert_eq!(p("2026-H2").start(), date!(2026 - 07 - 01));
        assert_eq!(p("2026-Q3").start(), date!(2026 - 07 - 01));
        assert_eq!(p("2026-Q3").end(), date!(2026 - 09 - 30));
        assert_eq!(p("2026-Q4").end(), date!(2026 - 12 - 31));
        assert_eq!(p("2026-04").end(), date!(2026 - 04 - 30));
        assert_eq!(p("2026-12").end(), date!(2026 - 12 - 31));
    }

    #[test]
    fn february_end_follows_leap_years() {
        assert_eq!(p("2024-02").end(), date!(2024 - 02 - 29));
        assert_eq!(p("2026-02").end(), date!(2026 - 02 - 28));
        assert_eq!(p("2000-02").end(), date!(2000 - 02 - 29));
        assert_eq!(p("1900-02").end(), date!(1900 - 02 - 28));
        assert_eq!(p("2024-Q1").end(), date!(2024 - 03 - 31));
    }

    #[test]
    fn every_date_lies_in_its_periods() {
        let mut day = date!(2023 - 12 - 25);
        while day <= date!(2025 - 01 - 05) {
            for period in Period::all_of(day) {
                assert!(
                    period.start() <= day && day <= period.end(),
                    "{day} {period}"
                );
            }
            day = day.next_day().unwrap();
        }
    }

    #[test]
    fn contains_across_kinds() {
        let year = p("2026");
        let h1 = p("2026-H1");
        let q2 = p("2026-Q2");
        let may = p("2026-05");
        assert!(year.contains(&year));
        assert!(year.contains(&h1));
        assert!(year.contains(&p("2026-Q4")));
        assert!(year.contains(&p("2026-12")));
        assert!(h1.contains(&q2));
        assert!(h1.contains(&may));
        assert!(!h1.contains(&p("2026-Q3")));
        assert!(!h1.contains(&p("2026-07")));
        assert!(q2.contains(&may));
        assert!(!q2.contains(&p("2026-07")));
        assert!(may.contains(&may));
        // Coarser never lies inside finer.
        assert!(!may.contains(&q2));
        assert!(!q2.contains(&h1));
        assert!(!h1.contains(&year));
        // Same position, different year.
        assert!(!year.contains(&p("2025-05")));
        assert!(!p("2025-Q2").contains(&may));
    }

    #[test]
    fn midpoints() {
        assert_eq!(p("2026").midpoint_years(), 2026.5);
        assert_eq!(p("2026-H1").midpoint_years(), 2026.25);
        assert_eq!(p("2026-H2").midpoint_years(), 2026.75);
        assert_eq!(p("2026-Q3").midpoint_years(), 2026.625);
        assert_eq!(p("2026-05").midpoint_years(), 2026.0 + 4.5 / 12.0);
        assert_eq!(p("2026-01").midpoint_years(), 2026.0 + 0.5 / 12.0);
        // Each coarse period's midpoint is the mean of its months' midpoints.
        let months: f64 = Period::range(p("2026-07"), p("2026-09"))
            .iter()
            .map(Period::midpoint_years)
            .sum();
        assert!((months / 3.0 - p("2026-Q3").midpoint_years()).abs() < 1e-9);
    }

    #[test]
    fn next_rolls_over_year_end() {
        assert_eq!(p("2026-05").next(), p("2026-06"));
        assert_eq!(p("2026-12").next(), p("2027-01"));
        assert_eq!(p("2026-Q4").next(), p("2027-Q1"));
        assert_eq!(p("2026-H1").next(), p("2026-H2"));
        assert_eq!(p("2026-H2").next(), p("2027-H1"));
        assert_eq!(p("2026").next(), p("2027"));
    }

    #[test]
    fn range_inclusive_and_guarded() {
        assert_eq!(
            Period::range(p("2025-11"), p("2026-02")),
            vec![p("2025-11"), p("2025-12"), p("2026-01"), p("2026-02")]
        );
        assert_eq!(
            Period::range(p("2025-Q4"), p("2026-Q1")),
            vec![p("2025-Q4"), p("2026-Q1")]
        );
        assert_eq!(
            Period::range(p("2026-H1"), p("2026-H1")),
            vec![p("2026-H1")]
        );
        assert_eq!(Period::range(p("2024"), p("2026")).len(), 3);
        assert!(Period::range(p("2026-03"), p("2026-02")).is_empty());
        assert!(Period::range(p("2026-Q1"), p("2026-03")).is_empty());
        let malformed = Period {
            year: 2026,
            kind: PeriodKind::Month,
            index: 13,
        };
        assert_eq!(Period::range(p("2026-11"), malformed).len(), 2);
    }

    #[test]
    fn sorting_is_chronological_within_a_kind() {
        let mut periods = vec![p("2026-01"), p("2025-12"), p("2026-10"), p("2026-02")];
        periods.sort();
        assert_eq!(
            periods,
            vec![p("2025-12"), p("2026-01"), p("2026-02"), p("2026-10")]
        );
    }

    #[test]
    fn dhis2_strings() {
        assert_eq!(p("2026").dhis2(), "2026");
        assert_eq!(p("2026-H1").dhis2(), "2026S1");
        assert_eq!(p("2026-H2").dhis2(), "2026S2");
        assert_eq!(p("2026-Q3").dhis2(), "2026Q3");
        assert_eq!(p("2026-05").dhis2(), "202605");
        assert_eq!(p("2026-12").dhis2(), "202612");
    }

    #[test]
    fn date_prefix_keeps_local_day() {
        assert_eq!(
            parse_date_prefix("2026-05-14T09:30:00+06:00"),
            Some(date!(2026 - 05 - 14))
        );
        // Both of these fall in a different UTC day (and year) than the
        // local one; the local day must win.
        assert_eq!(
            parse_date_prefix("2026-12-31T23:30:00-05:00"),
            Some(date!(2026 - 12 - 31))
        );
        assert_eq!(
            parse_date_prefix("2027-01-01T00:15:00+06:00"),
            Some(date!(2027 - 01 - 01))
        );
        assert_eq!(parse_date_prefix("2026-05-14"), Some(date!(2026 - 05 - 14)));
        assert_eq!(
            parse_date_prefix("2026-05-14t09:30:00Z"),
            Some(date!(2026 - 05 - 14))
        );
        assert_eq!(
            parse_date_prefix("2026-05-14 09:30:00Z"),
            Some(date!(2026 - 05 - 14))
        );
        assert_eq!(
            parse_date_prefix("2024-02-29T00:00:00Z"),
            Some(date!(2024 - 02 - 29))
        );
    }

    #[test]
    fn date_prefix_rejects_non_dates() {
        for bad in [
            "",
            "2026",
            "2026-05",
            "2026-5-14",
            "2026/05/14",
            "2026-13-01",
            "2026-02-29",
            "2026-04-31",
            "2026-05-00",
            "2026-05-145",
            "2026-05-14Z",
            "+026-05-14",
            "20260514T000000",
            "x2026-05-14",
            "2026-0é-14",
            "２０２６-05-14",
        ] {
            assert_eq!(parse_date_prefix(bad), None, "{bad}");
        }
    }
}
