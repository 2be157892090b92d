//! The property behind the indicator projection: after any sequence of pushes, edits (of
//! answers, of the capture time, of the facility), deletions and undeletions, review decisions
//! and LSG entries, the values maintained incrementally equal what `jmet rebuild` computes from
//! the merged records. Random walks from fixed seeds (set `JMET_PROJECTION_SEEDS=1,2,3` to try
//! others); the failing seed and step are printed.

use reqwest::Method;
use serde_json::json;
use sync_protocol::RecordId;

use crate::harness::{Backend, OpMaker, TestServer};
use crate::indicators::{Setup, setup, snapshot, survey_response};
use crate::on_both;
use crate::world::{self, A, B, call};

on_both!(
    incremental_values_equal_a_rebuild,
    one_run_over_several_municipalities_equals_a_rebuild
);

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        // xorshift64*: plenty for choosing test steps.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

fn seeds() -> Vec<u64> {
    std::env::var("JMET_PROJECTION_SEEDS")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![7, 1009])
}

fn moment(rng: &mut Rng) -> String {
    format!(
        "{}-{:02}-{:02}T{:02}:{:02}:00",
        2025 + rng.below(2),
        1 + rng.below(12),
        1 + rng.below(28),
        rng.below(24),
        rng.below(60)
    )
}

const FACILITIES: [&str; 2] = ["A-WATER", "A-WATER2"];
const PERIODS: [&str; 7] = [
    "2026", "2026-H1", "2026-Q1", "2026-Q2", "2026-01", "2026-02", "2025-Q4",
];

async fn step(
    t: &mut Setup,
    rng: &mut Rng,
    visits: &mut Vec<RecordId>,
    surveys: &mut Vec<RecordId>,
) -> String {
    let roll = rng.below(100);
    match roll {
        0..25 => {
            let at = moment(rng);
            let facility = *rng.pick(&FACILITIES);
            let hours = rng.below(25) as i64;
            let id = t.visit(facility, &at, hours, rng.below(2) == 0).await;
            visits.push(id);
            format!("new visit {id} {facility} {at} {hours}")
        }
        25..45 if !visits.is_empty() => {
            let id = *rng.pick(visits);
            let mut fields = json!({"form": "water_visit", "form_version": 1});
            match rng.below(4) {
                0 => fields["supply_hours"] = json!(rng.below(25)),
                1 => fields["water_clear"] = json!(rng.below(2) == 0),
                2 => fields["captured_at"] = json!(format!("{}+06:00", moment(rng))),
                _ => fields["facility"] = json!(rng.pick(&FACILITIES)),
            }
            let op = t.ops.set("visits", id, A, fields.clone());
            t.push(vec![op]).await;
            format!("edit {id} {fields}")
        }
        45..52 if !visits.is_empty() => {
            let id = *rng.pick(visits);
            let deleted = rng.below(3) != 0;
            let op = t.ops.delete("visits", id, A, deleted);
            t.push(vec![op]).await;
            format!("delete {id} {deleted}")
        }
        52..75 if !visits.is_empty() || !surveys.is_empty() => {
            let (collection, id) = if surveys.is_empty() || rng.below(4) != 0 && !visits.is_empty()
            {
                ("visits", *rng.pick(visits))
            } else {
                ("survey_responses", *rng.pick(surveys))
            };
            let decision = *rng.pick(&["approved", "approved", "has_issues", "rejected"]);
            let (status, body) = call(
                &t.server,
                Some(&t.world.tokens["supervisor"]),
                Method::POST,
                &format!("/api/v1/submissions/{collection}/{id}/reviews"),
                Some((
                    "application/json",
                    json!({"decision": decision, "comment": "c"}).to_string(),
                )),
            )
            .await;
            // A deleted submission cannot be reviewed; anything else must be taken.
            assert!(status == 200 || status == 409, "{status} {body}");
            format!("review {collection} {id} {decision} -> {status}")
        }
        75..87 => {
            let period = *rng.pick(&PERIODS);
            let value = if rng.below(4) == 0 {
                None
            } else {
                Some(rng.below(20) as f64)
            };
            let path = format!("/api/v1/indicators/A-REPAIRS/entries/{period}");
            let token = Some(t.world.tokens["ao_staff"].as_str());
            let (status, body) = match value {
                Some(v) => {
                    call(
                        &t.server,
                        token,
                        Method::PUT,
                        &path,
                        Some(("application/json", json!({"value": v}).to_string())),
                    )
                    .await
                }
                None => call(&t.server, token, Method::DELETE, &path, None).await,
            };
            assert!(
                status == 204 || (value.is_none() && status == 404),
                "{status} {body}"
            );
            format!("entry {period} {value:?}")
        }
        _ => {
            let answer = *rng.pick(&["satisfied", "neutral", "very_satisfied", "dissatisfied"]);
            let year = 2025 + rng.below(2) as i32;
            let id = survey_response(t, year, surveys.len(), answer).await;
            surveys.push(id);
            format!("survey {id} {year} {answer}")
        }
    }
}

