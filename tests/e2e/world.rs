//! A small municipal world for the access and forms tests: one rayon with two municipalities
//! (A and B), villages, facilities (delegated and not), SEDP indicators, an approved M&E plan in
//! A, a team in each, the demo forms, and one user of every role working in A.

use std::collections::BTreeMap;

use jmet::access::Role;
use serde_json::{Value, json};

use crate::harness::{TestDevice, TestServer};

pub const A: &str = "KG-N-AT-01";
pub const B: &str = "KG-N-AT-02";
pub const PASSWORD: &str = "correct horse battery";

pub struct World {
    pub team_a: jmet::ids::TeamId,
    pub team_b: jmet::ids::TeamId,
    pub member_a: jmet::ids::MemberId,
    pub member_b: jmet::ids::MemberId,
    pub phone_a: TestDevice,
    /// A water visit in each municipality.
    pub visit_a: sync_protocol::RecordId,
    pub visit_b: sync_protocol::RecordId,
    /// API tokens by role name (users working in A; the state body too).
    pub tokens: BTreeMap<&'static str, String>,
}

fn square(lon: f64, lat: f64, d: f64) -> Value {
    json!({"type": "Polygon", "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]]})
}

fn feature(code: &str, level: &str, parent: Option<&str>, geometry: Value) -> Value {
    json!({"type": "Feature", "geometry": geometry, "properties": {
        "code": code, "level": level, "parent": parent,
        "name_ky": format!("{code} ky"), "name_ru": format!("{code} ru"), "name_en": format!("{code} en")}})
}

pub fn territories_geojson() -> String {
    let point = |lon: f64, lat: f64| json!({"type": "Point", "coordinates": [lon, lat]});
    json!({"type": "FeatureCollection", "features": [
        feature("KG-N", "oblast", None, square(73.5, 40.5, 3.0)),
        feature("KG-N-AT", "rayon", Some("KG-N"), square(74.5, 41.0, 1.0)),
        feature(A, "municipality", Some("KG-N-AT"), square(74.6, 41.1, 0.2)),
        feature(&format!("{A}-V1"), "village", Some(A), point(74.65, 41.15)),
        feature(&format!("{A}-V2"), "village", Some(A), point(74.7, 41.2)),
        feature(B, "municipality", Some("KG-N-AT"), square(75.0, 41.1, 0.2)),
        feature(&format!("{B}-V1"), "village", Some(B), point(75.05, 41.15)),
    ]})
    .to_string()
}

pub fn facilities_csv(rows: &[(&str, &str, &str, bool)]) -> String {
    let mut text =
        String::from("code,municipality,kind,name_ky,name_ru,name_en,lat,lon,delegated\n");
    for (code, m, kind, delegated) in rows {
        text.push_str(&format!(
            "{code},{m},{kind},{code} ky,{code} ru,{code} en,41.15,74.65,{}\n",
            if *delegated { "yes" } else { "no" }
        ));
    }
    text
}

pub fn indicators_csv(rows: &[(&str, &str, bool)]) -> String {
    let mut text = String::from(
        "code,municipality,name_ky,name_ru,name_en,level,kind,unit,baseline,targets,measured_by,delegated,rule\n",
    );
    for (code, m, delegated) in rows {
        text.push_str(&format!(
            "{code},{m},{code} ky,{code} ru,{code} en,output,quantitative,h,9,2025:12;2026:16,jmet,{},\"{{\"\"type\"\": \"\"lsg_entry\"\"}}\"\n",
            if *delegated { "yes" } else { "no" }
        ));
    }
    text
}

/// An SEDP document of `m` whose one action is measured by `indicator`.
pub fn sedp(m: &str, indicator: &str) -> String {
    let l = |t: &str| json!({"ky": format!("{t} ky"), "ru": format!("{t} ru"), "en": t});
    json!({"municipality": m, "from_year": 2025, "to_year": 2027, "title": l("SEDP"),
        "goals": [{"code": "G1", "title": l("Water"), "actions": [
            {"code": "G1-A1", "title": l("Repair"), "responsible": "AO", "due": "2026-H1",
             "budget_kgs": 120000, "indicators": [indicator]}]}]})
    .to_string()
}

pub const FORMS: [&str; 5] = [
    include_str!("../../fixtures/demo/forms/water_visit.json"),
    include_str!("../../fixtures/demo/forms/health_visit.json"),
    include_str!("../../fixtures/demo/forms/resident_survey_2024.json"),
    include_str!("../../fixtures/demo/forms/resident_survey_2025.json"),
    include_str!("../../fixtures/demo/forms/resident_survey_2026.json"),
];

pub async fn build(server: &TestServer) -> World {
    let s = &server.storage;
    let text = territories_geojson();
    let parsed = jmet::territory::parse_geojson(&text).unwrap();
    s.import_territories(&parsed, &text, "test", 1)
        .await
        .unwrap();
    let text = facilities_csv(&[
        ("A-WATER", A, "water_point", true),
        ("A-SCHOOL", A, "school", false),
        ("A-HEALTH", A, "health_post", true),
        ("B-WATER", B, "water_point", true),
    ]);
    let parsed = jmet::facility::parse_csv(&text).unwrap();
    s.import_facilities(&parsed, &text, "test", 1)
        .await
        .unwrap();
    let text = indicators_csv(&[
        ("A-DELEG", A, true),
        ("A-OWN", A, false),
        ("B-DELEG", B, true),
    ]);
    let parsed = jmet::indicator::parse_csv(&text).unwrap();
    s.import_indicators(&parsed, &text, "test", 1)
        .await
        .unwrap();
    let a = A.parse().unwrap();
    s.set_plan(&a, &["A-DELEG".into(), "A-OWN".into()], "test", 1)
        .await
        .unwrap();
    s.approve_plan(&a, "2025-02-10", "No. 3/11", "test", 1)
        .await
        .unwrap();
    for (m, indicator) in [(A, "A-DELEG"), (B, "B-DELEG")] {
        let sedp = jmet::sedp::parse(&sedp(m, indicator)).unwrap();
        s.import_sedp(&sedp, "test", 1).await.unwrap();
    }
    let b = B.parse().unwrap();
    s.set_plan(&b, &["B-DELEG".into()], "test", 1)
        .await
        .unwrap();
    for text in FORMS {
        let form = sync_protocol::FormDef::from_json(text).unwrap();
        s.import_form(&form, "test", 1).await.unwrap();
    }
    let team_a = s.create_team(&a, "JMET A", "test", 1).await.unwrap();
    let team_b = s.create_team(&b, "JMET B", "test", 1).await.unwrap();
    let member_a = s
        .add_member(team_a, "Aigul", "2024-03-01", "test", 1)
        .await
        .unwrap();
    let member_b = s
        .add_member(team_b, "Bakyt", "2024-03-01", "test", 1)
        .await
        .unwrap();
    let new = s
        .create_member_device(member_a, Some("phone"), "test", 1)
        .await
        .unwrap();
    let phone_a = TestDevice {
        url: server.url.clone(),
        http: server.http.clone(),
        device_id: new.device_id,
        token: new.token,
    };
    let phone_b = server.device(&[B]).await;
    let mut visits = Vec::new();
    for (phone, m, facility) in [(&phone_a, A, "A-WATER"), (&phone_b, B, "B-WATER")] {
        let mut ops = crate::harness::OpMaker::for_device(phone);
        let visit = sync_protocol::RecordId::generate();
        let answer = phone
            .push(&sync_protocol::PushRequest {
                ops: vec![ops.set(
                    "visits",
                    visit,
                    m,
                    json!({"form": "water_visit", "form_version": 1, "facility": facility,
                           "captured_at": "2025-05-04T10:20:00+06:00",
                           "gps": {"lat": 41.15, "lon": 74.65, "acc": 5},
                           "supply_hours": 12, "water_clear": true, "households_served_share": 70}),
                )],
            })
            .await;
        assert_eq!(answer.results[0].status, sync_protocol::OpStatus::Applied);
        visits.push(visit);
    }
    let mut tokens = BTreeMap::new();
    for role in Role::ALL {
        let user_id = create_user(server, role.as_str(), role, &[A]).await;
        let token = s
            .create_api_token(user_id, "matrix", "test", 1)
            .await
            .unwrap();
        tokens.insert(role.as_str(), token.token);
    }
    World {
        team_a,
        team_b,
        member_a,
        member_b,
        phone_a,
        visit_a: visits[0],
        visit_b: visits[1],
        tokens,
    }
}

pub async fn create_user(
    server: &TestServer,
    login: &str,
    role: Role,
    scopes: &[&str],
) -> jmet::access::UserId {
    let user = jmet::accounts::CreateUser {
        login: login.into(),
        name: format!("{login} (test)"),
        role,
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        password: PASSWORD.into(),
    };
    jmet::accounts::create_user(&server.storage, user, "test", 1)
        .await
        .unwrap()
}

/// One request with an optional bearer token; answers the status and the JSON body.
pub async fn call(
    server: &TestServer,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Option<(&str, String)>,
) -> (u16, Value) {
    let mut request = server.http.request(method, format!("{}{path}", server.url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some((content_type, body)) = body {
        request = request.header("content-type", content_type).body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}
