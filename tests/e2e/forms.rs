//! Visits and survey responses pushed by a phone are checked against their form: every question
//! type, wrong types, ranges, choices, unknown fields and unknown form versions. A refused op is
//! answered with the field and the reason, kept in quarantine, and nothing is merged. Forms and
//! reference data reach the phone through the feed and equal what the admin API shows.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};
use sync_protocol::{OpStatus, PushRequest, RecordId, Store};

use crate::harness::{Backend, OpMaker, TestServer};
use crate::on_both;
use crate::world::{self, A, B};

on_both!(
    every_question_type_is_checked_on_push,
    reference_data_pulled_equals_the_admin_api,
    a_form_version_is_immutable_once_published,
);

/// What it is, the collection, the fields, and `None` when it must apply or the expected code
/// and field when it must be refused.
type Case = (
    &'static str,
    &'static str,
    Value,
    Option<(&'static str, &'static str)>,
);

fn visit(extra: Value) -> Value {
    let mut v = json!({
        "form": "water_visit", "form_version": 1, "facility": "A-WATER",
        "captured_at": "2025-05-04T10:22:00+06:00",
        "gps": {"lat": 41.15, "lon": 74.65, "acc": 6.5},
        "supply_hours": 12, "water_clear": true, "households_served_share": 70,
    });
    for (k, val) in extra.as_object().unwrap() {
        v[k] = val.clone();
    }
    v
}

fn health(extra: Value) -> Value {
    let mut v = json!({
        "form": "health_visit", "form_version": 1, "facility": "A-HEALTH",
        "captured_at": "2025-05-04T10:22:00Z",
        "open": true, "staff_present": 2, "medicines": "partly",
    });
    for (k, val) in extra.as_object().unwrap() {
        v[k] = val.clone();
    }
    v
}

fn survey(extra: Value) -> Value {
    let mut v = json!({
        "form": "resident_survey", "form_version": 3, "village": format!("{A}-V1"),
        "captured_at": "2026-10-04T11:00:00+06:00",
        "sex": "female", "age_band": "60+", "water_satisfied": "satisfied",
        "attended_meeting": false, "trust_lsg": "trust",
    });
    for (k, val) in extra.as_object().unwrap() {
        v[k] = val.clone();
    }
    v
}

