//! The answers dashboards ask for, assembled from the projection: an indicator's series, a
//! municipality's plan-versus-fact table, its survey results and its scorecard.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use sync_protocol::Scope;
use sync_protocol::review::ReviewStatus;

use super::period::{Period, PeriodKind};
use super::plan::{self, Basis, PlanRow};
use super::rule::Rule;
use super::scorecard::{self, AssessmentItem, Scorecard};
use super::survey::{self, Response, SurveyResults};
use crate::storage::{IndicatorView, Storage, StorageError, StoredValue};

/// What a caller may see of values.
#[derive(Debug, Clone, Copy)]
pub struct View {
    /// Provisional values and evidence ids too (signed-in users and phones of the municipality).
    pub provisional: bool,
    /// Only indicators of delegated state powers (state bodies).
    pub delegated_only: bool,
}

#[derive(Debug, Serialize)]
pub struct SeriesAnswer {
    pub indicator: String,
    pub municipality: String,
    pub facility: Option<String>,
    pub period_kind: &'static str,
    pub unit: String,
    pub rule: serde_json::Value,
    pub values: Vec<StoredValue>,
}

fn visible(indicator: &IndicatorView, view: View) -> bool {
    indicator.delegated || !view.delegated_only
}

fn redact(mut v: StoredValue, view: View) -> StoredValue {
    if !view.provisional {
        v.provisional = None;
        if let Some(o) = v.official.as_mut() {
            o.evidence.clear();
        }
    }
    v
}

async fn indicators(
    storage: &Storage,
    municipality: &Scope,
    view: View,
) -> Result<Vec<IndicatorView>, StorageError> {
    Ok(storage
        .indicators_in(municipality)
        .await?
        .into_iter()
        .filter(|i| visible(i, view))
        .collect())
}

/// The series of one indicator: `None` when there is no such indicator for this caller.
pub async fn series(
    storage: &Storage,
    code: &str,
    municipality: &Scope,
    facility: Option<&str>,
    kind: PeriodKind,
    range: (Option<Period>, Option<Period>),
    view: View,
) -> Result<Option<SeriesAnswer>, StorageError> {
    let Some(indicator) = indicators(storage, municipality, view)
        .await?
        .into_iter()
        .find(|i| i.code == code)
    else {
        return Ok(None);
    };
    let values = storage
        .indicator_values(code, facility.unwrap_or_default(), kind)
        .await?
        .into_iter()
        .filter(|v| {
            let p = v.period.parse::<Period>().ok();
            let after = range
                .0
                .is_none_or(|from| p.is_some_and(|p| p.start() >= from.start()));
            let before = range
                .1
                .is_none_or(|to| p.is_some_and(|p| p.end() <= to.end()));
            after && before
        })
        .map(|v| redact(v, view))
        .filter(|v| v.official.is_some() || v.provisional.is_some())
        .collect();
    Ok(Some(SeriesAnswer {
        indicator: indicator.code,
        municipality: municipality.to_string(),
        facility: facility.map(str::to_owned),
        period_kind: kind.name(),
        unit: indicator.unit,
        rule: indicator.rule,
        values,
    }))
}

#[derive(Debug, Serialize)]
pub struct PlanAnswer {
    pub municipality: String,
    pub period: String,
    pub basis: Basis,
    pub plan_status: Option<String>,
    pub deadline: Option<String>,
    pub forecast_method: &'static str,
    pub achievement_method: &'static str,
    pub status_rule: String,
    pub summary: BTreeMap<&'static str, usize>,
    pub rows: Vec<PlanRow>,
}

/// Plan versus fact for every indicator of the municipality's M&E plan.
pub async fn plan_vs_fact(
    storage: &Storage,
    municipality: &Scope,
    period: Period,
    basis: Basis,
    view: View,
) -> Result<PlanAnswer, StorageError> {
    let values = storage
        .municipality_values_without_evidence(municipality.as_str(), period.kind)
        .await?;
    plan_table(storage, municipality, period, basis, view, &values).await
}

/// Plan versus fact for a year together with the yearly values it was made from.
pub async fn plan_vs_fact_of_year(
    storage: &Storage,
    municipality: &Scope,
    period: Period,
    view: View,
) -> Result<(PlanAnswer, Vec<StoredValue>), StorageError> {
    let values = storage
        .municipality_values_without_evidence(municipality.as_str(), PeriodKind::Year)
        .await?;
    let plan = plan_table(
        storage,
        municipality,
        period,
        Basis::Official,
        view,
        &values,
    )
    .await?;
    Ok((plan, values))
}

