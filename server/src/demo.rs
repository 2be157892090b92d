//! The demo data set (`jmet serve --demo`): the 15 pilot municipalities of the source document
//! with territories, facilities, SEDP indicators and approved M&E plans from `fixtures/demo/`
//! (municipalities and below are synthetic; see `fixtures/generate_demo.py`), JMET teams whose
//! members come and go, and about three years of synthetic visits and survey responses, merged
//! through the same push path phones use. Deterministic for a given seed.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sync_protocol::{Change, Clock, Collection, FieldName, Op, OpId, RecordId, Scope};

use serde_json::value::RawValue;

use crate::storage::{AuthedDevice, NewReview, Storage, StorageError};
use sync_protocol::review::Decision;

const TERRITORIES: &str = include_str!("../../fixtures/demo/territories.geojson");
const FACILITIES: &str = include_str!("../../fixtures/demo/facilities.csv");
const INDICATORS: &str = include_str!("../../fixtures/demo/indicators.csv");
const SEDPS: &str = include_str!("../../fixtures/demo/sedp.json");
const FORMS: [&str; 5] = [
    include_str!("../../fixtures/demo/forms/water_visit.json"),
    include_str!("../../fixtures/demo/forms/health_visit.json"),
    include_str!("../../fixtures/demo/forms/resident_survey_2024.json"),
    include_str!("../../fixtures/demo/forms/resident_survey_2025.json"),
    include_str!("../../fixtures/demo/forms/resident_survey_2026.json"),
];
/// Demo accounts (see `DEMO_USERS`) share this password; the demo is for trying things out.
pub const DEMO_PASSWORD: &str = "demo-password";
/// Login, name, role, scope of the demo accounts.
pub const DEMO_USERS: [(&str, &str, &str, &str); 6] = [
    ("admin", "Demo administrator", "admin", "*"),
    (
        "supervisor.naryn",
        "Demo supervisor, Naryn oblast",
        "supervisor",
        "KG-N",
    ),
    (
        "supervisor.osh",
        "Demo supervisor, Osh oblast",
        "supervisor",
        "KG-O",
    ),
    (
        "ao.ak-suu",
        "Demo AO staff, Ak-Suu",
        "ao_staff",
        "KG-N-AB-01",
    ),
    (
        "deputy.ak-suu",
        "Demo council deputy, Ak-Suu",
        "deputy",
        "KG-N-AB-01",
    ),
    (
        "state.water",
        "Demo state body (water, delegated powers)",
        "state_body",
        "*",
    ),
];

/// Monitoring months covered: January 2024 to October 2026.
const FIRST_YEAR: u32 = 2024;
/// Who the audit log names for what the demo loader does.
const ACTOR: &str = "demo loader";
const MONTHS: u32 = 34;
/// Resident survey respondents per municipality and year.
const RESPONDENTS: usize = 60;

/// What was loaded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DemoSummary {
    pub municipalities: usize,
    pub facilities: usize,
    pub indicators: usize,
    pub members: usize,
    pub visits: usize,
    pub survey_responses: usize,
}

/// A small deterministic generator (xorshift), so the demo is the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() % 10_000) as f64 / 10_000.0 < p
    }
}

fn fail(e: impl std::fmt::Display) -> StorageError {
    StorageError::Invalid(format!("demo data: {e}"))
}

/// Whether the database already holds territories (then the demo is not loaded again).
pub async fn is_loaded(storage: &Storage) -> Result<bool, StorageError> {
    Ok(!storage.territories().await?.is_empty())
}

