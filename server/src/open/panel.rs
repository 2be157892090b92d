//! What the public panel of a municipality shows, assembled from official figures only: the
//! approved M&E plan's indicators with plan versus fact, the survey year over year, the
//! scorecard, and each facility's latest monitored state. The page and the JSON export both
//! render this one structure, so they cannot disagree.

use std::collections::BTreeMap;

use serde::Serialize;
use sync_protocol::Scope;

use crate::series::plan::{self, Basis, Status};
use crate::series::scorecard::Scorecard;
use crate::series::tables::{self, PlanAnswer, SurveyAnswer, View};
use crate::series::{Func, Period, PeriodKind, Rule};
use crate::storage::{ChainPosition, Storage, StorageError, StoredFacility, StoredTerritory};

/// What anyone may see: official values only, every indicator.
pub const PUBLIC: View = View {
    provisional: false,
    delegated_only: false,
};

#[derive(Debug, Serialize)]
pub struct Panel {
    pub municipality: StoredTerritory,
    /// Rayon and oblast, from the nearest up.
    pub parents: Vec<StoredTerritory>,
    pub year: i32,
    pub years: Vec<i32>,
    /// Plan versus fact of the year; empty rows while the M&E plan is not approved.
    pub plan: PlanAnswer,
    pub plan_approved: bool,
    pub surveys: Vec<SurveyAnswer>,
    pub scorecard: Scorecard,
    pub facilities: Vec<FacilityState>,
    /// Recommendations the team adopted, and what became of them.
    pub recommendations: Vec<crate::council::Recommendation>,
    pub council_decisions: Vec<crate::storage::CouncilDecision>,
    /// The audit chain's head when the panel was read.
    pub audit: ChainPosition,
    /// The municipality's boundary as GeoJSON text, for the map.
    #[serde(skip)]
    pub boundary: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct FacilityState {
    #[serde(flatten)]
    pub facility: StoredFacility,
    pub approved_visits: i64,
    /// Day of the latest approved visit.
    pub last_visit: Option<String>,
    /// The latest official monthly value of each indicator measured at the facility.
    pub latest: Vec<LatestValue>,
    /// `good`, `warn`, `bad` against the year's targets, or `none` before any approved visit.
    pub state: &'static str,
}

#[derive(Debug, Serialize)]
pub struct LatestValue {
    pub indicator: String,
    pub period: String,
    pub value: f64,
    pub target: Option<f64>,
    pub achievement_pct: Option<f64>,
}

/// `None` when the code names no municipality.
pub async fn assemble(
    storage: &Storage,
    territories: &[StoredTerritory],
    code: &str,
    year: Option<i32>,
    today_year: i32,
) -> Result<Option<Panel>, StorageError> {
    let Some(municipality) = territories
        .iter()
        .find(|t| t.code == code && t.level == "municipality")
        .cloned()
    else {
        return Ok(None);
    };
    let Ok(scope) = Scope::parse(code) else {
        return Ok(None);
    };
    let parents = parents_of(territories, &municipality);
    let years = years_of(storage, &scope, today_year).await?;
    let year = year
        .filter(|y| years.contains(y))
        .unwrap_or_else(|| default_year(&years, today_year));
    let period = Period::new(year, PeriodKind::Year, 1)
        .ok_or_else(|| StorageError::Invalid(format!("{year} is not a year")))?;
    let (mut plan, yearly) = tables::plan_vs_fact_of_year(storage, &scope, period, PUBLIC).await?;
    let scorecard =
        tables::scorecard_with(storage, &scope, year, PUBLIC, &plan.rows, &yearly).await?;
    let plan_approved = plan.plan_status.as_deref() == Some("approved");
    if !plan_approved {
        plan.rows.clear();
        plan.summary.clear();
    }
    let mut surveys = Vec::new();
    let mut survey_forms: Vec<String> = storage
        .forms()
        .await?
        .into_iter()
        .filter(|f| f.collection == "survey_responses")
        .map(|f| f.id.to_string())
        .collect();
    survey_forms.sort();
    survey_forms.dedup();
    for form in survey_forms {
        if let Some(answer) =
            tables::survey_with(storage, &scope, &form, Basis::Official, false).await?
            && !answer.results.respondents.is_empty()
        {
            surveys.push(answer);
        }
    }
    let facilities = facility_states(storage, &scope, &plan).await?;
    let today = super::today_utc();
    let recommendations = crate::council::list(storage, &scope, &today)
        .await?
        .into_iter()
        .filter(|r| r.status != crate::council::Status::Draft)
        .collect();
    let council_decisions = storage.council_decisions(scope.as_str()).await?;
    let audit = storage.chain_head().await?;
    let boundary = storage.visit_place(scope.as_str(), None).await?.boundary;
    Ok(Some(Panel {
        boundary,
        municipality,
        parents,
        year,
        years,
        plan,
        plan_approved,
        surveys,
        scorecard,
        facilities,
        recommendations,
        council_decisions,
        audit,
    }))
}

pub fn parents_of(territories: &[StoredTerritory], of: &StoredTerritory) -> Vec<StoredTerritory> {
    let mut out = Vec::new();
    let mut parent = of.parent.clone();
    while let Some(code) = parent {
        let Some(t) = territories.iter().find(|t| t.code == code) else {
            break;
        };
        parent = t.parent.clone();
        out.push(t.clone());
        if out.len() > 4 {
            break;
        }
    }
    out
}

/// The years the SEDP covers, or those with yearly values when there is no SEDP.
async fn years_of(
    storage: &Storage,
    scope: &Scope,
    today_year: i32,
) -> Result<Vec<i32>, StorageError> {
    if let Some(sedp) = storage.sedp(scope).await? {
        let (from, to) = (i32::from(sedp.from_year), i32::from(sedp.to_year));
        if from <= to && to - from < 50 {
            return Ok((from..=to).collect());
        }
    }
    let mut years: Vec<i32> = storage
        .municipality_values_without_evidence(scope.as_str(), PeriodKind::Year)
        .await?
        .iter()
        .filter_map(|v| v.period.parse::<i32>().ok())
        .collect();
    years.sort_unstable();
    years.dedup();
    if years.is_empty() {
        years.push(today_year);
    }
    Ok(years)
}

/// This year when the programme covers it, else the nearest year it covers.
fn default_year(years: &[i32], today_year: i32) -> i32 {
    if years.contains(&today_year) {
        return today_year;
    }
    years
        .iter()
        .copied()
        .filter(|y| *y <= today_year)
        .max()
        .or_else(|| years.first().copied())
        .unwrap_or(today_year)
}

async fn facility_states(
    storage: &Storage,
    scope: &Scope,
    plan: &PlanAnswer,
) -> Result<Vec<FacilityState>, StorageError> {
    let facilities = storage.facilities_of(scope.as_str()).await?;
    let visits: BTreeMap<String, (i64, String)> = storage
        .facility_visits(scope.as_str())
        .await?
        .into_iter()
        .map(|v| (v.facility, (v.approved, v.latest)))
        .collect();
    // A facility's state is read from levels (a mean, a share, the latest reading); a monthly
    // count or sum set against a yearly target would say nothing about the facility.
    let levels: std::collections::BTreeSet<String> = storage
        .indicators_in(scope)
        .await?
        .into_iter()
        .filter(|i| {
            matches!(
                Rule::parse(&i.rule),
                Ok(Rule::Aggregate {
                    func: Func::Mean | Func::Share | Func::Min | Func::Max | Func::Latest,
                    ..
                })
            )
        })
        .map(|i| i.code)
        .collect();
    let mut latest: BTreeMap<(String, String), (String, f64)> = BTreeMap::new();
    let pairs: Vec<(&str, &str)> = facilities
        .iter()
        .filter(|f| visits.contains_key(&f.code))
        .flat_map(|f| levels.iter().map(move |i| (i.as_str(), f.code.as_str())))
        .collect();
    for (indicator, facility, period, value) in storage.latest_official_months(&pairs).await? {
        latest.insert((facility, indicator), (period, value));
    }
    let rows: BTreeMap<&str, &plan::PlanRow> = plan
        .rows
        .iter()
        .map(|r| (r.indicator.as_str(), r))
        .collect();
    let mut out = Vec::new();
    for facility in facilities {
        let (approved_visits, last_visit) = match visits.get(&facility.code) {
            Some((n, at)) => (*n, Some(at.chars().take(10).collect::<String>())),
            None => (0, None),
        };
        let values: Vec<LatestValue> = latest
            .range((facility.code.clone(), String::new())..)
            .take_while(|((f, _), _)| *f == facility.code)
            .map(|((_, indicator), (period, value))| {
                let row = rows.get(indicator.as_str());
                let target = row.and_then(|r| r.target);
                let achievement_pct =
                    target.and_then(|t| plan::achievement(*value, row.and_then(|r| r.baseline), t));
                LatestValue {
                    indicator: indicator.clone(),
                    period: period.clone(),
                    value: *value,
                    target,
                    achievement_pct,
                }
            })
            .collect();
        let state = if approved_visits == 0 {
            "none"
        } else {
            let statuses: Vec<Status> = values
                .iter()
                .map(|v| plan::status_of(v.achievement_pct))
                .filter(|s| *s != Status::NoData)
                .collect();
            if statuses.contains(&Status::OffTrack) {
                "bad"
            } else if statuses.contains(&Status::AtRisk) {
                "warn"
            } else {
                "good"
            }
        };
        out.push(FacilityState {
            facility,
            approved_visits,
            last_visit,
            latest: values,
            state,
        });
    }
    Ok(out)
}