/// Plan versus fact from the municipality's values of the period's kind, read by the caller.
async fn plan_table(
    storage: &Storage,
    municipality: &Scope,
    period: Period,
    basis: Basis,
    view: View,
    values: &[StoredValue],
) -> Result<PlanAnswer, StorageError> {
    let plan = storage.plan(municipality).await?;
    let all = indicators(storage, municipality, view).await?;
    let in_plan: Vec<&IndicatorView> = all.iter().filter(|i| i.in_me_plan).collect();
    let sedp_last = storage
        .sedp(municipality)
        .await?
        .map(|s| i32::from(s.to_year));
    let deadline = plan::deadline(sedp_last, period.kind, &in_plan);
    // The evidence ids of the period's own values (one per indicator), for callers who see
    // them; the other values serve trend and forecast.
    let period_text = period.to_string();
    let mut of_period: Vec<StoredValue> = Vec::new();
    if view.provisional {
        of_period = values
            .iter()
            .filter(|v| v.period == period_text)
            .cloned()
            .collect();
        storage.fill_evidence(&mut of_period).await?;
    }
    let filled: HashMap<&str, &StoredValue> = of_period
        .iter()
        .map(|v| (v.indicator.as_str(), v))
        .collect();
    let mut by_indicator: BTreeMap<&str, Vec<&StoredValue>> = BTreeMap::new();
    for v in values {
        let v = match filled.get(v.indicator.as_str()) {
            Some(with_evidence) if v.period == period_text => with_evidence,
            _ => v,
        };
        by_indicator
            .entry(v.indicator.as_str())
            .or_default()
            .push(v);
    }
    let rows: Vec<PlanRow> = in_plan
        .iter()
        .map(|i| {
            let vs = by_indicator
                .get(i.code.as_str())
                .cloned()
                .unwrap_or_default();
            let mut row = plan::row(i, &vs, period, deadline, basis);
            if !view.provisional {
                row.other_basis = None;
                row.evidence.clear();
            }
            row
        })
        .collect();
    Ok(PlanAnswer {
        municipality: municipality.to_string(),
        period: period.to_string(),
        basis,
        plan_status: plan.map(|p| p.status),
        deadline: deadline.map(|d| d.to_string()),
        forecast_method: plan::FORECAST_METHOD,
        achievement_method: "(actual - baseline) / (target - baseline) x 100; actual / target x 100 without a baseline",
        status_rule: format!(
            "on_track when the forecast at the deadline reaches {}% of the planned change, \
             at_risk from {}%, off_track below; without a forecast the same thresholds apply \
             to the period's achievement",
            plan::ON_TRACK_PCT,
            plan::AT_RISK_PCT
        ),
        summary: plan::summary(&rows),
        rows,
    })
}

#[derive(Debug, Serialize)]
pub struct SurveyAnswer {
    pub municipality: String,
    pub form: String,
    pub basis: Basis,
    #[serde(flatten)]
    pub results: SurveyResults,
}

/// Survey results of a municipality for one survey form, over all its yearly versions.
pub async fn survey(
    storage: &Storage,
    municipality: &Scope,
    form: &str,
    basis: Basis,
) -> Result<Option<SurveyAnswer>, StorageError> {
    survey_with(storage, municipality, form, basis, true).await
}

