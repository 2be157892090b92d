//! The annual resident satisfaction survey: shares of answers with 95 % Wilson intervals, by
//! village, sex and age band, and year over year with Newcombe's interval for the change.
//!
//! Responses are anonymous: what is read here is the year, the village, the bands and the
//! answers; nothing else is kept or shown. A share is of the respondents who answered the
//! question (an unanswered question is not a "no"); for a multiple choice each option's share
//! is of those who answered, so shares may add up to more than 100 %.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value};
use sync_protocol::{FormDef, Labels, QuestionKind};

use super::stats::{self, Z95};

/// The fields a breakdown may group by, when the instrument has them.
pub const BREAKDOWNS: [&str; 3] = ["village", "sex", "age_band"];

/// One response as the analysis sees it.
#[derive(Debug, Clone)]
pub struct Response {
    pub year: i32,
    pub fields: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChoiceShare {
    pub value: String,
    pub label: Option<Labels>,
    pub count: u64,
    /// Per cent of those who answered.
    pub share: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shares {
    /// Respondents who answered the question.
    pub n: u64,
    pub choices: Vec<ChoiceShare>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct YearShares {
    pub year: i32,
    #[serde(flatten)]
    pub shares: Shares,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupShares {
    pub group: String,
    pub year: i32,
    #[serde(flatten)]
    pub shares: Shares,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub choice: String,
    pub from_year: i32,
    pub to_year: i32,
    /// Percentage points, later year minus earlier.
    pub change: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// The 95 % interval of the change leaves out zero.
    pub significant: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuestionResult {
    pub key: String,
    pub label: Labels,
    pub kind: &'static str,
    pub years: Vec<YearShares>,
    /// By village, sex and age band: each group in each year.
    pub by: BTreeMap<&'static str, Vec<GroupShares>>,
    pub year_over_year: Vec<Change>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SurveyResults {
    pub respondents: BTreeMap<i32, u64>,
    pub confidence: f64,
    pub interval: &'static str,
    pub change_interval: &'static str,
    pub questions: Vec<QuestionResult>,
}

/// A categorical question: key, label, kind, and its options with their labels.
type Categorical = (String, Labels, &'static str, Vec<(String, Option<Labels>)>);

/// The categorical questions of the instruments, by key, labelled as in the latest year that
/// asks them (keys are stable across years; wording may improve).
fn questions(forms: &[FormDef]) -> Vec<Categorical> {
    let mut sorted: Vec<&FormDef> = forms.iter().collect();
    sorted.sort_by_key(|f| std::cmp::Reverse((f.year, f.version)));
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for form in sorted {
        for q in &form.questions {
            let key = q.key.as_str().to_owned();
            let (kind, choices): (&'static str, Vec<(String, Option<Labels>)>) = match &q.kind {
                QuestionKind::SelectOne { choices } => (
                    "select_one",
                    choices
                        .iter()
                        .map(|c| (c.value.clone(), Some(c.label.clone())))
                        .collect(),
                ),
                QuestionKind::SelectMultiple { choices, .. } => (
                    "select_multiple",
                    choices
                        .iter()
                        .map(|c| (c.value.clone(), Some(c.label.clone())))
                        .collect(),
                ),
                QuestionKind::Boolean => (
                    "boolean",
                    vec![("true".to_owned(), None), ("false".to_owned(), None)],
                ),
                _ => continue,
            };
            if seen.insert(key.clone()) {
                out.push((key, q.label.clone(), kind, choices));
            }
        }
    }
    out
}

/// The options a response chose for a question, as text.
fn chosen(answer: Option<&Value>) -> Option<Vec<String>> {
    match answer? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Bool(b) => Some(vec![b.to_string()]),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        ),
        _ => None,
    }
}

/// The shares of a question's options among the answers given, each answer with how many
/// respondents gave it.
fn shares<'a>(
    choices: &[(String, Option<Labels>)],
    answers: impl Iterator<Item = (Option<&'a Value>, u64)>,
) -> Shares {
    let mut n = 0u64;
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for (answer, weight) in answers {
        let Some(picked) = chosen(answer) else {
            continue;
        };
        n += weight;
        for (value, _) in choices {
            if picked.iter().any(|p| p == value) {
                *counts.entry(value).or_default() += weight;
            }
        }
    }
    let choices = choices
        .iter()
        .map(|(value, label)| {
            let count = counts.get(value.as_str()).copied().unwrap_or(0);
            let ci = stats::wilson(count, n, Z95);
            ChoiceShare {
                value: value.clone(),
                label: label.clone(),
                count,
                share: if n == 0 {
                    0.0
                } else {
                    count as f64 / n as f64 * 100.0
                },
                ci_low: ci.map_or(0.0, |c| c.lower * 100.0),
                ci_high: ci.map_or(100.0, |c| c.upper * 100.0),
            }
        })
        .collect();
    Shares { n, choices }
}

/// How often each answer was given, by year: all the years and their changes need. The public
/// panel reads this, counted by the database, instead of every response.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub respondents: BTreeMap<i32, u64>,
    /// By year and question: each answer given, with how many gave it.
    pub answers: BTreeMap<(i32, String), Vec<(Value, u64)>>,
}

impl Tally {
    pub fn add_respondents(&mut self, year: i32, count: u64) {
        *self.respondents.entry(year).or_default() += count;
    }

    pub fn add_answer(&mut self, year: i32, question: &str, answer: Value, count: u64) {
        self.answers
            .entry((year, question.to_owned()))
            .or_default()
            .push((answer, count));
    }
}

/// The keys of the questions the analysis counts (the categorical ones).
pub fn counted_questions(forms: &[FormDef]) -> Vec<String> {
    questions(forms).into_iter().map(|q| q.0).collect()
}

/// Analyses the responses of one municipality's survey over the years.
pub fn analyse(forms: &[FormDef], responses: &[Response]) -> SurveyResults {
    analyse_with(forms, responses, true)
}

/// As `analyse`; without the breakdowns by village, sex and age band when `breakdowns` is false
/// (the public panel shows the years, and the breakdowns cost most of the work).
pub fn analyse_with(forms: &[FormDef], responses: &[Response], breakdowns: bool) -> SurveyResults {
    let mut respondents: BTreeMap<i32, u64> = BTreeMap::new();
    for r in responses {
        *respondents.entry(r.year).or_default() += 1;
    }
    assemble(
        forms,
        respondents,
        |key, choices, year| {
            shares(
                choices,
                responses
                    .iter()
                    .filter(|r| r.year == year)
                    .map(|r| (r.fields.get(key), 1)),
            )
        },
        |key, choices| {
            if breakdowns {
                breakdown(key, choices, responses)
            } else {
                BTreeMap::new()
            }
        },
    )
}

/// The years and their changes from counts alone: what `analyse_with(.., false)` answers.
pub fn analyse_tally(forms: &[FormDef], tally: &Tally) -> SurveyResults {
    assemble(
        forms,
        tally.respondents.clone(),
        |key, choices, year| {
            let given = tally
                .answers
                .get(&(year, key.to_owned()))
                .map(Vec::as_slice)
                .unwrap_or_default();
            shares(choices, given.iter().map(|(v, n)| (Some(v), *n)))
        },
        |_, _| BTreeMap::new(),
    )
}

type Choices = [(String, Option<Labels>)];

fn assemble(
    forms: &[FormDef],
    respondents: BTreeMap<i32, u64>,
    of_year: impl Fn(&str, &Choices, i32) -> Shares,
    by: impl Fn(&str, &Choices) -> BTreeMap<&'static str, Vec<GroupShares>>,
) -> SurveyResults {
    let years: Vec<i32> = respondents.keys().copied().collect();
    let mut out = Vec::new();
    for (key, label, kind, choices) in questions(forms) {
        let per_year: Vec<YearShares> = years
            .iter()
            .map(|&year| YearShares {
                year,
                shares: of_year(&key, &choices, year),
            })
            .filter(|y| y.shares.n > 0)
            .collect();
        let by = by(&key, &choices);
        let mut year_over_year = Vec::new();
        for pair in per_year.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            for (ca, cb) in a.shares.choices.iter().zip(&b.shares.choices) {
                let Some(ci) =
                    stats::newcombe_difference(ca.count, a.shares.n, cb.count, b.shares.n, Z95)
                else {
                    continue;
                };
                year_over_year.push(Change {
                    choice: ca.value.clone(),
                    from_year: a.year,
                    to_year: b.year,
                    change: cb.share - ca.share,
                    ci_low: ci.lower * 100.0,
                    ci_high: ci.upper * 100.0,
                    significant: ci.lower > 0.0 || ci.upper < 0.0,
                });
            }
        }
        out.push(QuestionResult {
            key,
            label,
            kind,
            years: per_year,
            by,
            year_over_year,
        });
    }
    SurveyResults {
        respondents,
        confidence: 0.95,
        interval: "wilson",
        change_interval: "newcombe-wilson",
        questions: out,
    }
}

/// A question's shares by village, sex and age band, each group in each year.
fn breakdown(
    key: &str,
    choices: &Choices,
    responses: &[Response],
) -> BTreeMap<&'static str, Vec<GroupShares>> {
    let mut by = BTreeMap::new();
    for dim in BREAKDOWNS {
        if dim == key {
            continue;
        }
        let mut groups: BTreeSet<(i32, String)> = BTreeSet::new();
        for r in responses {
            if let Some(g) = r.fields.get(dim).and_then(Value::as_str) {
                groups.insert((r.year, g.to_owned()));
            }
        }
        let rows: Vec<GroupShares> = groups
            .into_iter()
            .map(|(year, group)| GroupShares {
                shares: shares(
                    choices,
                    responses
                        .iter()
                        .filter(|r| {
                            r.year == year
                                && r.fields.get(dim).and_then(Value::as_str) == Some(&group)
                        })
                        .map(|r| (r.fields.get(key), 1)),
                ),
                group,
                year,
            })
            .filter(|g| g.shares.n > 0)
            .collect();
        if !rows.is_empty() {
            by.insert(dim, rows);
        }
    }
    by
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form() -> FormDef {
        serde_json::from_value(json!({
            "id": "survey", "version": 1, "collection": "survey_responses", "year": 2025,
            "title": {"ky": "k", "ru": "r", "en": "e"},
            "questions": [
                {"key": "sex", "type": "select_one", "label": {"ky": "k", "ru": "r", "en": "e"},
                 "choices": [{"value": "f", "label": {"ky": "k", "ru": "r", "en": "e"}},
                             {"value": "m", "label": {"ky": "k", "ru": "r", "en": "e"}}]},
                {"key": "happy", "type": "boolean", "label": {"ky": "k", "ru": "r", "en": "e"}},
                {"key": "note", "type": "text", "label": {"ky": "k", "ru": "r", "en": "e"}}
            ]
        }))
        .unwrap()
    }

    fn response(year: i32, sex: &str, happy: Option<bool>) -> Response {
        let mut fields = json!({"sex": sex, "village": "V"})
            .as_object()
            .unwrap()
            .clone();
        if let Some(h) = happy {
            fields.insert("happy".into(), json!(h));
        }
        Response { year, fields }
    }

    #[test]
    fn shares_by_hand() {
        // 2025: 3 of 4 answering are happy; one did not answer. 2026: 1 of 4.
        let mut rs = vec![
            response(2025, "f", Some(true)),
            response(2025, "f", Some(true)),
            response(2025, "m", Some(true)),
            response(2025, "m", Some(false)),
            response(2025, "m", None),
        ];
        rs.extend([
            response(2026, "f", Some(false)),
            response(2026, "f", Some(false)),
            response(2026, "m", Some(false)),
            response(2026, "m", Some(true)),
        ]);
        let out = analyse(&[form()], &rs);
        assert_eq!(out.respondents[&2025], 5);
        let keys: Vec<&str> = out.questions.iter().map(|q| q.key.as_str()).collect();
        assert_eq!(keys, ["sex", "happy"]);
        let happy = &out.questions[1];
        let y25 = &happy.years[0];
        assert_eq!((y25.year, y25.shares.n), (2025, 4));
        let yes = &y25.shares.choices[0];
        assert_eq!(
            (yes.value.as_str(), yes.count, yes.share),
            ("true", 3, 75.0)
        );
        // Wilson 3/4: centre (3 + z²/2)/(4 + z²) = 4.9208/7.8415 = 0.6275, half-width
        // z·sqrt(3·1/4 + z²/4)/(4 + z²) = 1.96·sqrt(0.75 + 0.9604)/7.8415 = 0.3269.
        assert!((yes.ci_low - 30.06).abs() < 0.01, "{}", yes.ci_low);
        assert!((yes.ci_high - 95.44).abs() < 0.01, "{}", yes.ci_high);
        // By sex in 2025: women 2 of 2 happy, men 1 of 2.
        let by_sex = &happy.by["sex"];
        let f25 = by_sex
            .iter()
            .find(|g| g.group == "f" && g.year == 2025)
            .unwrap();
        assert_eq!(f25.shares.choices[0].share, 100.0);
        let m25 = by_sex
            .iter()
            .find(|g| g.group == "m" && g.year == 2025)
            .unwrap();
        assert_eq!(m25.shares.choices[0].share, 50.0);
        // 75 % to 25 %: −50 points; with four a year the interval still holds zero.
        let change = &happy.year_over_year[0];
        assert_eq!((change.from_year, change.to_year), (2025, 2026));
        assert_eq!(change.change, -50.0);
        assert!(change.ci_low < 0.0 && change.ci_high > 0.0);
        assert!(!change.significant);
    }

    #[test]
    fn a_large_change_is_significant() {
        let mut rs = Vec::new();
        for i in 0..200 {
            rs.push(response(2025, "f", Some(i < 60))); // 30 %
            rs.push(response(2026, "f", Some(i < 120))); // 60 %
        }
        let out = analyse(&[form()], &rs);
        let change = &out.questions[1].year_over_year[0];
        assert!((change.change - 30.0).abs() < 1e-9);
        assert!(change.significant, "{change:?}");
        assert!(change.ci_low > 20.0 && change.ci_high < 40.0, "{change:?}");
    }

    #[test]
    fn counts_alone_give_what_the_responses_give() {
        let mut rs = Vec::new();
        for i in 0..37 {
            rs.push(response(
                2024,
                if i % 3 == 0 { "f" } else { "m" },
                Some(i % 4 == 0),
            ));
            rs.push(response(2025, "f", (i % 5 != 0).then_some(i % 2 == 0)));
        }
        // As the database groups them: each distinct answer to each question, per year.
        let mut tally = Tally::default();
        let mut grouped: BTreeMap<(i32, String, String), (Value, u64)> = BTreeMap::new();
        for r in &rs {
            tally.add_respondents(r.year, 1);
            for (key, value) in &r.fields {
                grouped
                    .entry((r.year, key.clone(), value.to_string()))
                    .or_insert((value.clone(), 0))
                    .1 += 1;
            }
        }
        for ((year, key, _), (value, n)) in grouped {
            tally.add_answer(year, &key, value, n);
        }
        assert_eq!(
            analyse_tally(&[form()], &tally),
            analyse_with(&[form()], &rs, false)
        );
        assert_eq!(counted_questions(&[form()]), ["sex", "happy"]);
    }
}