/// Loads everything into `storage`; `now_ms` stamps the imports.
pub async fn load(storage: &Storage, now_ms: i64) -> Result<DemoSummary, StorageError> {
    let territories = crate::territory::parse_geojson(TERRITORIES).map_err(fail)?;
    storage
        .import_territories(&territories, TERRITORIES, ACTOR, now_ms)
        .await
        .map_err(fail)?;
    let facilities = crate::facility::parse_csv(FACILITIES).map_err(fail)?;
    storage
        .import_facilities(&facilities, FACILITIES, ACTOR, now_ms)
        .await
        .map_err(fail)?;
    let indicators = crate::indicator::parse_csv(INDICATORS).map_err(fail)?;
    storage
        .import_indicators(&indicators, INDICATORS, ACTOR, now_ms)
        .await
        .map_err(fail)?;
    let sedps: Vec<Value> = serde_json::from_str(SEDPS).map_err(fail)?;
    for document in sedps {
        let sedp = crate::sedp::parse(&document.to_string()).map_err(fail)?;
        storage
            .import_sedp(&sedp, ACTOR, now_ms)
            .await
            .map_err(fail)?;
    }
    for text in FORMS {
        let form = sync_protocol::FormDef::from_json(text).map_err(fail)?;
        storage.import_form(&form, ACTOR, now_ms).await?;
    }
    for (login, name, role, scope) in DEMO_USERS {
        let user = crate::accounts::CreateUser {
            login: login.into(),
            name: name.into(),
            role: role.parse().map_err(fail)?,
            scopes: vec![scope.into()],
            password: DEMO_PASSWORD.into(),
        };
        crate::accounts::create_user(storage, user, ACTOR, now_ms)
            .await
            .map_err(fail)?;
    }

    let municipalities: Vec<&crate::territory::Territory> = territories
        .iter()
        .filter(|t| t.level == crate::territory::Level::Municipality)
        .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    lsg_values(storage, &indicators, &municipalities, &mut rng, now_ms).await?;
    let mut summary = DemoSummary {
        municipalities: municipalities.len(),
        facilities: facilities.len(),
        indicators: indicators.len(),
        members: 0,
        visits: 0,
        survey_responses: 0,
    };
    let visits = Collection::parse("visits").map_err(fail)?;
    let surveys = Collection::parse("survey_responses").map_err(fail)?;
    for (m, municipality) in municipalities.iter().enumerate() {
        let scope = municipality.code.clone();
        // The M&E plan: the indicators a JMET can measure, approved by the council in February.
        let plan: Vec<String> = indicators
            .iter()
            .filter(|i| i.municipality == scope && i.measured_by == "jmet")
            .map(|i| i.code.to_string())
            .collect();
        storage.set_plan(&scope, &plan, ACTOR, now_ms).await?;
        let decision = format!("No. {}/{}", 3 + m % 4, 10 + m);
        storage
            .approve_plan(
                &scope,
                &format!("2025-02-{:02}", 10 + m % 15),
                &decision,
                ACTOR,
                now_ms,
            )
            .await
            .map_err(fail)?;

        // A team whose members turn over: two leave during the period, two join later.
        let team = storage
            .create_team(
                &scope,
                &format!("JMET {}", municipality.name_en),
                ACTOR,
                now_ms,
            )
            .await?;
        let names = [
            "Aigul", "Bakyt", "Cholpon", "Dastan", "Elmira", "Farida", "Gulnara", "Ilyas",
        ];
        let mut members = Vec::new();
        for (k, name) in names.iter().enumerate().take(6) {
            let joined = if k < 4 {
                "2023-11-01".to_owned()
            } else {
                format!("2025-{:02}-01", 3 + k)
            };
            let member = storage
                .add_member(team, &format!("{name} (synthetic)"), &joined, ACTOR, now_ms)
                .await?;
            let device = storage
                .create_member_device(member, Some("demo phone"), ACTOR, now_ms)
                .await?;
            // Members 0..4 serve from the start; 4 and 5 from their joining month.
            let from_month = if k < 4 { 0 } else { 14 + k as u32 };
            let until_month = match k {
                1 => 12,
                3 => 20,
                _ => MONTHS,
            };
            members.push((member, device.device_id, from_month, until_month));
        }
        summary.members += members.len();

        let own: Vec<&crate::facility::Facility> = facilities
            .iter()
            .filter(|f| f.municipality == scope)
            .collect();
        let mut batch: Vec<(sync_protocol::DeviceId, Op)> = Vec::new();
        let mut clocks: BTreeMap<sync_protocol::DeviceId, Clock> = BTreeMap::new();
        for month in 0..MONTHS {
            let year = FIRST_YEAR + month / 12;
            let mon = month % 12 + 1;
            let on_duty: Vec<_> = members
                .iter()
                .filter(|(_, _, from, until)| (*from..*until).contains(&month))
                .collect();
            if on_duty.is_empty() {
                continue;
            }
            // Services improve slowly over the period, with noise: plan versus fact has a story.
            let progress = month as f64 / MONTHS as f64;
            for facility in own.iter().filter(|f| {
                matches!(
                    f.kind,
                    "piped_water_system" | "water_point" | "health_post" | "family_medicine_centre"
                )
            }) {
                let (_, device, _, _) = on_duty[rng.below(on_duty.len() as u64) as usize];
                let day = 1 + rng.below(27) as u32;
                let mut fields = vec![
                    ("facility", json!(facility.code)),
                    ("form_version", json!(1)),
                    (
                        "captured_at",
                        json!(format!(
                            "{year}-{mon:02}-{day:02}T{:02}:{:02}:00+06:00",
                            9 + rng.below(8),
                            rng.below(60)
                        )),
                    ),
                    // Most fixes are good; some phones report from the road a couple of km
                    // away, some with a poor fix: the review queue has flags to look at.
                    ("gps", {
                        let (away, acc) = match rng.below(100) {
                            0..4 => (0.02, 4 + rng.below(20)),
                            4..7 => (0.0, 80 + rng.below(150)),
                            _ => (0.0, 4 + rng.below(20)),
                        };
                        let jitter = |rng: &mut Rng| (rng.below(200) as f64 - 100.0) / 1e5;
                        json!({"lat": facility.lat + away + jitter(&mut rng), "lon": facility.lon + jitter(&mut rng), "acc": acc})
                    }),
                ];
                if facility.kind.contains("water") {
                    fields.push(("form", json!("water_visit")));
                    fields.push((
                        "supply_hours",
                        json!(8 + (progress * 10.0) as u64 + rng.below(5)),
                    ));
                    fields.push(("water_clear", json!(rng.chance(0.7 + 0.2 * progress))));
                    fields.push((
                        "households_served_share",
                        json!(55 + (progress * 20.0) as u64 + rng.below(8)),
                    ));
                    fields.push((
                        "access_road_ok",
                        json!(rng.chance(if mon <= 4 { 0.5 } else { 0.9 })),
                    ));
                } else {
                    fields.push(("form", json!("health_visit")));
                    fields.push(("open", json!(rng.chance(0.75 + 0.15 * progress))));
                    fields.push(("staff_present", json!(1 + rng.below(3))));
                    fields.push((
                        "medicines",
                        json!(if rng.chance(0.6 + 0.3 * progress) {
                            "yes"
                        } else {
                            "no"
                        }),
                    ));
                    fields.push((
                        "wait_minutes",
                        json!(50 - (progress * 20.0) as u64 + rng.below(15)),
                    ));
                }
                batch.push((
                    *device,
                    op(&visits, &scope, fields, device, &mut clocks, year, mon, day)?,
                ));
                summary.visits += 1;
            }
        }
        // The annual resident survey, anonymous: village, sex and age band only.
        let villages: Vec<&crate::territory::Territory> = territories
            .iter()
            .filter(|t| t.parent.as_ref() == Some(&scope))
            .collect();
        for year in FIRST_YEAR..FIRST_YEAR + 3 {
            let month = (year - FIRST_YEAR) * 12 + 9;
            let on_duty: Vec<_> = members
                .iter()
                .filter(|(_, _, from, until)| (*from..*until).contains(&month.min(MONTHS - 1)))
                .collect();
            for _ in 0..RESPONDENTS {
                let (_, device, _, _) = on_duty[rng.below(on_duty.len() as u64) as usize];
                let lift = (year - FIRST_YEAR) as f64 * 0.08;
                let satisfaction = [
                    "very_dissatisfied",
                    "dissatisfied",
                    "neutral",
                    "satisfied",
                    "very_satisfied",
                ];
                let sat = ((rng.below(100) as f64 / 100.0 + lift) * 5.0).min(4.0) as usize;
                let day = 1 + rng.below(27) as u32;
                let fields = vec![
                    ("form", json!("resident_survey")),
                    // One instrument version a year, from 2024.
                    ("form_version", json!(year - 2023)),
                    (
                        "captured_at",
                        json!(format!(
                            "{year}-10-{day:02}T{:02}:00:00+06:00",
                            10 + rng.below(8)
                        )),
                    ),
                    (
                        "village",
                        json!(villages[rng.below(villages.len() as u64) as usize].code),
                    ),
                    (
                        "sex",
                        json!(if rng.chance(0.52) { "female" } else { "male" }),
                    ),
                    (
                        "age_band",
                        json!(["18-29", "30-44", "45-59", "60+"][rng.below(4) as usize]),
                    ),
                    ("water_satisfied", json!(satisfaction[sat])),
                    ("attended_meeting", json!(rng.chance(0.22 + lift))),
                    (
                        "trust_lsg",
                        json!(
                            ["no_trust", "some_trust", "trust", "fully_trust"]
                                [rng.below(4) as usize]
                        ),
                    ),
                ];
                batch.push((
                    *device,
                    op(&surveys, &scope, fields, device, &mut clocks, year, 10, day)?,
                ));
                summary.survey_responses += 1;
            }
        }
        // Each phone pushes its own ops, as phones do, in batches, through every check a push
        // passes; a demo op the checks refuse is a bug in the demo.
        let mut by_device: BTreeMap<sync_protocol::DeviceId, Vec<Box<RawValue>>> = BTreeMap::new();
        for (device, op) in batch {
            let raw = serde_json::value::to_raw_value(&op).map_err(fail)?;
            by_device.entry(device).or_default().push(raw);
        }
        let clock = crate::sync::ServerClock::default();
        for (device_id, ops) in by_device {
            let device = AuthedDevice {
                device_id,
                scopes: vec![scope.clone()],
            };
            for chunk in ops.chunks(500) {
                let ctx = crate::sync::PushContext {
                    storage,
                    clock: &clock,
                    max_clock_skew_ms: u64::MAX / 2,
                    project_indicators: true,
                    derive_evidence: true,
                };
                let answer = crate::sync::push(ctx, &device, chunk)
                    .await
                    .map_err(|e| fail(format!("push refused: {e}")))?;
                if let Some(r) = answer
                    .results
                    .iter()
                    .find(|r| r.status != sync_protocol::OpStatus::Applied)
                {
                    return Err(fail(format!("a demo op was not applied: {r:?}")));
                }
            }
        }
        review(storage, &scope, &mut rng, now_ms).await?;
    }
    Ok(summary)
}