async fn every_question_type_is_checked_on_push(backend: Backend) {
    let server = TestServer::start(backend).await;
    let w = world::build(&server).await;
    let phone = &w.phone_a;
    let mut ops = OpMaker::for_device(phone);
    let photo = RecordId::generate().to_string();
    // (what, collection, fields, expected: None = applied, Some((code, field)))
    let cases: Vec<Case> = vec![
        (
            "a valid water visit",
            "visits",
            visit(
                json!({"problems": ["leak", "broken_tap"], "photo": photo, "notes": "Кран агып жатат"}),
            ),
            None,
        ),
        (
            "a valid health visit",
            "visits",
            health(json!({"wait_minutes": 45, "last_supply_date": "2024-02-29"})),
            None,
        ),
        (
            "a valid survey response",
            "survey_responses",
            survey(json!({"health_satisfied": "neutral"})),
            None,
        ),
        // integer
        (
            "integer as text",
            "visits",
            visit(json!({"supply_hours": "12"})),
            Some(("invalid_field", "supply_hours")),
        ),
        (
            "integer with a fraction",
            "visits",
            visit(json!({"supply_hours": 7.5})),
            Some(("invalid_field", "supply_hours")),
        ),
        (
            "integer above max",
            "visits",
            visit(json!({"supply_hours": 25})),
            Some(("invalid_field", "supply_hours")),
        ),
        (
            "integer below min",
            "visits",
            visit(json!({"households_served_share": -1})),
            Some(("invalid_field", "households_served_share")),
        ),
        // decimal: the GPS accuracy and position
        (
            "latitude out of range",
            "visits",
            visit(json!({"gps": {"lat": 91.0, "lon": 74.6}})),
            Some(("invalid_field", "gps")),
        ),
        (
            "geopoint with text",
            "visits",
            visit(json!({"gps": {"lat": "NaN", "lon": 74.6}})),
            Some(("invalid_field", "gps")),
        ),
        (
            "geopoint with an extra key",
            "visits",
            visit(json!({"gps": {"lat": 41.0, "lon": 74.6, "x": 1}})),
            Some(("invalid_field", "gps")),
        ),
        // boolean
        (
            "boolean as a number",
            "visits",
            visit(json!({"water_clear": 1})),
            Some(("invalid_field", "water_clear")),
        ),
        (
            "boolean as text",
            "visits",
            visit(json!({"water_clear": "yes"})),
            Some(("invalid_field", "water_clear")),
        ),
        // text
        (
            "text as an object",
            "visits",
            visit(json!({"notes": {"a": 1}})),
            Some(("invalid_field", "notes")),
        ),
        (
            "text too long",
            "visits",
            visit(json!({"notes": "ы".repeat(2001)})),
            Some(("invalid_field", "notes")),
        ),
        // select one
        (
            "unknown choice",
            "visits",
            health(json!({"medicines": "maybe"})),
            Some(("invalid_field", "medicines")),
        ),
        (
            "select one as a list",
            "visits",
            health(json!({"medicines": ["yes"]})),
            Some(("invalid_field", "medicines")),
        ),
        // select multiple
        (
            "unknown choice in a list",
            "visits",
            visit(json!({"problems": ["leak", "aliens"]})),
            Some(("invalid_field", "problems")),
        ),
        (
            "repeated choice",
            "visits",
            visit(json!({"problems": ["leak", "leak"]})),
            Some(("invalid_field", "problems")),
        ),
        (
            "select multiple as text",
            "visits",
            visit(json!({"problems": "leak"})),
            Some(("invalid_field", "problems")),
        ),
        // date
        (
            "impossible date",
            "visits",
            health(json!({"last_supply_date": "2025-02-30"})),
            Some(("invalid_field", "last_supply_date")),
        ),
        (
            "date in another format",
            "visits",
            health(json!({"last_supply_date": "04.05.2025"})),
            Some(("invalid_field", "last_supply_date")),
        ),
        (
            "capture time not a timestamp",
            "visits",
            visit(json!({"captured_at": "yesterday"})),
            Some(("invalid_field", "captured_at")),
        ),
        // photo
        (
            "photo that is a path",
            "visits",
            visit(json!({"photo": "../../etc/passwd"})),
            Some(("invalid_field", "photo")),
        ),
        // structure
        (
            "unknown field",
            "visits",
            visit(json!({"colour": "blue"})),
            Some(("invalid_field", "colour")),
        ),
        (
            "a name in the anonymous survey",
            "survey_responses",
            survey(json!({"respondent_name": "Asel"})),
            Some(("invalid_field", "respondent_name")),
        ),
        (
            "a question of a later survey year",
            "survey_responses",
            survey(json!({"form_version": 1, "health_satisfied": "neutral"})),
            Some(("invalid_field", "health_satisfied")),
        ),
        (
            "missing required answer",
            "visits",
            {
                let mut v = visit(json!({}));
                v.as_object_mut().unwrap().remove("water_clear");
                v
            },
            Some(("invalid_field", "water_clear")),
        ),
        (
            "required answer cleared",
            "visits",
            visit(json!({"water_clear": null})),
            Some(("invalid_field", "water_clear")),
        ),
        (
            "no form named",
            "visits",
            {
                let mut v = visit(json!({}));
                v.as_object_mut().unwrap().remove("form");
                v
            },
            Some(("invalid_field", "form")),
        ),
        (
            "unknown form version",
            "visits",
            visit(json!({"form_version": 9})),
            Some(("unknown_form", "form_version")),
        ),
        (
            "unknown form",
            "visits",
            visit(json!({"form": "bridge_visit"})),
            Some(("unknown_form", "form_version")),
        ),
        (
            "a survey form on a visit",
            "visits",
            survey(json!({})),
            Some(("invalid_field", "form")),
        ),
        (
            "another municipality's facility",
            "visits",
            visit(json!({"facility": "B-WATER"})),
            Some(("invalid_field", "facility")),
        ),
        (
            "a facility of the wrong kind",
            "visits",
            visit(json!({"facility": "A-SCHOOL"})),
            Some(("invalid_field", "facility")),
        ),
        (
            "another municipality's village",
            "survey_responses",
            survey(json!({"village": format!("{B}-V1")})),
            Some(("invalid_field", "village")),
        ),
    ];
    let request = PushRequest {
        ops: cases
            .iter()
            .map(|(_, collection, fields, _)| {
                ops.set(collection, RecordId::generate(), A, fields.clone())
            })
            .collect(),
    };
    let answer = phone.push(&request).await;
    assert_eq!(answer.results.len(), cases.len());
    let mut applied = 0;
    for ((what, _, _, expected), result) in cases.iter().zip(&answer.results) {
        match expected {
            None => {
                assert_eq!(result.status, OpStatus::Applied, "{what}: {result:?}");
                applied += 1;
            }
            Some((code, field)) => {
                assert_eq!(result.status, OpStatus::Rejected, "{what}: {result:?}");
                assert_eq!(
                    result.code.as_ref().map(|c| c.as_str()),
                    Some(*code),
                    "{what}: {result:?}"
                );
                assert_eq!(result.field.as_deref(), Some(*field), "{what}: {result:?}");
                let message = result.message.as_deref().unwrap_or("");
                assert!(message.len() > 10, "{what}: a human reason: {message}");
            }
        }
    }
    // Edits of a stored record need not repeat every required answer; unknown fields still fail.
    let first = request.ops[0].record_id;
    let edit = PushRequest {
        ops: vec![
            ops.set(
                "visits",
                first,
                A,
                json!({"form": "water_visit", "form_version": 1, "supply_hours": 14}),
            ),
            ops.set(
                "visits",
                first,
                A,
                json!({"form": "water_visit", "form_version": 1, "supply_hours": 99}),
            ),
        ],
    };
    let answer = phone.push(&edit).await;
    assert_eq!(answer.results[0].status, OpStatus::Applied);
    assert_eq!(answer.results[1].status, OpStatus::Rejected);

    assert_eq!(
        server
            .storage
            .count(jmet::storage::SyncTable::Quarantine)
            .await
            .unwrap() as usize,
        cases.len() - applied + 1,
        "every refused op is kept"
    );
    let mut store = Store::default();
    phone.pull_all(&mut store, None, 1000).await;
    let mine: Vec<_> = store
        .iter()
        .filter(|(c, id, _)| {
            matches!(c.as_str(), "visits" | "survey_responses") && **id != w.visit_a
        })
        .collect();
    assert_eq!(mine.len(), applied, "only valid submissions merged");
    let (_, _, state) = mine
        .iter()
        .find(|(_, id, _)| **id == first)
        .expect("the first visit");
    let hours = sync_protocol::FieldName::parse("supply_hours").unwrap();
    assert_eq!(state.fields[&hours].value, json!(14));
    server.stop().await;
}

