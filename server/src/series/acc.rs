//! What a value keeps of its contributions so that a change moves it without reading the rest.
//!
//! A yearly value of a busy municipality rests on thousands of submissions; recomputing it from
//! all of them on every push made the projector's cost grow with the database. An [`Acc`] is
//! kept beside each value instead: a new contribution is added to it, a withdrawn one taken
//! out. Sums are kept in exact fixed point (nanounits in an `i128`), so adding and taking out
//! in any order gives the very bits a rebuild from the contributions gives; the smallest,
//! largest and latest contribution cannot be taken out without knowing the rest, so taking out
//! one of those answers `false` and the value is recomputed from its facts.

use serde::{Deserialize, Serialize};

use super::rule::Func;

/// Fixed-point units per unit of a contribution: contributions are exact to nine decimals.
const SCALE: f64 = 1e9;

/// One contribution: its number, when it was captured (text order is time order) and the id
/// that breaks ties.
#[derive(Debug, Clone, PartialEq)]
pub struct Point<'a> {
    pub value: f64,
    pub at: &'a str,
    pub source: &'a str,
}

/// The contribution captured last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latest {
    pub at: String,
    pub source: String,
    pub value: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Acc {
    pub n: i64,
    /// The exact sum in nanounits, as decimal text (JSON numbers cannot carry an `i128`).
    #[serde(with = "i128_text")]
    pub sum: i128,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub latest: Option<Latest>,
}

fn fixed(value: f64) -> i128 {
    // `as` saturates; a contribution beyond ±1.7e29 is not a measurement.
    (value * SCALE).round() as i128
}

impl Acc {
    pub fn of<'a>(points: impl IntoIterator<Item = Point<'a>>) -> Acc {
        let mut acc = Acc::default();
        for p in points {
            acc.add(&p);
        }
        acc
    }

    pub fn add(&mut self, p: &Point<'_>) {
        // -0 as 0, so that which of the two comes first cannot change the smallest.
        let value = p.value + 0.0;
        self.n += 1;
        self.sum += fixed(value);
        self.min = Some(self.min.map_or(value, |m| m.min(value)));
        self.max = Some(self.max.map_or(value, |m| m.max(value)));
        let later = self
            .latest
            .as_ref()
            .is_none_or(|l| (p.at, p.source) > (l.at.as_str(), l.source.as_str()));
        if later {
            self.latest = Some(Latest {
                at: p.at.to_owned(),
                source: p.source.to_owned(),
                value,
            });
        }
    }

    /// Takes a contribution out; `false` when what is left cannot be known without the other
    /// contributions (it was the smallest, the largest or the latest), and `self` is then
    /// unusable.
    #[must_use]
    pub fn remove(&mut self, p: &Point<'_>) -> bool {
        let edge = self.min == Some(p.value)
            || self.max == Some(p.value)
            || self
                .latest
                .as_ref()
                .is_some_and(|l| l.at == p.at && l.source == p.source);
        if self.n <= 1 {
            *self = Acc::default();
            return true;
        }
        self.n -= 1;
        self.sum -= fixed(p.value);
        !edge
    }

    /// The value under `func`; `None` without contributions. Contributions arrive already
    /// transformed by `Rule::contribution`, so count sums ones and share averages ones and
    /// zeros.
    pub fn value(&self, func: Func) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let sum = self.sum as f64 / SCALE;
        let n = self.n as f64;
        match func {
            Func::Mean => Some(sum / n),
            Func::Sum | Func::Count => Some(sum),
            Func::Share => Some(sum / n * 100.0),
            Func::Min => self.min,
            Func::Max => self.max,
            Func::Latest => self.latest.as_ref().map(|l| l.value),
        }
    }
}

mod i128_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &i128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i128, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(value: f64, at: &'static str, source: &'static str) -> Point<'static> {
        Point { value, at, source }
    }

    #[test]
    fn sums_are_exact_in_any_order() {
        let points = [
            p(0.1, "2026-01-01", "a"),
            p(0.2, "2026-01-02", "b"),
            p(1e12, "2026-01-03", "c"),
            p(-0.3, "2026-01-04", "d"),
        ];
        let forward = Acc::of(points.iter().cloned());
        let backward = Acc::of(points.iter().rev().cloned());
        assert_eq!(forward, backward);
        assert_eq!(forward.value(Func::Sum), Some(1e12));
        let mut taken = forward.clone();
        assert!(taken.remove(&points[1]));
        assert_eq!(taken.sum, fixed(0.1) + fixed(1e12) + fixed(-0.3));
        let rebuilt = Acc::of([points[0].clone(), points[2].clone(), points[3].clone()]);
        assert_eq!(taken.value(Func::Mean), rebuilt.value(Func::Mean));
    }

    #[test]
    fn taking_out_an_edge_needs_the_rest() {
        let mut acc = Acc::of([
            p(4.0, "2026-01-10", "a"),
            p(10.0, "2026-03-01", "b"),
            p(1.0, "2026-02-15", "c"),
            p(5.0, "2026-01-20", "d"),
        ]);
        assert_eq!(acc.value(Func::Latest), Some(10.0));
        assert!(acc.clone().remove(&p(5.0, "2026-01-20", "d")));
        assert!(!acc.clone().remove(&p(1.0, "2026-02-15", "c"))); // the smallest
        assert!(!acc.clone().remove(&p(10.0, "2026-03-01", "b"))); // largest and latest
        assert!(acc.remove(&p(4.0, "2026-01-10", "a")));
        assert_eq!(acc.n, 3);
        assert_eq!(acc.value(Func::Mean), Some(16.0 / 3.0));
    }

    #[test]
    fn the_last_one_out_leaves_nothing() {
        let mut acc = Acc::of([p(7.0, "2026-01-10", "a")]);
        assert!(acc.remove(&p(7.0, "2026-01-10", "a")));
        assert_eq!(acc, Acc::default());
        assert_eq!(acc.value(Func::Mean), None);
    }

    #[test]
    fn it_travels_as_json() {
        let acc = Acc::of([p(1e12, "2026-01-10", "a"), p(2.5, "2026-01-11", "b")]);
        let text = serde_json::to_string(&acc).unwrap();
        assert!(text.contains("\"1000000000002500000000\""), "{text}");
        assert_eq!(serde_json::from_str::<Acc>(&text).unwrap(), acc);
    }
}