/// What AO staff enter: each LSG-measured indicator's value for the years so far, moving from
/// its baseline toward its targets at a pace of its own, and the staff assessment.
async fn lsg_values(
    storage: &Storage,
    indicators: &[crate::indicator::Indicator],
    municipalities: &[&crate::territory::Territory],
    rng: &mut Rng,
    now_ms: i64,
) -> Result<(), StorageError> {
    const STAFF: &str = "user:ao.ak-suu (demo loader)";
    for i in indicators {
        if i.rule.get("type").and_then(Value::as_str) != Some("lsg_entry") {
            continue;
        }
        let baseline = i.baseline.unwrap_or(0.0);
        let pace = 0.5 + rng.below(70) as f64 / 100.0;
        for year in FIRST_YEAR..FIRST_YEAR + 3 {
            let target = i
                .targets
                .get(&year.to_string())
                .copied()
                .unwrap_or(baseline);
            let value = baseline + (target - baseline) * pace;
            let period =
                crate::series::Period::new(year as i32, crate::series::PeriodKind::Year, 1)
                    .ok_or_else(|| fail("a demo year is not a year"))?;
            let entry = crate::storage::LsgEntry {
                indicator: i.code.to_string(),
                period,
                value: (value * 10.0).round() / 10.0,
                note: "From the AO's annual statistics.".into(),
            };
            storage.put_lsg_entry(&entry, STAFF, now_ms).await?;
        }
    }
    let criteria = [
        "Budget hearings held",
        "Services meet the standard",
        "Complaints answered in time",
        "SEDP reported to the council",
    ];
    for m in municipalities {
        for year in FIRST_YEAR..FIRST_YEAR + 3 {
            let items: Vec<Value> = criteria
                .iter()
                .map(|c| json!({"criterion": c, "score": 2 + rng.below(4), "max": 5}))
                .collect();
            storage
                .put_assessment(
                    m.code.as_str(),
                    year as i32,
                    &Value::Array(items),
                    "Self-assessment by the AO staff.",
                    STAFF,
                    now_ms,
                )
                .await?;
        }
    }
    Ok(())
}

