//! The LSG scorecard of a municipality for a year, from the three sources the monitoring
//! guidance names: residents' opinion (the annual survey), achievement of the SEDP indicators,
//! and the LSG staff's assessment. Each component is 0–100 and shows the inputs it came from;
//! the score is their plain mean, so anyone can redo it by hand.
//!
//! - Residents' opinion: the mean of the municipality's survey-fed indicators for the year
//!   (each a share of residents answering positively, in per cent).
//! - SEDP achievement: the mean achievement of the M&E plan's indicators that have a target
//!   and a value for the year, each capped to 0–100 % so one indicator far past its target
//!   cannot hide others that lag.
//! - Staff assessment: points given over points possible, as entered by AO staff.

use serde::{Deserialize, Serialize};

use super::plan::PlanRow;

pub const METHOD: &str = "mean of the available components, each 0-100";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssessmentItem {
    pub criterion: String,
    pub score: f64,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Input {
    pub item: String,
    pub label: String,
    /// What the input contributes, 0–100.
    pub value: f64,
    /// The raw figures it comes from, in words a deputy can check.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Component {
    pub name: &'static str,
    pub score: Option<f64>,
    pub method: &'static str,
    pub inputs: Vec<Input>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scorecard {
    pub municipality: String,
    pub year: i32,
    pub score: Option<f64>,
    /// All three components had inputs.
    pub complete: bool,
    pub method: &'static str,
    pub components: Vec<Component>,
}

fn mean(inputs: &[Input]) -> Option<f64> {
    (!inputs.is_empty()).then(|| inputs.iter().map(|i| i.value).sum::<f64>() / inputs.len() as f64)
}

/// `survey` are (indicator, name, yearly value in per cent, respondents) of the survey-fed
/// indicators; `plan` the plan-versus-fact rows of the year; `assessment` what AO staff entered.
pub fn compute(
    municipality: &str,
    year: i32,
    survey: &[(String, String, f64, i64)],
    plan: &[PlanRow],
    assessment: Option<(&[AssessmentItem], &str)>,
) -> Scorecard {
    let opinion: Vec<Input> = survey
        .iter()
        .map(|(code, name, value, n)| Input {
            item: code.clone(),
            label: name.clone(),
            value: value.clamp(0.0, 100.0),
            detail: format!("{value:.1} % of {n} respondents"),
        })
        .collect();
    let achievement: Vec<Input> = plan
        .iter()
        .filter_map(|r| {
            let a = r.achievement_pct?;
            Some(Input {
                item: r.indicator.clone(),
                label: r.name_en.clone(),
                value: a.clamp(0.0, 100.0),
                detail: format!(
                    "actual {} against target {} from baseline {}: {a:.1} %",
                    r.actual.map_or("-".into(), |v| format!("{v:.2}")),
                    r.target.map_or("-".into(), |v| format!("{v:.2}")),
                    r.baseline.map_or("-".into(), |v| format!("{v:.2}")),
                ),
            })
        })
        .collect();
    let (staff, staff_score) = match assessment {
        Some((items, comment)) => {
            let got: f64 = items.iter().map(|i| i.score).sum();
            let possible: f64 = items.iter().map(|i| i.max).sum();
            let inputs: Vec<Input> = items
                .iter()
                .map(|i| Input {
                    item: i.criterion.clone(),
                    label: i.criterion.clone(),
                    value: if i.max > 0.0 {
                        i.score / i.max * 100.0
                    } else {
                        0.0
                    },
                    detail: format!(
                        "{} of {} points{}",
                        i.score,
                        i.max,
                        if comment.is_empty() {
                            String::new()
                        } else {
                            format!("; {comment}")
                        }
                    ),
                })
                .collect();
            let score = (possible > 0.0).then(|| got / possible * 100.0);
            (inputs, score)
        }
        None => (Vec::new(), None),
    };
    let components = vec![
        Component {
            name: "residents_opinion",
            score: mean(&opinion),
            method: "mean share of positive answers over the survey-fed indicators",
            inputs: opinion,
        },
        Component {
            name: "sedp_achievement",
            score: mean(&achievement),
            method: "mean achievement of the M&E plan's indicators, each capped to 0-100 %",
            inputs: achievement,
        },
        Component {
            name: "staff_assessment",
            score: staff_score,
            method: "points given over points possible",
            inputs: staff,
        },
    ];
    let present: Vec<f64> = components.iter().filter_map(|c| c.score).collect();
    Scorecard {
        municipality: municipality.to_owned(),
        year,
        score: (!present.is_empty()).then(|| present.iter().sum::<f64>() / present.len() as f64),
        complete: present.len() == components.len(),
        method: METHOD,
        components,
    }
}

/// Checks what AO staff enter; the message names the item.
pub fn check_assessment(items: &[AssessmentItem]) -> Result<(), String> {
    if items.is_empty() {
        return Err("items: at least one criterion".into());
    }
    for (i, item) in items.iter().enumerate() {
        if item.criterion.trim().is_empty() {
            return Err(format!("items[{i}].criterion is empty"));
        }
        if !(item.max.is_finite() && item.max > 0.0) {
            return Err(format!("items[{i}].max must be a positive number"));
        }
        if !(item.score.is_finite() && (0.0..=item.max).contains(&item.score)) {
            return Err(format!(
                "items[{i}].score must lie between 0 and {}",
                item.max
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scorecard_by_hand() {
        let survey = vec![
            ("S1".to_owned(), "water".to_owned(), 60.0, 300),
            ("S2".to_owned(), "trust".to_owned(), 40.0, 300),
        ];
        let items = vec![
            AssessmentItem {
                criterion: "budget transparency".into(),
                score: 3.0,
                max: 5.0,
            },
            AssessmentItem {
                criterion: "service delivery".into(),
                score: 4.0,
                max: 5.0,
            },
        ];
        let card = compute("M", 2026, &survey, &[], Some((&items, "")));
        // Opinion (60 + 40) / 2 = 50; staff 7 / 10 = 70; no plan rows: SEDP missing.
        assert_eq!(card.components[0].score, Some(50.0));
        assert_eq!(card.components[1].score, None);
        assert_eq!(card.components[2].score, Some(70.0));
        assert_eq!(card.score, Some(60.0));
        assert!(!card.complete);
        assert_eq!(card.components[2].inputs[0].detail, "3 of 5 points");
    }

    #[test]
    fn bad_assessments_are_named() {
        let bad = |score: f64, max: f64| {
            check_assessment(&[AssessmentItem {
                criterion: "c".into(),
                score,
                max,
            }])
            .unwrap_err()
        };
        assert!(bad(6.0, 5.0).contains("items[0].score"));
        assert!(bad(1.0, 0.0).contains("items[0].max"));
        assert!(bad(f64::NAN, 5.0).contains("score"));
        assert!(check_assessment(&[]).is_err());
    }
}