/// The fields of the pulled records of a collection, by their `code` (or form id and version).
fn pulled(store: &Store, collection: &str) -> BTreeMap<String, Value> {
    store
        .iter()
        .filter(|(c, _, _)| c.as_str() == collection)
        .map(|(_, _, state)| {
            let fields: serde_json::Map<String, Value> = state
                .fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.value.clone()))
                .collect();
            let key = match fields.get("code") {
                Some(code) => code.as_str().unwrap().to_owned(),
                None => format!("{}@{}", fields["id"].as_str().unwrap(), fields["version"]),
            };
            (key, Value::Object(fields))
        })
        .collect()
}

async fn reference_data_pulled_equals_the_admin_api(backend: Backend) {
    let server = TestServer::start(backend).await;
    let w = world::build(&server).await;
    let admin = Some(w.tokens["admin"].as_str());
    let mut store = Store::default();
    w.phone_a.pull_all(&mut store, None, 1000).await;
    for (collection, _, state) in store.iter() {
        let expected = if collection.as_str() == "forms" {
            "global"
        } else {
            A
        };
        assert_eq!(
            state.scope.as_str(),
            expected,
            "nothing of B reaches A's phone"
        );
    }

    let (_, facilities) = world::call(
        &server,
        admin,
        Method::GET,
        &format!("/api/v1/municipalities/{A}/facilities"),
        None,
    )
    .await;
    let api: BTreeMap<String, Value> = facilities
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["code"].as_str().unwrap().to_owned(), f.clone()))
        .collect();
    assert_eq!(pulled(&store, "facilities"), api);
    assert_eq!(api.len(), 3);

    // Phones get the approved plan's indicators, with the plan's approval.
    let (_, indicators) = world::call(
        &server,
        admin,
        Method::GET,
        &format!("/api/v1/municipalities/{A}/indicators"),
        None,
    )
    .await;
    let (_, plan) = world::call(
        &server,
        admin,
        Method::GET,
        &format!("/api/v1/municipalities/{A}/plan"),
        None,
    )
    .await;
    assert_eq!(plan["status"], "approved");
    let api: BTreeMap<String, Value> = indicators
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["in_me_plan"] == true)
        .map(|i| {
            let mut i = i.clone();
            let o = i.as_object_mut().unwrap();
            o.remove("in_me_plan");
            o.insert("plan_approved_on".into(), plan["approved_on"].clone());
            o.insert("plan_decision".into(), plan["decision"].clone());
            (o["code"].as_str().unwrap().to_owned(), i)
        })
        .collect();
    assert_eq!(pulled(&store, "indicators"), api);
    assert_eq!(api.len(), 2);

    let (_, territories) =
        world::call(&server, None, Method::GET, "/api/v1/territories", None).await;
    let mine: Vec<&str> = territories
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["code"] == A || t["parent"] == A)
        .map(|t| t["code"].as_str().unwrap())
        .collect();
    let got = pulled(&store, "territories");
    assert_eq!(got.keys().map(String::as_str).collect::<Vec<_>>(), mine);
    for t in territories.as_array().unwrap() {
        if let Some(p) = got.get(t["code"].as_str().unwrap()) {
            for key in ["level", "parent", "name_ky", "name_ru", "name_en"] {
                assert_eq!(p[key], t[key], "{key} of {}", t["code"]);
            }
        }
    }

    let (_, forms) = world::call(&server, admin, Method::GET, "/api/v1/forms", None).await;
    let got = pulled(&store, "forms");
    assert_eq!(got.len(), forms.as_array().unwrap().len());
    for f in forms.as_array().unwrap() {
        let (_, definition) = world::call(
            &server,
            admin,
            Method::GET,
            &format!(
                "/api/v1/forms/{}/{}",
                f["id"].as_str().unwrap(),
                f["version"]
            ),
            None,
        )
        .await;
        assert_eq!(
            got[&format!("{}@{}", f["id"].as_str().unwrap(), f["version"])]["definition"],
            definition
        );
    }
    server.stop().await;
}

