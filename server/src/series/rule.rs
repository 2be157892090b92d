//! How an indicator's values are derived: the `rule` column of the indicator CSV.
//!
//! - `{"type": "aggregate", "form": F, "field": Q, "fn": FN, "values": [...]}`: an aggregate of
//!   question Q over the submissions of form F in the municipality. FN is `mean`, `sum`, `count`
//!   (answered submissions), `min`, `max`, `latest` (the answer of the latest capture) or `share`
//!   (per cent of answers that are in `values`; a multiple choice counts when any chosen option
//!   is in the set).
//! - `{"type": "lsg_entry", "fn": FN}`: values entered by LSG staff for a period. A coarser
//!   period without an entry of its own rolls up the entries inside it with FN (default
//!   `latest`; `sum` for counts such as repairs).
//! - `{"type": "ratio", "numerator": A, "denominator": B, "scale": S}`: A / B × S (S defaults
//!   to 1; 100 for a percentage) for each period both have. A and B are indicator codes, or
//!   suffixes of codes within the same municipality (`WAT-BUDGET` for `KG-N-AB-01-WAT-BUDGET`).

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Func {
    Mean,
    Sum,
    Count,
    Min,
    Max,
    Latest,
    Share,
}

impl Func {
    pub fn name(self) -> &'static str {
        match self {
            Self::Mean => "mean",
            Self::Sum => "sum",
            Self::Count => "count",
            Self::Min => "min",
            Self::Max => "max",
            Self::Latest => "latest",
            Self::Share => "share",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rule {
    Aggregate {
        form: String,
        field: String,
        #[serde(rename = "fn")]
        func: Func,
        #[serde(default)]
        values: Vec<Value>,
    },
    LsgEntry {
        #[serde(rename = "fn", default = "latest")]
        func: Func,
    },
    Ratio {
        numerator: String,
        denominator: String,
        #[serde(default = "one")]
        scale: f64,
    },
}

fn latest() -> Func {
    Func::Latest
}

fn one() -> f64 {
    1.0
}

impl Rule {
    /// Reads and checks a rule; the message says what is wrong in terms of the CSV column.
    pub fn parse(rule: &Value) -> Result<Rule, String> {
        let parsed: Rule = serde_json::from_value(rule.clone()).map_err(|e| e.to_string())?;
        match &parsed {
            Rule::Aggregate {
                func: Func::Share,
                values,
                ..
            } if values.is_empty() => {
                return Err("a share needs \"values\": the answers that count".into());
            }
            Rule::Aggregate { func, values, .. } if *func != Func::Share && !values.is_empty() => {
                return Err(format!(
                    "\"values\" only goes with fn share, not {}",
                    func.name()
                ));
            }
            Rule::Aggregate { form, field, .. } if form.is_empty() || field.is_empty() => {
                return Err("an aggregate needs a form and a field".into());
            }
            Rule::LsgEntry { func: Func::Share } => {
                return Err("LSG entries roll up by mean, sum, count, min, max or latest".into());
            }
            Rule::Ratio { scale, .. } if !scale.is_finite() || *scale == 0.0 => {
                return Err("a ratio's scale must be a non-zero number".into());
            }
            _ => {}
        }
        Ok(parsed)
    }

    /// The number one submission contributes, or `None` when it does not count (unanswered, or
    /// an answer of the wrong type).
    pub fn contribution(&self, answer: Option<&Value>) -> Option<f64> {
        let Rule::Aggregate { func, values, .. } = self else {
            return None;
        };
        let answer = answer.filter(|a| !a.is_null())?;
        match func {
            Func::Count => Some(1.0),
            Func::Share => {
                let hit = match answer {
                    Value::Array(chosen) => chosen.iter().any(|c| values.contains(c)),
                    one => values.contains(one),
                };
                Some(if hit { 1.0 } else { 0.0 })
            }
            _ => match answer {
                Value::Number(n) => n.as_f64().filter(|v| v.is_finite()),
                Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::acc::{Acc, Point};
    use serde_json::json;

    fn aggregate(func: Func, points: &[Point<'_>]) -> Option<f64> {
        Acc::of(points.iter().cloned()).value(func)
    }

    fn points(values: &[(f64, &'static str)]) -> Vec<Point<'static>> {
        values
            .iter()
            .enumerate()
            .map(|(i, (value, at))| Point {
                value: *value,
                at,
                source: ["a", "b", "c", "d", "e"][i],
            })
            .collect()
    }

    #[test]
    fn every_function_by_hand() {
        let p = points(&[
            (4.0, "2026-01-10"),
            (10.0, "2026-03-01"),
            (1.0, "2026-02-15"),
        ]);
        assert_eq!(aggregate(Func::Mean, &p), Some(5.0)); // 15 / 3
        assert_eq!(aggregate(Func::Sum, &p), Some(15.0));
        assert_eq!(aggregate(Func::Min, &p), Some(1.0));
        assert_eq!(aggregate(Func::Max, &p), Some(10.0));
        assert_eq!(aggregate(Func::Latest, &p), Some(10.0)); // captured 2026-03-01
        let ones = points(&[(1.0, "x"), (1.0, "x"), (1.0, "x"), (1.0, "x")]);
        assert_eq!(aggregate(Func::Count, &ones), Some(4.0));
        let hits = points(&[(1.0, "x"), (0.0, "x"), (1.0, "x"), (1.0, "x")]);
        assert_eq!(aggregate(Func::Share, &hits), Some(75.0)); // 3 of 4
        assert_eq!(aggregate(Func::Mean, &[]), None);
        // Same capture time: the larger source id decides, so every replica agrees.
        let tie = points(&[(1.0, "2026-01-01"), (2.0, "2026-01-01")]);
        assert_eq!(aggregate(Func::Latest, &tie), Some(2.0));
    }

    #[test]
    fn contributions() {
        let share = Rule::parse(&json!({"type": "aggregate", "form": "f", "field": "q",
            "fn": "share", "values": ["yes", true]}))
        .unwrap();
        assert_eq!(share.contribution(Some(&json!("yes"))), Some(1.0));
        assert_eq!(share.contribution(Some(&json!("no"))), Some(0.0));
        assert_eq!(share.contribution(Some(&json!(["no", "yes"]))), Some(1.0));
        assert_eq!(share.contribution(Some(&json!(true))), Some(1.0));
        assert_eq!(share.contribution(Some(&Value::Null)), None);
        assert_eq!(share.contribution(None), None);
        let mean = Rule::parse(&json!({"type": "aggregate", "form": "f", "field": "q",
            "fn": "mean"}))
        .unwrap();
        assert_eq!(mean.contribution(Some(&json!(2.5))), Some(2.5));
        assert_eq!(mean.contribution(Some(&json!("2.5"))), None);
        let count = Rule::parse(&json!({"type": "aggregate", "form": "f", "field": "q",
            "fn": "count"}))
        .unwrap();
        assert_eq!(count.contribution(Some(&json!("F-01"))), Some(1.0));
    }

    #[test]
    fn bad_rules_are_explained() {
        for (rule, needle) in [
            (
                json!({"type": "aggregate", "form": "f", "field": "q", "fn": "share"}),
                "values",
            ),
            (
                json!({"type": "aggregate", "form": "f", "field": "q", "fn": "median"}),
                "median",
            ),
            (
                json!({"type": "aggregate", "form": "f", "fn": "mean"}),
                "field",
            ),
            (json!({"type": "ratio", "numerator": "A"}), "denominator"),
            (
                json!({"type": "ratio", "numerator": "A", "denominator": "B", "scale": 0}),
                "scale",
            ),
            (json!({"type": "lsg_entry", "fn": "share"}), "roll up"),
            (json!({"type": "lsg_entry", "colour": "red"}), "colour"),
        ] {
            let e = Rule::parse(&rule).unwrap_err();
            assert!(e.contains(needle), "{rule}: {e}");
        }
        assert_eq!(
            Rule::parse(&json!({"type": "lsg_entry"})).unwrap(),
            Rule::LsgEntry { func: Func::Latest }
        );
    }
}
