//! Indicator values derived from pushed visits, survey responses, review decisions and LSG
//! entries, checked against numbers worked out by hand: every aggregate, every period kind,
//! facility and municipality values, official versus provisional, ratios, roll-ups of entries,
//! late edits and deletions that move exactly the values they should; plan versus fact with
//! its Theil–Sen forecast; survey shares with Wilson intervals; the scorecard.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};
use sync_protocol::{OpStatus, PushRequest, RecordId};

use crate::harness::{Backend, OpMaker, TestServer};
use crate::on_both;
use crate::world::{self, A, B, World, call};

on_both!(
    values_by_hand_through_edits_reviews_and_deletes,
    lsg_entries_roll_up_and_ratios_follow,
    plan_versus_fact_and_the_scorecard,
    survey_shares_with_wilson_intervals,
    survey_fixture_reproduces_its_true_shares,
    results_are_open_but_provisional_figures_are_not,
);

fn rule(r: Value) -> String {
    format!("\"{}\"", r.to_string().replace('"', "\"\""))
}

/// Indicators of A with one rule each, for the hand-computed cases.
fn indicators_csv() -> String {
    let mean = |f: &str| json!({"type": "aggregate", "form": "water_visit", "field": "supply_hours", "fn": f});
    let rows = [
        (
            "A-HMEAN",
            "8",
            "2025:10;2026:16;2027:18",
            rule(mean("mean")),
        ),
        ("A-HSUM", "", "", rule(mean("sum"))),
        ("A-HMIN", "", "", rule(mean("min"))),
        ("A-HMAX", "", "", rule(mean("max"))),
        ("A-HLAST", "", "", rule(mean("latest"))),
        (
            "A-VISITS",
            "",
            "",
            rule(
                json!({"type": "aggregate", "form": "water_visit", "field": "facility", "fn": "count"}),
            ),
        ),
        (
            "A-CLEAR",
            "50",
            "2026:80",
            rule(
                json!({"type": "aggregate", "form": "water_visit", "field": "water_clear", "fn": "share", "values": [true]}),
            ),
        ),
        (
            "A-REPAIRS",
            "0",
            "2026:12",
            rule(json!({"type": "lsg_entry", "fn": "sum"})),
        ),
        (
            "A-PER100",
            "",
            "",
            rule(
                json!({"type": "ratio", "numerator": "A-REPAIRS", "denominator": "A-VISITS", "scale": 100}),
            ),
        ),
        (
            "A-SATWATER",
            "40",
            "2026:60",
            rule(
                json!({"type": "aggregate", "form": "resident_survey", "field": "water_satisfied", "fn": "share", "values": ["satisfied", "very_satisfied"]}),
            ),
        ),
    ];
    let mut text = String::from(
        "code,municipality,name_ky,name_ru,name_en,level,kind,unit,baseline,targets,measured_by,delegated,rule\n",
    );
    for (code, baseline, targets, rule) in rows {
        text.push_str(&format!(
            "{code},{A},{code} ky,{code} ru,{code} en,outcome,quantitative,u,{baseline},{targets},jmet,no,{rule}\n"
        ));
    }
    text
}

pub struct Setup {
    pub server: TestServer,
    pub world: World,
    pub ops: OpMaker,
}

pub async fn setup(backend: Backend) -> Setup {
    let server = TestServer::start(backend).await;
    let world = world::build(&server).await;
    let s = &server.storage;
    let text = world::facilities_csv(&[("A-WATER2", A, "water_point", false)]);
    let parsed = jmet::facility::parse_csv(&text).unwrap();
    s.import_facilities(&parsed, &text, "test", 1)
        .await
        .unwrap();
    let text = indicators_csv();
    let parsed = jmet::indicator::parse_csv(&text).unwrap();
    s.import_indicators(&parsed, &text, "test", 1)
        .await
        .unwrap();
    let a = A.parse().unwrap();
    let plan: Vec<String> = ["A-HMEAN", "A-CLEAR", "A-REPAIRS", "A-SATWATER"]
        .map(String::from)
        .to_vec();
    s.set_plan(&a, &plan, "test", 1).await.unwrap();
    s.approve_plan(&a, "2025-02-10", "No. 3/11", "test", 1)
        .await
        .unwrap();
    let ops = OpMaker::for_device(&world.phone_a);
    Setup { server, world, ops }
}

impl Setup {
    pub async fn push(&mut self, ops: Vec<sync_protocol::Op>) {
        let answer = self.world.phone_a.push(&PushRequest { ops }).await;
        for r in &answer.results {
            assert_eq!(r.status, OpStatus::Applied, "{r:?}");
        }
    }

    pub async fn visit(&mut self, facility: &str, at: &str, hours: i64, clear: bool) -> RecordId {
        let id = RecordId::generate();
        let op = self.ops.set(
            "visits",
            id,
            A,
            json!({"form": "water_visit", "form_version": 1, "facility": facility,
                   "captured_at": format!("{at}+06:00"),
                   "gps": {"lat": 41.15, "lon": 74.65, "acc": 5},
                   "supply_hours": hours, "water_clear": clear, "households_served_share": 70}),
        );
        self.push(vec![op]).await;
        id
    }

