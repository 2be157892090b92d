//! Every role (and no login) against every endpoint of the domain API, in its own municipality
//! and in another: the expected answers are written out here, independently of the server's
//! rule, so a change to the rule that opens or closes a door fails this test.

use reqwest::Method;
use serde_json::json;

use crate::harness::{Backend, TestServer};
use crate::on_both;
use crate::world::{self, A, B, PASSWORD, World};

on_both!(
    every_role_against_every_endpoint,
    a_state_body_sees_only_delegated_items,
    sessions_need_the_csrf_token_to_write_and_log_out_cleanly,
    a_disabled_user_and_a_revoked_token_are_refused,
    changes_made_over_the_api_are_audited_with_who_and_how,
    a_malformed_import_over_the_api_names_the_line_and_imports_nothing,
    password_guessing_is_slowed_per_login,
);

const CALLERS: [&str; 9] = [
    "public",
    "device",
    "member",
    "supervisor",
    "ao_staff",
    "ao_head",
    "deputy",
    "state_body",
    "admin",
];

const ALL: &[&str] = &CALLERS;
const SIGNED_IN: &[&str] = &[
    "device",
    "member",
    "supervisor",
    "ao_staff",
    "ao_head",
    "deputy",
    "state_body",
    "admin",
];
const READ_OWN: &[&str] = SIGNED_IN;
const TEAMS_OWN: &[&str] = &[
    "device",
    "member",
    "supervisor",
    "ao_staff",
    "ao_head",
    "deputy",
    "admin",
];
const MANAGERS: &[&str] = &["ao_staff", "ao_head", "admin"];
const ADMIN: &[&str] = &["admin"];
const DEPUTY: &[&str] = &["deputy"];
const DEVICE: &[&str] = &["device"];
const NOBODY: &[&str] = &[];

struct Case {
    name: String,
    method: Method,
    path: String,
    body: Option<(&'static str, String)>,
    allowed: &'static [&'static str],
}

fn case(
    name: &str,
    method: Method,
    path: String,
    body: Option<(&'static str, String)>,
    allowed: &'static [&'static str],
) -> Case {
    Case {
        name: name.into(),
        method,
        path,
        body,
        allowed,
    }
}

fn json_body(value: serde_json::Value) -> Option<(&'static str, String)> {
    Some(("application/json", value.to_string()))
}

