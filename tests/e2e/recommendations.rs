//! JMET recommendations over sync: members vote from their phones; a recommendation is adopted
//! only with more than half of the team's current members; a member who left no longer counts
//! and cannot vote; the council's decisions then carry its status, and the public sees adopted
//! ones with their status on the API and the panel, never drafts.

use reqwest::Method;
use serde_json::{Value, json};
use sync_protocol::{PushRequest, RecordId};

use crate::harness::{Backend, OpMaker, TestDevice, TestServer};
use crate::on_both;
use crate::world::{A, build, call};

on_both!(votes_adopt_a_recommendation_only_with_a_majority_of_current_members);

async fn phone_of(server: &TestServer, member: jmet::ids::MemberId) -> TestDevice {
    let d = server
        .storage
        .create_member_device(member, Some("phone"), "test", 1)
        .await
        .unwrap();
    TestDevice {
        url: server.url.clone(),
        http: server.http.clone(),
        device_id: d.device_id,
        token: d.token,
    }
}

async fn push_one(phone: &TestDevice, collection: &str, id: RecordId, fields: Value) -> Value {
    let mut ops = OpMaker::for_device(phone);
    let op = ops.set(collection, id, A, fields);
    let response = phone.push_raw(json!(PushRequest { ops: vec![op] })).await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    json!({"http": status, "body": body})
}

async fn vote(phone: &TestDevice, recommendation: RecordId, choice: &str) -> RecordId {
    let id = RecordId::generate();
    let answer = push_one(
        phone,
        "votes",
        id,
        json!({"recommendation": recommendation.to_string(), "vote": choice}),
    )
    .await;
    assert_eq!(
        answer["body"]["results"][0]["status"], "applied",
        "{answer}"
    );
    id
}