    pub async fn review(&self, collection: &str, id: RecordId, decision: &str) -> Value {
        let (status, body) = call(
            &self.server,
            Some(&self.world.tokens["supervisor"]),
            Method::POST,
            &format!("/api/v1/submissions/{collection}/{id}/reviews"),
            Some((
                "application/json",
                json!({"decision": decision, "comment": "see the photo"}).to_string(),
            )),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub async fn status(&self, collection: &str, id: RecordId) -> String {
        let (status, body) = call(
            &self.server,
            Some(&self.world.tokens["supervisor"]),
            Method::GET,
            &format!("/api/v1/submissions/{collection}/{id}/status"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body["status"].as_str().unwrap().to_owned()
    }

    /// Every value of an indicator of a kind, by (facility, period) → (official, provisional).
    async fn values(
        &self,
        code: &str,
        kind: &str,
        facility: Option<&str>,
    ) -> BTreeMap<String, (Option<f64>, Option<f64>)> {
        let facility = facility.map_or(String::new(), |f| format!("&facility={f}"));
        let (status, body) = call(
            &self.server,
            Some(&self.world.tokens["supervisor"]),
            Method::GET,
            &format!("/api/v1/indicators/{code}/series?period={kind}{facility}"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["period"].as_str().unwrap().to_owned(),
                    (
                        v["official"]["value"].as_f64(),
                        v["provisional"]["value"].as_f64(),
                    ),
                )
            })
            .collect()
    }

    async fn value(&self, code: &str, period: &str) -> (Option<f64>, Option<f64>) {
        self.value_at(code, period, None).await
    }

    async fn value_at(
        &self,
        code: &str,
        period: &str,
        facility: Option<&str>,
    ) -> (Option<f64>, Option<f64>) {
        let kind = match period.len() {
            4 => "year",
            _ if period.contains('H') => "half",
            _ if period.contains('Q') => "quarter",
            _ => "month",
        };
        self.values(code, kind, facility)
            .await
            .get(period)
            .copied()
            .unwrap_or((None, None))
    }

    pub async fn entry(&self, code: &str, period: &str, value: Option<f64>) {
        let path = format!("/api/v1/indicators/{code}/entries/{period}");
        let token = Some(self.world.tokens["ao_staff"].as_str());
        let (status, body) = match value {
            Some(v) => {
                call(
                    &self.server,
                    token,
                    Method::PUT,
                    &path,
                    Some(("application/json", json!({"value": v}).to_string())),
                )
                .await
            }
            None => call(&self.server, token, Method::DELETE, &path, None).await,
        };
        assert_eq!(status, 204, "{body}");
    }
}

fn close(actual: Option<f64>, expected: f64, what: &str) {
    let a = actual.unwrap_or_else(|| panic!("{what}: no value, expected {expected}"));
    assert!((a - expected).abs() < 1e-9, "{what}: {a} != {expected}");
}

/// All values of the municipality as a flat map, to see which ones a change moved.
pub async fn snapshot(server: &TestServer) -> BTreeMap<(String, String, String), String> {
    server
        .storage
        .all_indicator_values()
        .await
        .unwrap()
        .into_iter()
        .map(|v| {
            (
                (v.indicator.clone(), v.facility.clone(), v.period.clone()),
                serde_json::to_string(&(&v.official, &v.provisional)).unwrap(),
            )
        })
        .collect()
}

fn moved(
    before: &BTreeMap<(String, String, String), String>,
    after: &BTreeMap<(String, String, String), String>,
) -> Vec<(String, String, String)> {
    let mut keys: Vec<_> = before.keys().chain(after.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| before.get(k) != after.get(k))
        .collect()
}

async fn values_by_hand_through_edits_reviews_and_deletes(backend: Backend) {
    let mut t = setup(backend).await;
    // Five visits in 2026 (local times), two facilities.
    let v1 = t.visit("A-WATER", "2026-01-10T09:00:00", 10, true).await;
    let v2 = t.visit("A-WATER", "2026-02-20T09:00:00", 14, false).await;
    let v3 = t.visit("A-WATER2", "2026-02-25T09:00:00", 6, true).await;
    let v4 = t.visit("A-WATER2", "2026-04-05T09:00:00", 20, true).await;
    let v5 = t.visit("A-WATER", "2026-07-15T09:00:00", 8, false).await;
    assert_eq!(t.status("visits", v1).await, "received");
    // Nothing reviewed yet: provisional values only.
    close(
        t.value("A-HMEAN", "2026").await.1,
        11.6,
        "mean of 10 14 6 20 8",
    );
    assert_eq!(t.value("A-HMEAN", "2026").await.0, None);
    for id in [v1, v2, v4] {
        t.review("visits", id, "approved").await;
    }
    let back = t.review("visits", v5, "has_issues").await;
    assert_eq!(back["status"], "has_issues");
    assert_eq!(t.status("visits", v3).await, "received");

    // Year 2026. Provisional: all five (none rejected); official: v1 v2 v4 (10 14 20).
    let cases: [(&str, f64, f64); 7] = [
        ("A-HMEAN", 44.0 / 3.0, 58.0 / 5.0),
        ("A-HSUM", 44.0, 58.0),
        ("A-HMIN", 10.0, 6.0),
        ("A-HMAX", 20.0, 20.0),
        // Latest capture: official v4 (April, 20), provisional v5 (July, 8).
        ("A-HLAST", 20.0, 8.0),
        ("A-VISITS", 3.0, 5.0),
        // Clear water: official v1 v4 of three; provisional v1 v3 v4 of five.
        ("A-CLEAR", 200.0 / 3.0, 60.0),
    ];
    for (code, official, provisional) in cases {
        let (o, p) = t.value(code, "2026").await;
        close(o, official, &format!("{code} official 2026"));
        close(p, provisional, &format!("{code} provisional 2026"));
    }
    // Every period kind, provisional mean: H1 = v1..v4 = 50/4, H2 = v5; Q1 = v1 v2 v3 = 30/3,
    // Q2 = v4, Q3 = v5; February = v2 v3 = 20/2 (official: v2 only).
    close(t.value("A-HMEAN", "2026-H1").await.1, 12.5, "H1");
    close(t.value("A-HMEAN", "2026-H2").await.1, 8.0, "H2");
    close(t.value("A-HMEAN", "2026-Q1").await.1, 10.0, "Q1");
    close(t.value("A-HMEAN", "2026-Q2").await.1, 20.0, "Q2");
    close(t.value("A-HMEAN", "2026-Q3").await.1, 8.0, "Q3");
    let feb = t.value("A-HMEAN", "2026-02").await;
    close(feb.1, 10.0, "February provisional");
    close(feb.0, 14.0, "February official");
    assert_eq!(t.value("A-HMEAN", "2026-Q4").await, (None, None));
    // Per facility: A-WATER2 has v3 (received) and v4 (approved).
    let f2 = t.value_at("A-HMEAN", "2026", Some("A-WATER2")).await;
    close(f2.0, 20.0, "A-WATER2 official");
    close(f2.1, 13.0, "A-WATER2 provisional");
    // The evidence: which submissions a value rests on.
    let (_, body) = call(
        &t.server,
        Some(&t.world.tokens["supervisor"]),
        Method::GET,
        "/api/v1/indicators/A-HMEAN/series?period=year&facility=A-WATER2",
        None,
    )
    .await;
    let value = &body["values"][0];
    assert_eq!(value["provisional"]["n"], 2);
    let mut expected = vec![format!("visits/{v3}"), format!("visits/{v4}")];
    expected.sort();
    assert_eq!(value["provisional"]["evidence"], json!(expected));
    assert_eq!(
        value["official"]["evidence"],
        json!([format!("visits/{v4}")])
    );

    // A rejection takes v3 out of everything: provisional 10 14 20 8.
    let before = snapshot(&t.server).await;
    t.review("visits", v3, "rejected").await;
    let after = snapshot(&t.server).await;
    close(
        t.value("A-HMEAN", "2026").await.1,
        13.0,
        "after rejecting v3",
    );
    close(
        t.value_at("A-HMEAN", "2026", Some("A-WATER2")).await.1,
        20.0,
        "A-WATER2 after rejecting v3",
    );
    // Only values whose periods hold v3 (February 2026) moved, and only on the provisional side.
    for (code, facility, period) in moved(&before, &after) {
        assert!(
            ["2026", "2026-H1", "2026-Q1", "2026-02"].contains(&period.as_str())
                && ["", "A-WATER2"].contains(&facility.as_str()),
            "{code} {facility} {period} moved"
        );
    }
    assert!(!moved(&before, &after).is_empty());

    // The member edits v1 after its approval (offline, late): it is no longer approved.
    let before = snapshot(&t.server).await;
    let edit = t.ops.set(
        "visits",
        v1,
        A,
        json!({"form": "water_visit", "form_version": 1, "supply_hours": 16}),
    );
    t.push(vec![edit]).await;
    assert_eq!(t.status("visits", v1).await, "edited_after_review");
    let after = snapshot(&t.server).await;
    // Official: v2 v4 = 14 20; provisional: v1 v2 v4 v5 = 16 14 20 8.
    let (o, p) = t.value("A-HMEAN", "2026").await;
    close(o, 17.0, "official after the edit");
    close(p, 14.5, "provisional after the edit");
    for (code, facility, period) in moved(&before, &after) {
        assert!(
            ["2026", "2026-H1", "2026-Q1", "2026-01"].contains(&period.as_str())
                && ["", "A-WATER"].contains(&facility.as_str()),
            "{code} {facility} {period} moved by an edit of a January visit"
        );
    }
    // Approved again, it counts again.
    t.review("visits", v1, "approved").await;
    close(
        t.value("A-HMEAN", "2026").await.0,
        50.0 / 3.0,
        "official 16 14 20",
    );

    // Deleting v2 removes it; the month it was in has no value left.
    let delete = t.ops.delete("visits", v2, A, true);
    t.push(vec![delete]).await;
    let (o, p) = t.value("A-HMEAN", "2026").await;
    close(o, 18.0, "official 16 20");
    close(p, 44.0 / 3.0, "provisional 16 20 8");
    assert_eq!(t.value("A-HMEAN", "2026-02").await, (None, None));
    // The 2025 visit of the world is untouched throughout.
    close(t.value("A-HMEAN", "2025").await.1, 12.0, "2025");

    // A full rebuild agrees with everything maintained incrementally.
    let incremental = snapshot(&t.server).await;
    jmet::series::project::rebuild_all(&t.server.storage)
        .await
        .unwrap();
    assert_eq!(snapshot(&t.server).await, incremental);
}

async fn lsg_entries_roll_up_and_ratios_follow(backend: Backend) {
    let mut t = setup(backend).await;
    for (at, hours) in [
        ("2026-01-10T09:00:00", 10),
        ("2026-02-20T09:00:00", 14),
        ("2026-03-02T09:00:00", 6),
        ("2026-08-01T09:00:00", 20),
    ] {
        let id = t.visit("A-WATER", at, hours, true).await;
        if hours != 6 {
            t.review("visits", id, "approved").await;
        }
    }
    t.entry("A-REPAIRS", "2026-01", Some(2.0)).await;
    t.entry("A-REPAIRS", "2026-02", Some(3.0)).await;
    t.entry("A-REPAIRS", "2026-Q2", Some(4.0)).await;
    // Months roll up by the rule's sum: Q1 = 2 + 3, H1 = 2 + 3 + 4, the year the same.
    close(t.value("A-REPAIRS", "2026-01").await.0, 2.0, "January");
    close(t.value("A-REPAIRS", "2026-Q1").await.0, 5.0, "Q1");
    close(t.value("A-REPAIRS", "2026-Q2").await.0, 4.0, "Q2");
    close(t.value("A-REPAIRS", "2026-H1").await.0, 9.0, "H1");
    close(t.value("A-REPAIRS", "2026").await.0, 9.0, "2026");
    // A quarter entered stands for its months: Q1 = 6, H1 = 6 + 4.
    t.entry("A-REPAIRS", "2026-Q1", Some(6.0)).await;
    close(t.value("A-REPAIRS", "2026-Q1").await.0, 6.0, "Q1 entered");
    close(
        t.value("A-REPAIRS", "2026-H1").await.0,
        10.0,
        "H1 over Q1 and Q2",
    );
    // A year entered stands for the year; taken back, the roll-up returns.
    t.entry("A-REPAIRS", "2026", Some(12.0)).await;
    close(t.value("A-REPAIRS", "2026").await.0, 12.0, "2026 entered");
    t.entry("A-REPAIRS", "2026", None).await;
    close(t.value("A-REPAIRS", "2026").await.0, 10.0, "2026 rolled up");
    // Entries are official as entered; LSG values are not derived from submissions.
    close(
        t.value("A-REPAIRS", "2026").await.1,
        10.0,
        "2026 provisional",
    );
    // Ratio: repairs per 100 visits. 2026: 10 / 4 visits (provisional), 10 / 3 (official).
    let (o, p) = t.value("A-PER100", "2026").await;
    close(p, 250.0, "ratio provisional");
    close(o, 1000.0 / 3.0, "ratio official");
    // Q1: 6 / 3 visits provisional, 6 / 2 official; Q3 has a visit but no repairs entry.
    let (o, p) = t.value("A-PER100", "2026-Q1").await;
    close(p, 200.0, "Q1 ratio provisional");
    close(o, 300.0, "Q1 ratio official");
    assert_eq!(t.value("A-PER100", "2026-Q3").await, (None, None));
    // A ratio moves when its denominator does: a fifth visit in Q1.
    t.visit("A-WATER", "2026-03-20T09:00:00", 9, false).await;
    close(t.value("A-PER100", "2026-Q1").await.1, 150.0, "6 / 4");
    // An indicator derived by rule does not take entries; unknown ones are 404.
    let path = "/api/v1/indicators/A-HMEAN/entries/2026";
    let (status, body) = call(
        &t.server,
        Some(&t.world.tokens["ao_staff"]),
        Method::PUT,
        path,
        Some(("application/json", json!({"value": 3}).to_string())),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (422, Some("invalid")));
    for (path, body, code) in [
        (
            "/api/v1/indicators/NOPE/entries/2026",
            json!({"value": 1}),
            404,
        ),
        (
            "/api/v1/indicators/A-REPAIRS/entries/2026-Q5",
            json!({"value": 1}),
            400,
        ),
        (
            "/api/v1/indicators/A-REPAIRS/entries/2026",
            json!({"value": "x"}),
            400,
        ),
        (
            "/api/v1/indicators/A-REPAIRS/entries/2026",
            json!({"valeu": 1}),
            400,
        ),
    ] {
        let (status, answer) = call(
            &t.server,
            Some(&t.world.tokens["ao_staff"]),
            Method::PUT,
            path,
            Some(("application/json", body.to_string())),
        )
        .await;
        assert_eq!(status, code, "{path} {answer}");
        assert!(answer["code"].is_string() && answer["message"].is_string());
    }
    close(
        t.value("A-REPAIRS", "2026").await.0,
        10.0,
        "unchanged by refusals",
    );
    // A supervisor or a member of another municipality may not enter values.
    let (status, _) = call(
        &t.server,
        Some(&t.world.tokens["supervisor"]),
        Method::PUT,
        "/api/v1/indicators/A-REPAIRS/entries/2026",
        Some(("application/json", json!({"value": 1}).to_string())),
    )
    .await;
    assert_eq!(status, 403);
    let incremental = snapshot(&t.server).await;
    jmet::series::project::rebuild_all(&t.server.storage)
        .await
        .unwrap();
    assert_eq!(snapshot(&t.server).await, incremental);
}

async fn plan_versus_fact_and_the_scorecard(backend: Backend) {
    let mut t = setup(backend).await;
    // 2025: the world's visit (12 hours, clear), approved. 2026: 10 14 20 approved, 6 not.
    t.review("visits", t.world.visit_a, "approved").await;
    for (at, hours, clear, approve) in [
        ("2026-01-10T09:00:00", 10, true, true),
        ("2026-02-20T09:00:00", 14, false, true),
        ("2026-04-05T09:00:00", 20, true, true),
        ("2026-05-05T09:00:00", 6, true, false),
    ] {
        let id = t.visit("A-WATER", at, hours, clear).await;
        if approve {
            t.review("visits", id, "approved").await;
        }
    }
    t.entry("A-REPAIRS", "2026", Some(9.0)).await;
    let (status, table) = call(
        &t.server,
        None,
        Method::GET,
        &format!("/api/v1/municipalities/{A}/plan-vs-fact?period=2026"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{table}");
    assert_eq!(table["deadline"], "2027");
    assert_eq!(table["forecast_method"], "theil-sen");
    let rows: BTreeMap<&str, &Value> = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["indicator"].as_str().unwrap(), r))
        .collect();
    assert_eq!(rows.len(), 4, "{:?}", rows.keys());
    let h = rows["A-HMEAN"];
    // Official mean 2026: (10 + 14 + 20) / 3 = 14.667 against 16 from a baseline of 8:
    // (14.667 − 8) / (16 − 8) = 83.33 %. Trend 2025: 12 → 2026: 14.667, slope 2.667 a year;
    // forecast 2027: 17.333 against 18: (17.333 − 8) / 10 = 93.33 % → at risk.
    close(h["actual"].as_f64(), 44.0 / 3.0, "actual");
    close(h["target"].as_f64(), 16.0, "target");
    close(h["achievement_pct"].as_f64(), 250.0 / 3.0, "achievement");
    close(h["slope_per_year"].as_f64(), 8.0 / 3.0, "slope");
    close(h["forecast"]["value"].as_f64(), 52.0 / 3.0, "forecast");
    close(
        h["forecast"]["achievement_pct"].as_f64(),
        280.0 / 3.0,
        "forecast achievement",
    );
    assert_eq!(h["forecast"]["method"], "theil-sen");
    assert_eq!(h["status"], "at_risk");
    assert_eq!(h["n"], 3);
    assert_eq!(h["trend"].as_array().unwrap().len(), 2);
    // The public sees no evidence ids and no provisional figure.
    assert_eq!(h["evidence"], json!([]));
    assert_eq!(h["other_basis"], Value::Null);
    // Clear water 2026, official: 2 of 3 = 66.7 % against 80 from 50: 55.6 %. 2025: 100 %.
    // Slope −33.3 a year: forecast 33.3 in 2027, with no 2027 target: status from 55.6 %.
    let c = rows["A-CLEAR"];
    close(
        c["achievement_pct"].as_f64(),
        (200.0 / 3.0 - 50.0) / 30.0 * 100.0,
        "clear",
    );
    assert_eq!(c["forecast"]["target"], Value::Null);
    assert_eq!(c["status"], "off_track");
    // Repairs: 9 entered against 12 from 0: 75 %, one year only: off track.
    close(
        rows["A-REPAIRS"]["achievement_pct"].as_f64(),
        75.0,
        "repairs",
    );
    assert_eq!(rows["A-REPAIRS"]["status"], "off_track");
    assert_eq!(rows["A-SATWATER"]["status"], "no_data");
    assert_eq!(table["summary"]["at_risk"], 1);
    // Provisional basis, for signed-in users: 2026 adds the 6-hour visit: 50 / 4 = 12.5.
    let (status, table) = call(
        &t.server,
        Some(&t.world.tokens["deputy"]),
        Method::GET,
        &format!("/api/v1/municipalities/{A}/plan-vs-fact?period=2026&basis=provisional"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let row = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["indicator"] == "A-HMEAN")
        .unwrap();
    close(row["actual"].as_f64(), 12.5, "provisional actual");
    close(
        row["other_basis"].as_f64(),
        44.0 / 3.0,
        "official beside it",
    );
    assert_eq!(row["evidence"].as_array().unwrap().len(), 4);

    // The scorecard: survey responses (3 of 4 satisfied, all approved), the plan's
    // achievement, and the staff's assessment.
    for (i, answer) in ["satisfied", "very_satisfied", "neutral", "satisfied"]
        .into_iter()
        .enumerate()
    {
        let id = survey_response(&mut t, 2026, i, answer).await;
        t.review("survey_responses", id, "approved").await;
    }
    let (status, body) = call(
        &t.server,
        Some(&t.world.tokens["ao_staff"]),
        Method::PUT,
        &format!("/api/v1/municipalities/{A}/scorecard/2026/assessment"),
        Some((
            "application/json",
            json!({"items": [{"criterion": "Budget hearings", "score": 3, "max": 5},
                             {"criterion": "Complaints answered", "score": 5, "max": 5}],
                   "comment": "annual self-assessment"})
            .to_string(),
        )),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, card) = call(
        &t.server,
        None,
        Method::GET,
        &format!("/api/v1/municipalities/{A}/scorecard/2026"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{card}");
    let components: BTreeMap<&str, &Value> = card["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c))
        .collect();
    // Residents: the one survey-fed indicator, 3 of 4 = 75 %.
    close(
        components["residents_opinion"]["score"].as_f64(),
        75.0,
        "opinion",
    );
    // SEDP: capped achievements 83.33 (hours), 55.56 (clear), 75 (repairs), 100 (satisfied
    // water: 75 against 60 from 40 is 175 %, capped).
    let sedp = (250.0 / 3.0 + (200.0 / 3.0 - 50.0) / 30.0 * 100.0 + 75.0 + 100.0) / 4.0;
    close(
        components["sedp_achievement"]["score"].as_f64(),
        sedp,
        "sedp",
    );
    assert_eq!(
        components["sedp_achievement"]["inputs"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    // Staff: 8 of 10 points.
    close(
        components["staff_assessment"]["score"].as_f64(),
        80.0,
        "staff",
    );
    close(card["score"].as_f64(), (75.0 + sedp + 80.0) / 3.0, "score");
    assert_eq!(card["complete"], true);
    // Bad assessments are refused and change nothing.
    for body in [
        json!({"items": [{"criterion": "x", "score": 6, "max": 5}]}),
        json!({"items": []}),
    ] {
        let (status, answer) = call(
            &t.server,
            Some(&t.world.tokens["ao_staff"]),
            Method::PUT,
            &format!("/api/v1/municipalities/{A}/scorecard/2026/assessment"),
            Some(("application/json", body.to_string())),
        )
        .await;
        assert_eq!(status, 422, "{answer}");
    }
    let (_, again) = call(
        &t.server,
        None,
        Method::GET,
        &format!("/api/v1/municipalities/{A}/scorecard/2026"),
        None,
    )
    .await;
    assert_eq!(again, card);
}

pub async fn survey_response(t: &mut Setup, year: i32, i: usize, water: &str) -> RecordId {
    let id = RecordId::generate();
    let op = t.ops.set(
        "survey_responses",
        id,
        A,
        json!({"form": "resident_survey", "form_version": year - 2023,
               "captured_at": format!("{year}-10-{:02}T10:00:00+06:00", 1 + i % 27),
               "village": if i.is_multiple_of(2) { format!("{A}-V1") } else { format!("{A}-V2") },
               "sex": if i.is_multiple_of(3) { "female" } else { "male" },
               "age_band": "30-44",
               "water_satisfied": water, "attended_meeting": i.is_multiple_of(2),
               "trust_lsg": "trust"}),
    );
    t.push(vec![op]).await;
    id
}

async fn survey_shares_with_wilson_intervals(backend: Backend) {
    let mut t = setup(backend).await;
    // 2025: 1 of 4 satisfied; 2026: 2 of 5 satisfied and 1 very satisfied.
    let mut ids = Vec::new();
    for (i, answer) in ["satisfied", "neutral", "dissatisfied", "neutral"]
        .into_iter()
        .enumerate()
    {
        ids.push(survey_response(&mut t, 2025, i, answer).await);
    }
    for (i, answer) in [
        "satisfied",
        "satisfied",
        "neutral",
        "very_satisfied",
        "dissatisfied",
    ]
    .into_iter()
    .enumerate()
    {
        ids.push(survey_response(&mut t, 2026, i, answer).await);
    }
    let (status, body) = call(
        &t.server,
        Some(&t.world.tokens["supervisor"]),
        Method::GET,
        &format!("/api/v1/municipalities/{A}/survey?basis=provisional"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["respondents"], json!({"2025": 4, "2026": 5}));
    assert_eq!(body["interval"], "wilson");
    let water = body["questions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["key"] == "water_satisfied")
        .unwrap();
    let year = |y: i64| {
        water["years"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["year"] == y)
            .unwrap()
            .clone()
    };
    let choice = |v: &Value, c: &str| {
        v["choices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["value"] == c)
            .unwrap()
            .clone()
    };
    let y26 = year(2026);
    assert_eq!(y26["n"], 5);
    let satisfied = choice(&y26, "satisfied");
    // Wilson, 2 of 5, z = 1.95996: centre (0.4 + z²/10) / (1 + z²/5) = 0.44346, half-width
    // z·sqrt(0.4·0.6/5 + z²/100) / (1 + z²/5) = 0.32583: 11.76 % to 76.93 %.
    assert_eq!(satisfied["count"], 2);
    close(satisfied["share"].as_f64(), 40.0, "share");
    assert!((satisfied["ci_low"].as_f64().unwrap() - 11.762).abs() < 0.001);
    assert!((satisfied["ci_high"].as_f64().unwrap() - 76.928).abs() < 0.001);
    // 2025: 1 of 4 = 25 %; the change to 40 % is +15 points, not significant with so few.
    close(
        choice(&year(2025), "satisfied")["share"].as_f64(),
        25.0,
        "2025",
    );
    let change = water["year_over_year"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["choice"] == "satisfied")
        .unwrap();
    close(change["change"].as_f64(), 15.0, "change");
    assert_eq!(change["significant"], false);
    // By village in 2026: V1 has responses 0, 2, 4 (satisfied, neutral, dissatisfied): 1 of 3.
    let v1 = water["by"]["village"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == format!("{A}-V1") && g["year"] == 2026)
        .unwrap()
        .clone();
    assert_eq!(v1["n"], 3);
    close(
        choice(&v1, "satisfied")["share"].as_f64(),
        100.0 / 3.0,
        "V1",
    );
    // By sex in 2026: women are responses 0 and 3 (satisfied, very satisfied).
    let women = water["by"]["sex"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "female" && g["year"] == 2026)
        .unwrap()
        .clone();
    assert_eq!(women["n"], 2);
    close(
        choice(&women, "very_satisfied")["share"].as_f64(),
        50.0,
        "women",
    );
    // Official results hold only approved responses: none yet.
    let (_, official) = call(
        &t.server,
        None,
        Method::GET,
        &format!("/api/v1/municipalities/{A}/survey"),
        None,
    )
    .await;
    assert_eq!(official["respondents"], json!({}));
    // The survey feeds its indicator: 2026 satisfied or very satisfied, 3 of 5 = 60 %.
    close(
        t.value("A-SATWATER", "2026").await.1,
        60.0,
        "survey indicator",
    );
    // Anonymous: no field of a response names anyone, and the answer carries no record ids.
    let text = official.to_string() + &body.to_string();
    for id in &ids {
        assert!(!text.contains(&id.to_string()));
    }
}

async fn results_are_open_but_provisional_figures_are_not(backend: Backend) {
    let mut t = setup(backend).await;
    let v = t.visit("A-WATER", "2026-01-10T09:00:00", 10, true).await;
    t.review("visits", v, "approved").await;
    let series = "/api/v1/indicators/A-HMEAN/series?period=year";
    // The public reads official values without evidence ids.
    let (status, body) = call(&t.server, None, Method::GET, series, None).await;
    assert_eq!(status, 200, "{body}");
    let y = body["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["period"] == "2026")
        .unwrap();
    assert_eq!(y["official"]["value"], 10.0);
    assert_eq!(y["official"]["evidence"], json!([]));
    assert_eq!(y["provisional"], Value::Null);
    // …but not the provisional basis.
    let (status, body) = call(
        &t.server,
        None,
        Method::GET,
        &format!("/api/v1/municipalities/{A}/plan-vs-fact?basis=provisional"),
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    // A supervisor of A may not review B's visit.
    let (status, body) = call(
        &t.server,
        Some(&t.world.tokens["supervisor"]),
        Method::POST,
        &format!("/api/v1/submissions/visits/{}/reviews", t.world.visit_b),
        Some((
            "application/json",
            json!({"decision": "approved"}).to_string(),
        )),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    assert_eq!(
        t.server
            .storage
            .submission_statuses(B)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, _, s)| s.as_str())
            .collect::<Vec<_>>(),
        ["received"]
    );
    // A member may not review; a bad decision or a stale version is refused.
    let review = format!("/api/v1/submissions/visits/{v}/reviews");
    for (token, body, code) in [
        ("member", json!({"decision": "approved"}), 403),
        ("ao_staff", json!({"decision": "approved"}), 403),
        ("supervisor", json!({"decision": "maybe"}), 400),
        ("supervisor", json!({"decision": "has_issues"}), 422),
        (
            "supervisor",
            json!({"decision": "approved", "version": "0000"}),
            409,
        ),
        (
            "supervisor",
            json!({"decision": "approved", "extra": 1}),
            400,
        ),
    ] {
        let (status, answer) = call(
            &t.server,
            Some(&t.world.tokens[token]),
            Method::POST,
            &review,
            Some(("application/json", body.to_string())),
        )
        .await;
        assert_eq!(status, code, "{token} {body}: {answer}");
        assert!(answer["message"].is_string());
    }
    assert_eq!(t.status("visits", v).await, "approved");
    // Bad queries are explained.
    for path in [
        "/api/v1/indicators/A-HMEAN/series?period=week",
        "/api/v1/indicators/A-HMEAN/series?from=2026-13",
        "/api/v1/indicators/NOPE/series",
        "/api/v1/municipalities/KG-N-AT-01/plan-vs-fact?period=26",
        "/api/v1/municipalities/KG-N-AT-01/plan-vs-fact?basis=guess",
        "/api/v1/municipalities/KG-N-AT-01/survey?form=nope",
        "/api/v1/municipalities/KG-N-AT-01/scorecard/twenty",
    ] {
        let (status, answer) = call(
            &t.server,
            Some(&t.world.tokens["supervisor"]),
            Method::GET,
            path,
            None,
        )
        .await;
        assert!(matches!(status, 400 | 404), "{path}: {status} {answer}");
        assert!(answer["code"].is_string(), "{path}: {answer}");
    }
    // A review is a record in the feed: the team's phone pulls it with its status inputs.
    let mut store = sync_protocol::Store::default();
    t.world.phone_a.pull_all(&mut store, None, 500).await;
    let reviews: Vec<_> = store
        .iter()
        .filter(|(c, _, _)| c.as_str() == "reviews")
        .collect();
    assert_eq!(reviews.len(), 1);
    let submission = sync_protocol::FieldName::parse("submission").unwrap();
    assert_eq!(reviews[0].2.fields[&submission].value, json!(v.to_string()));
    // A phone cannot write reviews.
    let op = t.ops.set(
        "reviews",
        RecordId::generate(),
        A,
        json!({"submission": v.to_string(), "decision": "approved"}),
    );
    let answer = t.world.phone_a.push(&PushRequest { ops: vec![op] }).await;
    assert_eq!(answer.results[0].status, OpStatus::Rejected);
    let _ = B;
}

const FIXTURE_RESPONSES: &str = include_str!("../../fixtures/survey/responses.json");
const FIXTURE_TRUTH: &str = include_str!("../../fixtures/survey/truth.json");

/// Raw responses built to known shares (fixtures/survey/generate.py): the analysis recovers
/// every built share, holds it within its 95 % interval, and finds the built change between
/// years significant and inside its interval.
async fn survey_fixture_reproduces_its_true_shares(backend: Backend) {
    let mut t = setup(backend).await;
    let responses: Vec<Value> = serde_json::from_str(FIXTURE_RESPONSES).unwrap();
    let truth: Value = serde_json::from_str(FIXTURE_TRUTH).unwrap();
    for chunk in responses.chunks(300) {
        let ops = chunk
            .iter()
            .map(|fields| {
                t.ops
                    .set("survey_responses", RecordId::generate(), A, fields.clone())
            })
            .collect();
        t.push(ops).await;
    }
    let (status, body) = call(
        &t.server,
        Some(&t.world.tokens["supervisor"]),
        Method::GET,
        &format!("/api/v1/municipalities/{A}/survey?basis=provisional"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["respondents"],
        json!({"2024": 600, "2025": 600, "2026": 600})
    );
    let question = |key: &str| {
        body["questions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["key"] == key)
            .unwrap()
            .clone()
    };
    let tolerance = truth["tolerance_points"].as_f64().unwrap();
    let inside = |choice: &Value, share: f64, what: String| {
        let (low, high) = (
            choice["ci_low"].as_f64().unwrap(),
            choice["ci_high"].as_f64().unwrap(),
        );
        let got = choice["share"].as_f64().unwrap();
        assert!(
            (got - share * 100.0).abs() <= tolerance,
            "{what}: built {:.1} %, analysed {got:.2} %",
            share * 100.0
        );
        assert!(
            low <= share * 100.0 && share * 100.0 <= high,
            "{what}: built {:.1} % outside [{low:.1}, {high:.1}]",
            share * 100.0
        );
    };
    let water = question("water_satisfied");
    let values = [
        "very_dissatisfied",
        "dissatisfied",
        "neutral",
        "satisfied",
        "very_satisfied",
    ];
    for y in water["years"].as_array().unwrap() {
        let year = y["year"].to_string();
        let shares = truth["water_satisfied"][&year].as_array().unwrap();
        for (value, share) in values.iter().zip(shares) {
            let choice = y["choices"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["value"] == *value)
                .unwrap();
            inside(choice, share.as_f64().unwrap(), format!("{year} {value}"));
        }
    }
    let attended = question("attended_meeting");
    for g in attended["by"]["sex"].as_array().unwrap() {
        let year = g["year"].to_string();
        let sex = g["group"].as_str().unwrap();
        let share = truth["attended_meeting"][&year][sex].as_f64().unwrap();
        let yes = &g["choices"][0];
        assert_eq!(yes["value"], "true");
        inside(yes, share, format!("{year} {sex} attended"));
    }
    assert_eq!(attended["by"]["sex"].as_array().unwrap().len(), 6);
    // Satisfied rose from 30 % to 40 % between 2025 and 2026 (600 asked each year): the change
    // is found, its interval holds the true ten points and leaves out zero.
    let change = water["year_over_year"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["choice"] == "satisfied" && c["from_year"] == 2025)
        .unwrap();
    assert_eq!(change["significant"], true, "{change}");
    let (low, high) = (
        change["ci_low"].as_f64().unwrap(),
        change["ci_high"].as_f64().unwrap(),
    );
    assert!(low <= 10.0 && 10.0 <= high, "{change}");
}