async fn cases(server: &TestServer, w: &World, caller: &str) -> Vec<Case> {
    let s = &server.storage;
    // Destructive targets are fresh for every caller, so one caller's success cannot turn the
    // next caller's attempt into a 404.
    let leaver_a = s
        .add_member(
            w.team_a,
            &format!("leaver {caller}"),
            "2024-01-01",
            "test",
            1,
        )
        .await
        .unwrap();
    let leaver_b = s
        .add_member(
            w.team_b,
            &format!("leaver {caller}"),
            "2024-01-01",
            "test",
            1,
        )
        .await
        .unwrap();
    let device_a = s
        .create_member_device(w.member_a, Some(caller), "test", 1)
        .await
        .unwrap()
        .device_id;
    let device_b = s
        .create_member_device(w.member_b, Some(caller), "test", 1)
        .await
        .unwrap()
        .device_id;
    let csv = |m: &str| world::facilities_csv(&[(&format!("{m}-NEW"), m, "road", false)]);
    let ind = |m: &str| world::indicators_csv(&[(&format!("{m}-NEW"), m, false)]);
    let form = {
        let mut f: serde_json::Value = serde_json::from_str(world::FORMS[0]).unwrap();
        f["id"] = json!(format!("matrix_{caller}"));
        f.to_string()
    };
    let user = json!({"login": format!("new.{caller}"), "name": "New", "role": "supervisor", "scopes": [A], "password": PASSWORD});
    use Method as M;
    let mut cases = vec![
        case(
            "list territories",
            M::GET,
            "/api/v1/territories".into(),
            None,
            ALL,
        ),
        case(
            "review queue",
            M::GET,
            "/api/v1/review-queue".into(),
            None,
            &["supervisor", "admin"],
        ),
        case(
            "bulk approval",
            M::POST,
            "/api/v1/review-queue/approve".into(),
            json_body(json!({"submissions": []})),
            &["supervisor", "admin"],
        ),
        case(
            "import territories",
            M::POST,
            "/api/v1/territories".into(),
            Some(("application/geo+json", world::territories_geojson())),
            ADMIN,
        ),
        case(
            "list forms",
            M::GET,
            "/api/v1/forms".into(),
            None,
            SIGNED_IN,
        ),
        case(
            "read a form",
            M::GET,
            "/api/v1/forms/water_visit/1".into(),
            None,
            SIGNED_IN,
        ),
        case(
            "publish a form",
            M::POST,
            "/api/v1/forms".into(),
            Some(("application/json", form)),
            ADMIN,
        ),
        case("list users", M::GET, "/api/v1/users".into(), None, ADMIN),
        case(
            "upload status",
            M::GET,
            format!("/api/v1/uploads/{}", "ab".repeat(32)),
            None,
            DEVICE,
        ),
        case(
            "GPS thresholds",
            M::GET,
            "/api/v1/gps-thresholds".into(),
            None,
            SIGNED_IN,
        ),
        case(
            "set GPS thresholds",
            M::PUT,
            "/api/v1/gps-thresholds/road".into(),
            json_body(
                json!({"max_distance_m": 3000, "max_accuracy_m": 50, "max_photo_distance_m": 3000, "max_photo_age_s": 86400}),
            ),
            ADMIN,
        ),
        case(
            "sync pull",
            M::GET,
            "/api/v1/sync/pull".into(),
            None,
            DEVICE,
        ),
        case(
            "sync push",
            M::POST,
            "/api/v1/sync/push".into(),
            json_body(json!({"ops": []})),
            DEVICE,
        ),
        case(
            "create a user",
            M::POST,
            "/api/v1/users".into(),
            json_body(user),
            ADMIN,
        ),
    ];
    for (m, own) in [(A, true), (B, false)] {
        let pick = |own_allowed: &'static [&'static str]| if own { own_allowed } else { ADMIN };
        let team = if own { &w.team_a } else { &w.team_b };
        let member = if own { &w.member_a } else { &w.member_b };
        let leaver = if own { &leaver_a } else { &leaver_b };
        let device = if own { device_a } else { device_b };
        let visit = if own { w.visit_a } else { w.visit_b };
        let at = |what: &str| format!("{what} of {}", if own { "own" } else { "other" });
        let deleg = if own { "A-DELEG" } else { "B-DELEG" };
        cases.extend([
            case(
                &at("indicator series"),
                M::GET,
                format!("/api/v1/indicators/{deleg}/series?period=quarter"),
                None,
                ALL,
            ),
            case(
                &at("plan vs fact"),
                M::GET,
                format!("/api/v1/municipalities/{m}/plan-vs-fact?period=2025"),
                None,
                ALL,
            ),
            case(
                &at("provisional plan vs fact"),
                M::GET,
                format!("/api/v1/municipalities/{m}/plan-vs-fact?period=2025&basis=provisional"),
                None,
                pick(READ_OWN),
            ),
            case(
                &at("survey results"),
                M::GET,
                format!("/api/v1/municipalities/{m}/survey"),
                None,
                ALL,
            ),
            case(
                &at("scorecard"),
                M::GET,
                format!("/api/v1/municipalities/{m}/scorecard/2025"),
                None,
                ALL,
            ),
            case(
                &at("LSG entries"),
                M::GET,
                format!("/api/v1/municipalities/{m}/lsg-entries"),
                None,
                ALL,
            ),
            case(
                &at("enter an LSG value"),
                M::PUT,
                format!("/api/v1/indicators/{deleg}/entries/2025-Q2"),
                json_body(json!({"value": 3.5, "note": "matrix"})),
                pick(MANAGERS),
            ),
            case(
                &at("staff assessment"),
                M::PUT,
                format!("/api/v1/municipalities/{m}/scorecard/2025/assessment"),
                json_body(json!({"items": [{"criterion": "c", "score": 1, "max": 2}]})),
                pick(MANAGERS),
            ),
            case(
                &at("submission status"),
                M::GET,
                format!("/api/v1/submissions/visits/{visit}/status"),
                None,
                pick(READ_OWN),
            ),
            case(
                &at("review a visit"),
                M::POST,
                format!("/api/v1/submissions/visits/{visit}/reviews"),
                json_body(json!({"decision": "approved"})),
                pick(&["supervisor", "admin"]),
            ),
            case(
                &at("comment on a visit"),
                M::POST,
                format!("/api/v1/submissions/visits/{visit}/comments"),
                json_body(json!({"text": "matrix"})),
                pick(&["supervisor", "admin"]),
            ),
            case(
                &at("submission detail"),
                M::GET,
                format!("/api/v1/submissions/visits/{visit}"),
                None,
                pick(TEAMS_OWN),
            ),
            case(
                &at("facilities"),
                M::GET,
                format!("/api/v1/municipalities/{m}/facilities"),
                None,
                pick(READ_OWN),
            ),
            case(
                &at("indicators"),
                M::GET,
                format!("/api/v1/municipalities/{m}/indicators"),
                None,
                pick(READ_OWN),
            ),
            case(
                &at("plan"),
                M::GET,
                format!("/api/v1/municipalities/{m}/plan"),
                None,
                pick(READ_OWN),
            ),
            case(
                &at("visit evidence"),
                M::GET,
                format!("/api/v1/visits/{visit}/evidence"),
                None,
                pick(READ_OWN),
            ),
            case(
                &at("SEDP"),
                M::GET,
                format!("/api/v1/municipalities/{m}/sedp"),
                None,
                pick(READ_OWN),
            ),
            case(
                &at("replace SEDP"),
                M::PUT,
                format!("/api/v1/municipalities/{m}/sedp"),
                Some((
                    "application/json",
                    world::sedp(m, if own { "A-OWN" } else { "B-DELEG" }),
                )),
                pick(MANAGERS),
            ),
            case(
                &at("teams"),
                M::GET,
                format!("/api/v1/municipalities/{m}/teams"),
                None,
                pick(TEAMS_OWN),
            ),
            case(
                &at("members"),
                M::GET,
                format!("/api/v1/teams/{team}/members"),
                None,
                pick(TEAMS_OWN),
            ),
            case(
                &at("member's devices"),
                M::GET,
                format!("/api/v1/members/{member}/devices"),
                None,
                pick(TEAMS_OWN),
            ),
            case(
                &at("import facilities"),
                M::POST,
                "/api/v1/facilities".into(),
                Some(("text/csv", csv(m))),
                pick(MANAGERS),
            ),
            case(
                &at("import indicators"),
                M::POST,
                "/api/v1/indicators".into(),
                Some(("text/csv", ind(m))),
                pick(MANAGERS),
            ),
            case(
                &at("draft plan"),
                M::PUT,
                format!("/api/v1/municipalities/{m}/plan"),
                json_body(json!({"indicators": [if own { "A-DELEG" } else { "B-DELEG" }]})),
                pick(MANAGERS),
            ),
            case(
                &at("approve plan"),
                M::POST,
                format!("/api/v1/municipalities/{m}/plan/approve"),
                json_body(json!({"session_date": "2025-03-01", "decision": "No. 4/2"})),
                if own { DEPUTY } else { NOBODY },
            ),
            case(
                &at("create team"),
                M::POST,
                "/api/v1/teams".into(),
                json_body(json!({"municipality": m, "name": "another"})),
                pick(MANAGERS),
            ),
            case(
                &at("add member"),
                M::POST,
                format!("/api/v1/teams/{team}/members"),
                json_body(json!({"name": "Cholpon", "joined_on": "2025-01-01"})),
                pick(MANAGERS),
            ),
            case(
                &at("enrollment code"),
                M::POST,
                format!("/api/v1/members/{member}/enrollment-codes"),
                json_body(json!({})),
                pick(MANAGERS),
            ),
            case(
                &at("member leaves"),
                M::POST,
                format!("/api/v1/members/{leaver}/leave"),
                json_body(json!({"left_on": "2025-06-30"})),
                pick(MANAGERS),
            ),
            case(
                &at("revoke device"),
                M::POST,
                format!("/api/v1/devices/{device}/revoke"),
                None,
                pick(MANAGERS),
            ),
        ]);
    }
    cases
}