async fn incremental_values_equal_a_rebuild(backend: Backend) {
    for seed in seeds() {
        let mut t = setup(backend).await;
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let (mut visits, mut surveys) = (Vec::new(), Vec::new());
        let mut log = Vec::new();
        for round in 0..3 {
            for _ in 0..25 {
                log.push(step(&mut t, &mut rng, &mut visits, &mut surveys).await);
            }
            let values = snapshot(&t.server).await;
            let statuses = t.server.storage.submission_statuses(A).await.unwrap();
            assert!(!values.is_empty());
            jmet::series::project::rebuild_all(&t.server.storage)
                .await
                .unwrap();
            let rebuilt = snapshot(&t.server).await;
            let differing: Vec<_> = values
                .keys()
                .chain(rebuilt.keys())
                .filter(|k| values.get(*k) != rebuilt.get(*k))
                .take(5)
                .map(|k| (k, values.get(k), rebuilt.get(k)))
                .collect();
            assert!(
                differing.is_empty(),
                "seed {seed} round {round}: incremental and rebuilt values differ: {differing:#?}\nsteps:\n{}",
                log.join("\n")
            );
            assert_eq!(
                statuses,
                t.server.storage.submission_statuses(A).await.unwrap(),
                "seed {seed} round {round}: statuses differ"
            );
        }
        t.server.stop().await;
    }
}

/// The projector takes many municipalities in one transaction (the OpenRosa writer's projector
/// does, under load): each keeps its own rules, and the values are what a rebuild gives.
async fn one_run_over_several_municipalities_equals_a_rebuild(backend: Backend) {
    let settings = jmet::Settings {
        project_indicators: false,
        ..jmet::Settings::default()
    };
    let server = TestServer::start_with(backend, settings).await;
    let w = world::build(&server).await;
    let rule = |f: &str| {
        json!({"type": "aggregate", "form": "water_visit", "field": "supply_hours", "fn": f})
            .to_string()
            .replace('"', "\"\"")
    };
    let mut text = String::from(
        "code,municipality,name_ky,name_ru,name_en,level,kind,unit,baseline,targets,measured_by,delegated,rule\n",
    );
    for (code, m, f) in [("A-HOURS", A, "mean"), ("B-HOURS", B, "sum")] {
        text.push_str(&format!(
            "{code},{m},h,h,h,output,quantitative,h,8,2026:12,jmet,no,\"{}\"\n",
            rule(f)
        ));
    }
    let parsed = jmet::indicator::parse_csv(&text).unwrap();
    server
        .storage
        .import_indicators(&parsed, &text, "test", 1)
        .await
        .unwrap();
    let phone_b = server.device(&[B]).await;
    for (phone, m, facility) in [(&w.phone_a, A, "A-WATER"), (&phone_b, B, "B-WATER")] {
        let mut ops = OpMaker::for_device(phone);
        let batch = [4, 6, 11]
            .into_iter()
            .map(|hours: i64| {
                ops.set(
                    "visits",
                    RecordId::generate(),
                    m,
                    json!({"form": "water_visit", "form_version": 1, "facility": facility,
                           "captured_at": "2026-03-10T10:00:00+06:00",
                           "gps": {"lat": 41.15, "lon": 74.65, "acc": 5},
                           "supply_hours": hours, "water_clear": true,
                           "households_served_share": 70}),
                )
            })
            .collect();
        let answer = phone.push(&sync_protocol::PushRequest { ops: batch }).await;
        assert!(
            answer
                .results
                .iter()
                .all(|r| r.status == sync_protocol::OpStatus::Applied)
        );
    }
    let before = snapshot(&server).await;
    assert!(
        !before.keys().any(|(_, _, period)| period == "2026-03"),
        "projection is off"
    );
    let run = jmet::series::project::catch_up(&server.storage, &[A.to_owned(), B.to_owned()])
        .await
        .unwrap();
    assert_eq!(run.submissions, 6);
    let values = snapshot(&server).await;
    let value = |code: &str| {
        let key = (code.to_owned(), String::new(), "2026-03".to_owned());
        let v: serde_json::Value = serde_json::from_str(&values[&key]).unwrap();
        v[1]["value"].as_f64().unwrap()
    };
    assert_eq!(value("A-HOURS"), 7.0);
    assert_eq!(value("B-HOURS"), 21.0);
    jmet::series::project::rebuild_all(&server.storage)
        .await
        .unwrap();
    assert_eq!(values, snapshot(&server).await);
    server.stop().await;
}