async fn a_form_version_is_immutable_once_published(backend: Backend) {
    let server = TestServer::start(backend).await;
    let w = world::build(&server).await;
    let admin = Some(w.tokens["admin"].as_str());
    let same = world::FORMS[0].to_owned();
    let (status, body) = world::call(
        &server,
        admin,
        Method::POST,
        "/api/v1/forms",
        Some(("application/json", same)),
    )
    .await;
    assert_eq!(
        (status, &body["created"]),
        (200, &json!(false)),
        "publishing the same again is a no-op"
    );
    let mut changed: Value = serde_json::from_str(world::FORMS[0]).unwrap();
    changed["questions"][0]["max"] = json!(48);
    let (status, body) = world::call(
        &server,
        admin,
        Method::POST,
        "/api/v1/forms",
        Some(("application/json", changed.to_string())),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    changed["version"] = json!(2);
    let (status, _) = world::call(
        &server,
        admin,
        Method::POST,
        "/api/v1/forms",
        Some(("application/json", changed.to_string())),
    )
    .await;
    assert_eq!(status, 201);
    // A broken definition names where it is broken.
    let mut broken: Value = serde_json::from_str(world::FORMS[0]).unwrap();
    broken["version"] = json!(3);
    broken["questions"][1]["key"] = broken["questions"][0]["key"].clone();
    let (status, body) = world::call(
        &server,
        admin,
        Method::POST,
        "/api/v1/forms",
        Some(("application/json", broken.to_string())),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_import")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("questions[1]"),
        "{body}"
    );
    let (status, body) = world::call(
        &server,
        admin,
        Method::POST,
        "/api/v1/forms",
        Some(("application/json", "{not json".into())),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_import")),
        "{body}"
    );
    let (_, forms) = world::call(&server, admin, Method::GET, "/api/v1/forms", None).await;
    let water: Vec<&Value> = forms
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "water_visit")
        .collect();
    assert_eq!(
        water.len(),
        2,
        "versions 1 and 2, nothing of the refused ones"
    );
    server.stop().await;
}