async fn every_role_against_every_endpoint(backend: Backend) {
    let server = TestServer::start(backend).await;
    let w = world::build(&server).await;
    let mut failures = Vec::new();
    let mut checked = 0;
    for caller in CALLERS {
        let token = match caller {
            "public" => None,
            "device" => Some(w.phone_a.token.clone()),
            role => Some(w.tokens[role].clone()),
        };
        for c in cases(&server, &w, caller).await {
            let (status, body) = world::call(
                &server,
                token.as_deref(),
                c.method.clone(),
                &c.path,
                c.body.clone(),
            )
            .await;
            checked += 1;
            let allowed = c.allowed.contains(&caller);
            let expected_denial = if caller == "public" { 401 } else { 403 };
            let ok = if allowed {
                (200..300).contains(&status)
            } else {
                status == expected_denial
                    && body["code"]
                        == if status == 401 {
                            "unauthorized"
                        } else {
                            "forbidden"
                        }
                    && body.as_object().is_some_and(|o| o.len() == 2)
            };
            if !ok {
                failures.push(format!(
                    "{caller} → {} ({} {}): got {status} {:.200}, expected {}",
                    c.name,
                    c.method,
                    c.path,
                    body.to_string(),
                    if allowed {
                        "2xx".to_string()
                    } else {
                        expected_denial.to_string()
                    }
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} answers were wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 9 * 30, "{checked} requests");

    // Through sync, a phone of A writing into B is refused op by op, and nothing of B is merged.
    let mut ops = crate::harness::OpMaker::for_device(&w.phone_a);
    let record = sync_protocol::RecordId::generate();
    let records_before = server
        .storage
        .count(jmet::storage::SyncTable::Records)
        .await
        .unwrap();
    let answer = w
        .phone_a
        .push(&sync_protocol::PushRequest {
            ops: vec![ops.set("comments", record, B, json!({"text": "not mine"}))],
        })
        .await;
    assert_eq!(
        answer.results[0].code,
        Some(sync_protocol::RejectCode::ScopeNotGranted)
    );
    assert_eq!(
        server
            .storage
            .count(jmet::storage::SyncTable::Records)
            .await
            .unwrap(),
        records_before
    );
    server.stop().await;
}

async fn a_state_body_sees_only_delegated_items(backend: Backend) {
    let server = TestServer::start(backend).await;
    let w = world::build(&server).await;
    let token = Some(w.tokens["state_body"].as_str());
    let (status, facilities) = world::call(
        &server,
        token,
        Method::GET,
        &format!("/api/v1/municipalities/{A}/facilities"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let codes: Vec<&str> = facilities
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["A-HEALTH", "A-WATER"],
        "the school is not delegated"
    );
    let (_, indicators) = world::call(
        &server,
        token,
        Method::GET,
        &format!("/api/v1/municipalities/{A}/indicators"),
        None,
    )
    .await;
    let codes: Vec<&str> = indicators
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["A-DELEG"]);
    let (_, plan) = world::call(
        &server,
        token,
        Method::GET,
        &format!("/api/v1/municipalities/{A}/plan"),
        None,
    )
    .await;
    assert_eq!(plan["indicators"], json!(["A-DELEG"]));
    // The same reads by the AO see everything.
    let (_, all) = world::call(
        &server,
        Some(&w.tokens["ao_staff"]),
        Method::GET,
        &format!("/api/v1/municipalities/{A}/facilities"),
        None,
    )
    .await;
    assert_eq!(all.as_array().unwrap().len(), 3);
    server.stop().await;
}

async fn login(server: &TestServer, login: &str, password: &str) -> reqwest::Response {
    server
        .http
        .post(format!("{}/api/v1/login", server.url))
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn sessions_need_the_csrf_token_to_write_and_log_out_cleanly(backend: Backend) {
    let server = TestServer::start(backend).await;
    world::build(&server).await;
    let wrong = login(&server, "ao_staff", "not the password").await;
    assert_eq!(wrong.status(), 401);
    let unknown = login(&server, "nobody", PASSWORD).await;
    assert_eq!(unknown.status(), 401);
    let unknown: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(
        unknown["code"], "bad_credentials",
        "never says which was wrong"
    );

    let answer = login(&server, "ao_staff", PASSWORD).await;
    assert_eq!(answer.status(), 200);
    let set_cookie = answer.headers()["set-cookie"].to_str().unwrap().to_owned();
    for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(flag), "{flag} missing in {set_cookie}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let body: serde_json::Value = answer.json().await.unwrap();
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(body["user"]["role"], "ao_staff");
    assert_eq!(body["user"]["municipalities"], json!([A]));

    let me = server
        .http
        .get(format!("{}/api/v1/me", server.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["csrf_token"], csrf.as_str());

    let create = |csrf: Option<&str>| {
        let mut r = server
            .http
            .post(format!("{}/api/v1/teams", server.url))
            .header("cookie", &cookie)
            .json(&json!({"municipality": A, "name": "by session"}));
        if let Some(csrf) = csrf {
            r = r.header("x-csrf-token", csrf);
        }
        r.send()
    };
    let refused = create(None).await.unwrap();
    assert_eq!(refused.status(), 403);
    let refused: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(refused["code"], "csrf_failed");
    assert_eq!(create(Some("forged")).await.unwrap().status(), 403);
    assert_eq!(create(Some(&csrf)).await.unwrap().status(), 201);
    let teams = server.storage.teams_in(&A.parse().unwrap()).await.unwrap();
    assert_eq!(
        teams.iter().filter(|t| t.name == "by session").count(),
        1,
        "only the request with the token wrote"
    );

    let out = server
        .http
        .post(format!("{}/api/v1/logout", server.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    let me = server
        .http
        .get(format!("{}/api/v1/me", server.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401, "the session ended on the server");
    server.stop().await;
}

async fn a_disabled_user_and_a_revoked_token_are_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let w = world::build(&server).await;
    let admin = Some(w.tokens["admin"].as_str());
    let supervisor = w.tokens["supervisor"].clone();
    let (status, _) = world::call(
        &server,
        Some(&supervisor),
        Method::GET,
        "/api/v1/forms",
        None,
    )
    .await;
    assert_eq!(status, 200);
    // A script's own token, revoked by its owner.
    let (status, made) = world::call(
        &server,
        Some(&supervisor),
        Method::POST,
        "/api/v1/me/tokens",
        json_body(json!({"label": "nightly export"})),
    )
    .await;
    assert_eq!(status, 201);
    let script = made["token"].as_str().unwrap().to_owned();
    let (status, _) = world::call(&server, Some(&script), Method::GET, "/api/v1/forms", None).await;
    assert_eq!(status, 200);
    let (status, _) = world::call(
        &server,
        Some(&supervisor),
        Method::DELETE,
        &format!("/api/v1/me/tokens/{}", made["token_id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, body) =
        world::call(&server, Some(&script), Method::GET, "/api/v1/forms", None).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));

    let (_, users) = world::call(&server, admin, Method::GET, "/api/v1/users", None).await;
    let id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["login"] == "supervisor")
        .unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = world::call(
        &server,
        admin,
        Method::POST,
        &format!("/api/v1/users/{id}/disable"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = world::call(
        &server,
        Some(&supervisor),
        Method::GET,
        "/api/v1/forms",
        None,
    )
    .await;
    assert_eq!(status, 401, "a disabled user's tokens stop at once");
    assert_eq!(login(&server, "supervisor", PASSWORD).await.status(), 401);
    server.stop().await;
}

async fn changes_made_over_the_api_are_audited_with_who_and_how(backend: Backend) {
    use sea_orm::{ConnectionTrait, Statement};
    let server = TestServer::start(backend).await;
    let w = world::build(&server).await;
    let (status, _) = world::call(
        &server,
        Some(&w.tokens["ao_head"]),
        Method::POST,
        "/api/v1/teams",
        json_body(json!({"municipality": A, "name": "audited"})),
    )
    .await;
    assert_eq!(status, 201);
    let answer = login(&server, "ao_staff", PASSWORD).await;
    let cookie = answer.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let body: serde_json::Value = answer.json().await.unwrap();
    let response = server
        .http
        .post(format!("{}/api/v1/teams/{}/members", server.url, w.team_a))
        .header("cookie", cookie)
        .header("x-csrf-token", body["csrf_token"].as_str().unwrap())
        .json(&json!({"name": "Dinara", "joined_on": "2025-05-01"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let db = server.storage.connection();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT actor, action FROM audit_log ORDER BY seq",
        ))
        .await
        .unwrap();
    let entries: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r.try_get_by_index(0).unwrap(),
                r.try_get_by_index(1).unwrap(),
            )
        })
        .collect();
    assert!(
        entries.iter().any(|(actor, action)| action == "team.create"
            && actor.starts_with("user:ao_head (api token ")),
        "{entries:?}"
    );
    assert!(
        entries.contains(&("user:ao_staff (web login)".into(), "member.add".into())),
        "{entries:?}"
    );
    assert!(matches!(
        server.storage.verify_audit().await.unwrap(),
        jmet::storage::AuditReport::Intact { .. }
    ));
    server.stop().await;
}

async fn a_malformed_import_over_the_api_names_the_line_and_imports_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let w = world::build(&server).await;
    let before = server.storage.facilities().await.unwrap();
    let mut csv =
        world::facilities_csv(&[("A-NEW1", A, "road", false), ("A-NEW2", A, "road", false)]);
    csv.push_str("A-NEW3,KG-N-AT-01,volcano,x,x,x,41.1,74.6,no\n");
    let (status, body) = world::call(
        &server,
        Some(&w.tokens["ao_staff"]),
        Method::POST,
        "/api/v1/facilities",
        Some(("text/csv", csv)),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_import")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("line 4"),
        "{body}"
    );
    assert_eq!(server.storage.facilities().await.unwrap(), before);

    let before = server.storage.territories().await.unwrap();
    let mut geo: serde_json::Value = serde_json::from_str(&world::territories_geojson()).unwrap();
    geo["features"][2]["properties"]["name_en"] = json!("renamed");
    geo["features"][4]["geometry"] = json!({"type": "Point", "coordinates": [274.0, 41.0]});
    let (status, body) = world::call(
        &server,
        Some(&w.tokens["admin"]),
        Method::POST,
        "/api/v1/territories",
        Some(("application/geo+json", geo.to_string())),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_import")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("feature 5"),
        "{body}"
    );
    assert_eq!(
        server.storage.territories().await.unwrap(),
        before,
        "not even feature 3's rename"
    );

    // An SEDP whose action names an indicator of another municipality.
    let a = A.parse().unwrap();
    let before = server.storage.sedp(&a).await.unwrap();
    let (status, body) = world::call(
        &server,
        Some(&w.tokens["ao_head"]),
        Method::PUT,
        &format!("/api/v1/municipalities/{A}/sedp"),
        Some(("application/json", world::sedp(A, "B-DELEG"))),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_import")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("goals[0].actions[0].indicators[0]: B-DELEG is not an SEDP indicator of"),
        "{body}"
    );
    assert_eq!(server.storage.sedp(&a).await.unwrap(), before);
    let (status, body) = world::call(
        &server,
        Some(&w.tokens["ao_head"]),
        Method::PUT,
        &format!("/api/v1/municipalities/{A}/sedp"),
        Some(("application/json", world::sedp(B, "B-DELEG"))),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid")),
        "{body}"
    );
    server.stop().await;
}

async fn password_guessing_is_slowed_per_login(backend: Backend) {
    let server = TestServer::start(backend).await;
    world::build(&server).await;
    for attempt in 1..=5 {
        let r = login(&server, "deputy", &format!("guess {attempt}")).await;
        assert_eq!(r.status(), 401, "attempt {attempt}");
    }
    let locked = login(&server, "deputy", PASSWORD).await;
    assert_eq!(locked.status(), 429, "even the right password waits now");
    let retry: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    let body: serde_json::Value = locked.json().await.unwrap();
    assert_eq!(body["code"], "too_many_attempts");
    // Another login is not affected.
    assert_eq!(login(&server, "supervisor", PASSWORD).await.status(), 200);
    server.stop().await;
}