/// As `survey`, with or without the breakdowns by village, sex and age band.
pub async fn survey_with(
    storage: &Storage,
    municipality: &Scope,
    form: &str,
    basis: Basis,
    breakdowns: bool,
) -> Result<Option<SurveyAnswer>, StorageError> {
    let summaries: Vec<_> = storage
        .forms()
        .await?
        .into_iter()
        .filter(|f| f.id.as_str() == form && f.collection == "survey_responses")
        .collect();
    if summaries.is_empty() {
        return Ok(None);
    }
    let mut forms = Vec::new();
    let mut year_of: BTreeMap<u32, Option<u16>> = BTreeMap::new();
    for s in &summaries {
        if let Some(def) = storage.form(&s.id, s.version).await? {
            year_of.insert(s.version, def.year);
            forms.push(def);
        }
    }
    let statuses: Vec<ReviewStatus> = match basis {
        Basis::Official => vec![ReviewStatus::Approved],
        Basis::Provisional => ReviewStatus::ALL
            .into_iter()
            .filter(|s| s.is_counted())
            .collect(),
    };
    // The instrument's year; a response to a version without one counts in the year it was
    // captured.
    let year_of = |version: Option<u32>, captured: Option<i32>| {
        version
            .and_then(|v| year_of.get(&v).copied().flatten())
            .map(i32::from)
            .or(captured)
    };
    let results = if breakdowns {
        let answers = storage
            .survey_answers(municipality.as_str(), form, &statuses)
            .await?;
        let responses: Vec<Response> = answers
            .into_iter()
            .filter_map(|(version, fields)| {
                let captured = fields
                    .get("captured_at")
                    .and_then(|c| c.as_str())
                    .and_then(super::period::parse_date_prefix)
                    .map(|d| d.year());
                Some(Response {
                    year: year_of(version, captured)?,
                    fields,
                })
            })
            .collect();
        survey::analyse_with(&forms, &responses, true)
    } else {
        let questions = survey::counted_questions(&forms);
        let questions: Vec<&str> = questions.iter().map(String::as_str).collect();
        let counted = storage
            .survey_tally(municipality.as_str(), form, &statuses, &questions)
            .await?;
        let mut tally = survey::Tally::default();
        for (version, captured, n) in counted.respondents {
            if let Some(year) = year_of(version, captured) {
                tally.add_respondents(year, n);
            }
        }
        for (version, captured, question, answer, n) in counted.answers {
            if let Some(year) = year_of(version, captured) {
                tally.add_answer(year, &question, answer, n);
            }
        }
        survey::analyse_tally(&forms, &tally)
    };
    Ok(Some(SurveyAnswer {
        municipality: municipality.to_string(),
        form: form.to_owned(),
        basis,
        results,
    }))
}

/// The scorecard of a municipality for a year.
pub async fn scorecard(
    storage: &Storage,
    municipality: &Scope,
    year: i32,
    view: View,
) -> Result<Scorecard, StorageError> {
    let period = Period::new(year, PeriodKind::Year, 1)
        .ok_or_else(|| StorageError::Invalid(format!("{year} is not a year")))?;
    let yearly = storage
        .municipality_values_without_evidence(municipality.as_str(), PeriodKind::Year)
        .await?;
    let table = plan_table(
        storage,
        municipality,
        period,
        Basis::Official,
        view,
        &yearly,
    )
    .await?;
    scorecard_with(storage, municipality, year, view, &table.rows, &yearly).await
}

/// The scorecard from the year's official plan-versus-fact rows and yearly values, for a caller
/// that has them already (the panel).
pub async fn scorecard_with(
    storage: &Storage,
    municipality: &Scope,
    year: i32,
    view: View,
    rows: &[PlanRow],
    yearly: &[StoredValue],
) -> Result<Scorecard, StorageError> {
    let period = Period::new(year, PeriodKind::Year, 1)
        .ok_or_else(|| StorageError::Invalid(format!("{year} is not a year")))?;
    let survey_forms: Vec<String> = storage
        .forms()
        .await?
        .into_iter()
        .filter(|f| f.collection == "survey_responses")
        .map(|f| f.id.to_string())
        .collect();
    let all = indicators(storage, municipality, view).await?;
    let mut opinion = Vec::new();
    for i in &all {
        let Ok(Rule::Aggregate { form, .. }) = Rule::parse(&i.rule) else {
            continue;
        };
        if !survey_forms.contains(&form) {
            continue;
        }
        let here = yearly
            .iter()
            .find(|v| v.indicator == i.code && v.period == period.to_string())
            .and_then(|v| v.official.as_ref());
        if let Some(v) = here {
            opinion.push((i.code.clone(), i.name_en.clone(), v.value, v.n));
        }
    }
    let assessment = storage.assessment(municipality.as_str(), year).await?;
    let items: Option<(Vec<AssessmentItem>, String)> = match assessment {
        Some((items, comment, _, _)) => Some((
            serde_json::from_value(items).map_err(|e| StorageError::Corrupt(e.to_string()))?,
            comment,
        )),
        None => None,
    };
    Ok(scorecard::compute(
        municipality.as_str(),
        year,
        &opinion,
        rows,
        items.as_ref().map(|(i, c)| (i.as_slice(), c.as_str())),
    ))
}