async fn status_of(server: &TestServer, token: Option<&str>, id: RecordId) -> Option<Value> {
    let (code, body) = call(
        server,
        token,
        Method::GET,
        &format!("/api/v1/municipalities/{A}/recommendations"),
        None,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    body["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id.to_string())
        .cloned()
}

async fn votes_adopt_a_recommendation_only_with_a_majority_of_current_members(backend: Backend) {
    let server = TestServer::start(backend).await;
    let world = build(&server).await;
    let s = &server.storage;
    // Three members: Aigul (the world's), Bolot and Cholpon, each with a phone.
    let bolot = s
        .add_member(world.team_a, "Bolot", "2024-03-01", "test", 1)
        .await
        .unwrap();
    let cholpon = s
        .add_member(world.team_a, "Cholpon", "2024-03-01", "test", 1)
        .await
        .unwrap();
    let aigul_phone = world.phone_a.clone();
    let bolot_phone = phone_of(&server, bolot).await;
    let cholpon_phone = phone_of(&server, cholpon).await;
    let reader = world.tokens["supervisor"].clone();

    // The meeting starts from the draft the server pre-fills from the official figures.
    let (code, draft) = call(
        &server,
        None,
        Method::GET,
        &format!("/api/v1/municipalities/{A}/recommendations/draft?year=2026"),
        None,
    )
    .await;
    assert_eq!(code, 200, "{draft}");
    let mut items = draft["items"].as_array().unwrap().clone();
    assert!(
        !items.is_empty(),
        "indicators not on track are listed: {draft}"
    );
    for key in [
        "indicator",
        "plan",
        "fact",
        "gap",
        "forecast",
        "shortcomings",
        "proposals",
    ] {
        assert!(items[0].get(key).is_some(), "{key} in {}", items[0]);
    }
    items[0]["shortcomings"] = json!("The pump at the water point broke in May");
    items[0]["proposals"] = json!("Budget a new pump in 2027");
    let recommendation = |title: &str| {
        json!({"title": title, "meeting_on": "2026-11-20", "items": items.clone(),
               "addressees": ["deputies", "ao_head", "Water users' association"]})
    };
    let r1 = RecordId::generate();
    let pushed = push_one(
        &aigul_phone,
        "recommendations",
        r1,
        recommendation("Repair the pump"),
    )
    .await;
    assert_eq!(
        pushed["body"]["results"][0]["status"], "applied",
        "{pushed}"
    );
    let r2 = RecordId::generate();
    push_one(
        &aigul_phone,
        "recommendations",
        r2,
        recommendation("Extend the supply hours"),
    )
    .await;

    let r = status_of(&server, Some(&reader), r1)
        .await
        .expect("the team sees its draft");
    assert_eq!(r["status"], "draft");
    assert_eq!(
        r["votes"],
        json!({"for": 0, "against": 0, "abstain": 0, "current_members": 3, "needed": 2})
    );
    assert!(
        status_of(&server, None, r1).await.is_none(),
        "the public does not see drafts"
    );

    // One vote for of three members: still a draft. A second member against: still a draft.
    vote(&aigul_phone, r1, "for").await;
    let bolot_vote = vote(&bolot_phone, r1, "against").await;
    let r = status_of(&server, Some(&reader), r1).await.unwrap();
    assert_eq!(
        (r["status"].as_str(), r["votes"]["for"].as_u64()),
        (Some("draft"), Some(1))
    );
    // Bolot changes his vote (the same record, later): two of three, adopted.
    push_one(&bolot_phone, "votes", bolot_vote, json!({"vote": "for"})).await;
    let r = status_of(&server, None, r1).await.expect("adopted: public");
    assert_eq!(r["status"], "adopted");
    assert_eq!(r["votes"]["for"], 2);
    assert_eq!(r["votes"]["against"], 0);
    // Voting twice does not count twice.
    vote(&aigul_phone, r1, "for").await;
    assert_eq!(
        status_of(&server, None, r1).await.unwrap()["votes"]["for"],
        2
    );

    // Cholpon and Aigul adopt the second; then Cholpon leaves: her vote no longer counts, the
    // majority of the two who remain is two, and it is a draft again.
    vote(&cholpon_phone, r2, "for").await;
    vote(&aigul_phone, r2, "for").await;
    assert_eq!(
        status_of(&server, None, r2).await.unwrap()["status"],
        "adopted"
    );
    s.member_leaves(cholpon, "2026-11-21", "test", 2)
        .await
        .unwrap();
    let r = status_of(&server, Some(&reader), r2).await.unwrap();
    assert_eq!(r["status"], "draft", "{r}");
    assert_eq!(r["votes"]["current_members"], 2);
    assert_eq!(r["votes"]["for"], 1);
    // And she cannot vote any more: her phone is revoked.
    let refused = push_one(
        &cholpon_phone,
        "votes",
        RecordId::generate(),
        json!({"recommendation": r2.to_string(), "vote": "for"}),
    )
    .await;
    assert_eq!(refused["http"], 401, "{refused}");
    assert_eq!(
        status_of(&server, None, r1).await.unwrap()["status"],
        "adopted"
    );

    // Malformed votes and recommendations are refused with the field, and kept in quarantine.
    let bad = push_one(
        &bolot_phone,
        "votes",
        RecordId::generate(),
        json!({"recommendation": r1.to_string(), "vote": "yes"}),
    )
    .await;
    assert_eq!(bad["body"]["results"][0]["status"], "rejected", "{bad}");
    assert_eq!(bad["body"]["results"][0]["field"], "vote");
    let bad = push_one(
        &bolot_phone,
        "recommendations",
        RecordId::generate(),
        json!({"title": "No items", "meeting_on": "2026-11-20"}),
    )
    .await;
    assert_eq!(bad["body"]["results"][0]["field"], "items", "{bad}");

    // The council takes it up, then decides.
    let deputy = world.tokens["deputy"].clone();
    let post = |token: Option<String>, body: Value| {
        let server = &server;
        async move {
            call(
                server,
                token.as_deref(),
                Method::POST,
                &format!("/api/v1/municipalities/{A}/council-decisions"),
                Some(("application/json", body.to_string())),
            )
            .await
        }
    };
    let agenda = json!({"session_on": "2026-11-25", "instrument": "agenda_item",
        "decision": "The JMET's recommendation on the pump goes on the December agenda",
        "recommendations": [r1.to_string()], "indicators": ["A-OWN"]});
    for (token, status, code) in [
        (None, 401, "unauthorized"),
        (Some(world.tokens["member"].clone()), 403, "forbidden"),
        (Some(world.tokens["supervisor"].clone()), 403, "forbidden"),
    ] {
        let (got, body) = post(token, agenda.clone()).await;
        assert_eq!((got, body["code"].as_str()), (status, Some(code)), "{body}");
    }
    for (body, why) in [
        (
            json!({"session_on": "2026-11-25", "instrument": "petition", "decision": "x"}),
            "instrument",
        ),
        (
            json!({"session_on": "25.11.2026", "instrument": "agenda_item", "decision": "x"}),
            "session_on",
        ),
        (
            json!({"session_on": "2026-11-25", "instrument": "agenda_item", "decision": " "}),
            "decision",
        ),
        (
            json!({"session_on": "2026-11-25", "instrument": "agenda_item", "decision": "x",
                "recommendations": [RecordId::generate().to_string()]}),
            "recommendation",
        ),
        (
            json!({"session_on": "2026-11-25", "instrument": "agenda_item", "decision": "x",
                "indicators": ["B-DELEG"]}),
            "indicator",
        ),
    ] {
        let (got, answer) = post(Some(deputy.clone()), body).await;
        assert_eq!(got, 422, "{answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(why),
            "{answer}"
        );
    }
    let (got, body) = post(Some(deputy.clone()), json!({"oops": 1})).await;
    assert_eq!(got, 400, "{body}");
    let (got, body) = post(Some(deputy.clone()), agenda).await;
    assert_eq!(got, 201, "{body}");
    assert_eq!(
        status_of(&server, None, r1).await.unwrap()["status"],
        "under_consideration"
    );
    let (got, _) = post(
        Some(deputy.clone()),
        json!({"session_on": "2026-12-10",
        "instrument": "deputy_request", "status": "decision_taken",
        "decision": "The AO is to buy and install a new pump by April 2027",
        "recommendations": [r1.to_string()]}),
    )
    .await;
    assert_eq!(got, 201);
    assert_eq!(
        status_of(&server, None, r1).await.unwrap()["status"],
        "decision_taken"
    );
    let (_, log) = call(
        &server,
        None,
        Method::GET,
        &format!("/api/v1/municipalities/{A}/council-decisions"),
        None,
    )
    .await;
    let log = log["decisions"].as_array().unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["session_on"], "2026-12-10", "newest first");

    // The panel shows the adopted recommendation with its status and the decision log; the
    // draft stays inside the team.
    let html = server
        .http
        .get(format!("{}/panel/{A}?lang=en", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Repair the pump") && html.contains("decision taken"));
    assert!(html.contains("The AO is to buy and install a new pump"));
    assert!(html.contains("agenda item") && html.contains("2026-12-10"));
    assert!(
        !html.contains("Extend the supply hours"),
        "drafts are not public"
    );
    for name in ["Aigul", "Bolot", "Cholpon"] {
        assert!(!html.contains(name), "the panel names {name}");
    }
    // The AO head's annual report lists the adopted recommendation and the council's decisions.
    let report = server
        .http
        .get(format!("{}/panel/{A}/report/2026?lang=en", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(report.contains("Repair the pump") && report.contains("The AO is to buy and install"));
    assert!(!report.contains("Extend the supply hours"));
}