/// A supervisor's work, made up: most submissions approved, some sent back or rejected, the
/// rest still waiting, so official and provisional figures differ as they do in life.
async fn review(
    storage: &Storage,
    scope: &Scope,
    rng: &mut Rng,
    now_ms: i64,
) -> Result<(), StorageError> {
    // A supervisor looks harder at flagged visits: fewer are approved as they are.
    let mut flagged = std::collections::HashSet::new();
    let mut page = 1;
    loop {
        let found = storage
            .review_queue(&crate::review::queue::QueueQuery {
                visible: Some(vec![scope.to_string()]),
                municipality: None,
                form: None,
                facility: None,
                member: None,
                status: crate::review::queue::StatusFilter::All,
                flag: crate::review::queue::FlagFilter::Flagged,
                from: None,
                to: None,
                sort: crate::review::queue::Sort::Oldest,
                page,
            })
            .await?;
        flagged.extend(found.rows.into_iter().map(|r| r.id));
        if page >= found.pages {
            break;
        }
        page += 1;
    }
    let mut decisions = Vec::new();
    for (collection, id, version) in storage.submission_versions(scope.as_str()).await? {
        let roll = rng.below(100);
        let (decision, comment) = match (flagged.contains(&id), roll) {
            (true, 0..30) => (Decision::Approved, ""),
            (true, 30..65) => (
                Decision::HasIssues,
                "The position is far from the facility: were you there? Add a photo of it.",
            ),
            (true, _) => continue,
            (false, 0..85) => (Decision::Approved, ""),
            (false, 85..91) => (
                Decision::HasIssues,
                "The photo does not show the facility; please add one.",
            ),
            (false, 91..93) => (Decision::Rejected, "Duplicate of an earlier visit."),
            (false, _) => continue,
        };
        decisions.push(NewReview {
            collection,
            submission: id,
            scope: scope.clone(),
            decision,
            judged_version: version,
            comment: comment.to_owned(),
        });
    }
    for chunk in decisions.chunks(500) {
        storage
            .record_reviews(chunk, "user:supervisor (demo loader)", now_ms)
            .await?;
    }
    crate::series::project::catch_up(storage, &[scope.to_string()]).await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn op(
    collection: &Collection,
    scope: &Scope,
    fields: Vec<(&str, Value)>,
    device: &sync_protocol::DeviceId,
    clocks: &mut BTreeMap<sync_protocol::DeviceId, Clock>,
    year: u32,
    month: u32,
    day: u32,
) -> Result<Op, StorageError> {
    let set = fields
        .into_iter()
        .map(|(k, v)| FieldName::parse(k).map(|name| (name, v)).map_err(fail))
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    // Stamped at the capture day (noon UTC), as the phone's clock would have.
    let days = days_from_civil(year as i64, month, day);
    let wall = (days * 86_400 + 43_200) as u64 * 1000;
    let clock = clocks
        .entry(*device)
        .or_insert_with(|| Clock::new(device.0));
    Ok(Op {
        op_id: OpId::generate(),
        collection: collection.clone(),
        record_id: RecordId::generate(),
        scope: scope.clone(),
        hlc: clock.tick(wall),
        change: Change::Set(set),
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_days() {
        assert_eq!(super::days_from_civil(1970, 1, 1), 0);
        assert_eq!(super::days_from_civil(2024, 2, 29), 19_782);
        assert_eq!(super::days_from_civil(2026, 11, 24), 20_781);
    }
}
