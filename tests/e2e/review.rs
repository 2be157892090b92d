//! Supervisor review over HTTP: the state rules (the approve-versus-offline-edit race driven by a
//! phone and a supervisor), comments and decisions reaching phones, the queue's filters, sorts
//! and counts, bulk approval, the console's login, CSRF and scope isolation in pages and API.

use reqwest::Method;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use sync_protocol::review::{self, Decision, ReviewFacts, ReviewStatus};
use sync_protocol::{Collection, OpStatus, PushRequest, RecordId, Store};

use crate::harness::{Backend, OpMaker, TestServer};
use crate::indicators::{Setup, setup};
use crate::on_both;
use crate::world::{self, A, B, PASSWORD, call};

/// The status a phone derives from what it pulled, by the protocol's own rule.
pub fn phone_status(store: &Store, collection: &str, id: RecordId) -> ReviewStatus {
    let record = store
        .get(&Collection::parse(collection).unwrap(), &id)
        .expect("the phone holds the submission");
    let mut registers: Vec<(String, sync_protocol::Hlc)> = record
        .fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.hlc))
        .collect();
    if let Some(d) = &record.deleted {
        registers.push(("$deleted".into(), d.hlc));
    }
    let version = review::version(registers.iter().map(|(k, h)| (k.as_str(), h)));
    let reviews: Vec<ReviewFacts> = store
        .iter()
        .filter(|(c, _, r)| c.as_str() == review::REVIEWS && !r.is_deleted())
        .filter(|(_, _, r)| {
            r.fields
                .iter()
                .any(|(k, v)| k.as_str() == "submission" && v.value == json!(id.to_string()))
        })
        .map(|(_, _, r)| {
            let field = |name: &str| {
                r.fields
                    .iter()
                    .find(|(k, _)| k.as_str() == name)
                    .map(|(_, v)| v)
            };
            let decision = field("decision").unwrap();
            ReviewFacts {
                decided: decision.hlc,
                decision: Decision::parse(decision.value.as_str().unwrap()).unwrap(),
                judged_version: field("judged_version")
                    .unwrap()
                    .value
                    .as_str()
                    .unwrap()
                    .to_owned(),
            }
        })
        .collect();
    review::status(&version, &reviews)
}

async fn api(
    s: &Setup,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    call(
        &s.server,
        Some(token),
        method,
        path,
        body.map(|b| ("application/json", b.to_string())),
    )
    .await
}

async fn status_of(s: &Setup, id: RecordId) -> (String, String) {
    let (code, body) = api(
        s,
        &s.world.tokens["supervisor"],
        Method::GET,
        &format!("/api/v1/submissions/visits/{id}/status"),
        None,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    (
        body["status"].as_str().unwrap().to_owned(),
        body["version"].as_str().unwrap().to_owned(),
    )
}

async fn decide(
    s: &Setup,
    id: RecordId,
    decision: &str,
    version: Option<&str>,
    comment: &str,
) -> (u16, Value) {
    let mut body = json!({"decision": decision, "comment": comment});
    if let Some(v) = version {
        body["version"] = json!(v);
    }
    api(
        s,
        &s.world.tokens["supervisor"],
        Method::POST,
        &format!("/api/v1/submissions/visits/{id}/reviews"),
        Some(body),
    )
    .await
}

fn edit(ops: &mut OpMaker, id: RecordId, fields: Value) -> sync_protocol::Op {
    let mut all = json!({"form": "water_visit", "form_version": 1});
    for (k, v) in fields.as_object().unwrap() {
        all[k] = v.clone();
    }
    ops.set("visits", id, A, all)
}

on_both!(
    approval_racing_an_offline_edit_converges_to_edited_after_review,
    decisions_follow_the_state_rules,
    comments_and_decisions_reach_the_team_phones,
    the_queue_filters_sorts_and_counts,
    bulk_approval_takes_only_unflagged_unchanged_submissions,
    console_pages_sign_in_check_csrf_and_keep_to_scope,
);

async fn approval_racing_an_offline_edit_converges_to_edited_after_review(backend: Backend) {
    let mut s = setup(backend).await;
    let visit = s.visit("A-WATER", "2025-05-04T10:00:00", 12, true).await;
    let (status, seen) = status_of(&s, visit).await;
    assert_eq!(status, "received");

    // The member corrects an answer offline, before the supervisor decides...
    let offline_edit = edit(&mut s.ops, visit, json!({"supply_hours": 8}));
    // ...the supervisor approves the version they saw...
    let (code, body) = decide(&s, visit, "approved", Some(&seen), "").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "approved");
    // ...and the phone comes back online.
    s.push(vec![offline_edit]).await;
    let (status, now) = status_of(&s, visit).await;
    assert_eq!(status, "edited_after_review");
    assert_ne!(now, seen);

    // The phone derives the same status from what it pulls.
    let mut store = Store::default();
    s.world.phone_a.pull_all(&mut store, None, 500).await;
    assert_eq!(
        phone_status(&store, "visits", visit),
        ReviewStatus::EditedAfterReview
    );

    // Approving what was seen before the edit is refused; approving what is there now holds.
    let (code, body) = decide(&s, visit, "approved", Some(&seen), "").await;
    assert_eq!(
        (code, body["code"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    let (code, body) = decide(&s, visit, "approved", Some(&now), "").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(status_of(&s, visit).await.0, "approved");
    let mut store = Store::default();
    s.world.phone_a.pull_all(&mut store, None, 500).await;
    assert_eq!(
        phone_status(&store, "visits", visit),
        ReviewStatus::Approved
    );
}

async fn decisions_follow_the_state_rules(backend: Backend) {
    let mut s = setup(backend).await;
    let visit = s.visit("A-WATER", "2025-05-04T10:00:00", 12, true).await;
    let (code, body) = decide(&s, visit, "has_issues", None, "  ").await;
    assert_eq!(
        (code, body["code"].as_str()),
        (422, Some("invalid")),
        "{body}"
    );
    let (code, body) = decide(&s, visit, "maybe", None, "").await;
    assert_eq!(
        (code, body["code"].as_str()),
        (400, Some("invalid_decision")),
        "{body}"
    );
    assert_eq!(
        status_of(&s, visit).await.0,
        "received",
        "a refused decision changes nothing"
    );

    let (code, _) = decide(
        &s,
        visit,
        "has_issues",
        None,
        "The photo of the tap is missing",
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(status_of(&s, visit).await.0, "has_issues");
    let op = edit(&mut s.ops, visit, json!({"supply_hours": 10}));
    s.push(vec![op]).await;
    assert_eq!(status_of(&s, visit).await.0, "edited_after_review");
    let (code, _) = decide(&s, visit, "rejected", None, "Duplicate of another visit").await;
    assert_eq!(code, 200);
    assert_eq!(status_of(&s, visit).await.0, "rejected");
    // The latest decision decides.
    let (code, _) = decide(&s, visit, "approved", None, "").await;
    assert_eq!(code, 200);
    assert_eq!(status_of(&s, visit).await.0, "approved");

    // A deleted submission is not judged; an unknown one is not found.
    let gone = s.visit("A-WATER", "2025-05-05T10:00:00", 12, true).await;
    let delete = s.ops.delete("visits", gone, A, true);
    s.push(vec![delete]).await;
    let (code, _) = decide(&s, gone, "approved", None, "").await;
    assert_eq!(code, 409);
    let (code, body) = decide(&s, RecordId::generate(), "approved", None, "").await;
    assert_eq!((code, body["code"].as_str()), (404, Some("not_found")));
}

async fn comments_and_decisions_reach_the_team_phones(backend: Backend) {
    let mut s = setup(backend).await;
    let visit = s.visit("A-WATER", "2025-05-04T10:00:00", 12, true).await;
    let token = s.world.tokens["supervisor"].clone();
    let path = format!("/api/v1/submissions/visits/{visit}");
    let (code, body) = api(
        &s,
        &token,
        Method::POST,
        &format!("{path}/comments"),
        Some(json!({"text": "Which tap is this?"})),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let (code, body) = api(
        &s,
        &token,
        Method::POST,
        &format!("{path}/comments"),
        Some(json!({"text": ""})),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    let (code, _) = decide(&s, visit, "has_issues", None, "Add a photo of the tap").await;
    assert_eq!(code, 200);

    // The member's phone pulls both, and the status it derives is "sent back".
    let mut store = Store::default();
    s.world.phone_a.pull_all(&mut store, None, 500).await;
    let texts: Vec<(String, Value)> = store
        .iter()
        .filter(|(c, _, _)| matches!(c.as_str(), "comments" | "reviews"))
        .map(|(c, _, r)| {
            let fields: serde_json::Map<String, Value> = r
                .fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.value.clone()))
                .collect();
            (c.to_string(), Value::Object(fields))
        })
        .collect();
    let comment = texts
        .iter()
        .find(|(c, _)| c == "comments")
        .expect("the comment reached the phone");
    assert_eq!(comment.1["text"], "Which tap is this?");
    assert_eq!(comment.1["submission"], json!(visit.to_string()));
    assert!(
        comment.1["author"].as_str().unwrap().contains("supervisor"),
        "{:?}",
        comment.1
    );
    let decision = texts
        .iter()
        .find(|(c, _)| c == "reviews")
        .expect("the decision reached the phone");
    assert_eq!(decision.1["decision"], "has_issues");
    assert_eq!(decision.1["comment"], "Add a photo of the tap");
    assert_eq!(
        phone_status(&store, "visits", visit),
        ReviewStatus::HasIssues
    );

    // The member answers from the phone; a phone may not sign as someone else.
    let reply = s.ops.set("comments", RecordId::generate(), A, json!({
        "submission_collection": "visits", "submission": visit.to_string(), "text": "The tap by the school"}));
    let forged = s.ops.set("comments", RecordId::generate(), A, json!({
        "submission_collection": "visits", "submission": visit.to_string(), "text": "ok", "author": "supervisor"}));
    let answer = s
        .world
        .phone_a
        .push(&PushRequest {
            ops: vec![reply, forged],
        })
        .await;
    assert_eq!(
        answer.results[0].status,
        OpStatus::Applied,
        "{:?}",
        answer.results[0]
    );
    assert_eq!(answer.results[1].status, OpStatus::Rejected);
    assert_eq!(answer.results[1].field.as_deref(), Some("author"));

    // The detail shows the whole story: answers, both comments by name, the decision, history.
    let (code, detail) = api(&s, &token, Method::GET, &path, None).await;
    assert_eq!(code, 200, "{detail}");
    assert_eq!(detail["status"], "has_issues");
    let comments = detail["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 2, "{detail}");
    assert_eq!(comments[1]["text"], "The tap by the school");
    assert_eq!(
        detail["names"][comments[1]["author"].as_str().unwrap()],
        "Aigul"
    );
    assert_eq!(detail["reviews"][0]["decision"], "has_issues");
    assert_eq!(detail["history"].as_array().unwrap().len(), 1);
    assert!(
        detail["answers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["key"] == "supply_hours" && a["value"] == 12)
    );
    assert_eq!(detail["member_name"], "Aigul");
}

/// Pushes a visit from phone A with the given position; answers its id.
async fn visit_at(s: &mut Setup, facility: &str, at: &str, gps: Option<Value>) -> RecordId {
    let id = RecordId::generate();
    let mut fields = json!({"form": "water_visit", "form_version": 1, "facility": facility,
        "captured_at": format!("{at}+06:00"), "supply_hours": 12, "water_clear": true,
        "households_served_share": 70});
    if let Some(gps) = gps {
        fields["gps"] = gps;
    }
    let op = s.ops.set("visits", id, A, fields);
    s.push(vec![op]).await;
    id
}

async fn queue(s: &Setup, token: &str, query: &str) -> (u16, Value) {
    api(
        s,
        token,
        Method::GET,
        &format!("/api/v1/review-queue?{query}"),
        None,
    )
    .await
}

fn ids(page: &Value) -> Vec<String> {
    page["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn the_queue_filters_sorts_and_counts(backend: Backend) {
    let mut s = setup(backend).await;
    let good = json!({"lat": 41.15, "lon": 74.65, "acc": 5});
    let ok1 = visit_at(&mut s, "A-WATER", "2025-06-01T09:00:00", Some(good.clone())).await;
    let ok2 = visit_at(
        &mut s,
        "A-WATER2",
        "2025-06-02T09:00:00",
        Some(good.clone()),
    )
    .await;
    let no_position = visit_at(&mut s, "A-WATER", "2025-06-03T09:00:00", None).await;
    // Inside the municipality, some 14 km from the facility, with a poor fix: two flags.
    let far = visit_at(
        &mut s,
        "A-WATER",
        "2025-06-04T09:00:00",
        Some(json!({"lat": 41.25, "lon": 74.75, "acc": 400})),
    )
    .await;
    let token = s.world.tokens["supervisor"].clone();
    let world_visit = s.world.visit_a.to_string();

    let (code, page) = queue(&s, &token, "").await;
    assert_eq!(code, 200, "{page}");
    assert_eq!(page["counts"]["received"], 5, "{page}");
    assert_eq!(page["total"], 5);
    // Oldest first by arrival: the world's visit came first.
    assert_eq!(
        ids(&page),
        vec![
            world_visit.clone(),
            ok1.to_string(),
            ok2.to_string(),
            no_position.to_string(),
            far.to_string()
        ]
    );
    let (_, page) = queue(&s, &token, "sort=flags").await;
    assert_eq!(ids(&page)[..2], [far.to_string(), no_position.to_string()]);
    assert_eq!(page["rows"][0]["flags"], 2, "{page}");
    let (_, page) = queue(&s, &token, "sort=newest").await;
    assert_eq!(ids(&page)[0], far.to_string());

    let (_, page) = queue(&s, &token, "flag=none").await;
    assert_eq!(page["total"], 3);
    let (_, page) = queue(&s, &token, "flag=any").await;
    assert_eq!(page["total"], 2);
    let (_, page) = queue(&s, &token, "flag=no_position").await;
    assert_eq!(ids(&page), vec![no_position.to_string()]);
    let (_, page) = queue(&s, &token, "flag=far_from_facility").await;
    assert_eq!(ids(&page), vec![far.to_string()]);
    let (_, page) = queue(&s, &token, "flag=low_accuracy").await;
    assert_eq!(ids(&page), vec![far.to_string()]);
    let (_, page) = queue(&s, &token, "flag=outside_boundary").await;
    assert_eq!(page["total"], 0);
    let (_, page) = queue(&s, &token, "facility=A-WATER2").await;
    assert_eq!(ids(&page), vec![ok2.to_string()]);
    let (_, page) = queue(&s, &token, &format!("member={}", s.world.member_a)).await;
    assert_eq!(page["total"], 5, "every visit came from Aigul's phone");
    assert_eq!(page["rows"][0]["member_name"], "Aigul");
    let (_, page) = queue(&s, &token, &format!("member={}", s.world.member_b)).await;
    assert_eq!(page["total"], 0);
    let (_, page) = queue(&s, &token, "from=2025-06-02&to=2025-06-03").await;
    assert_eq!(ids(&page), vec![ok2.to_string(), no_position.to_string()]);
    let (_, page) = queue(&s, &token, "form=health_visit").await;
    assert_eq!(page["total"], 0);
    let (_, page) = queue(&s, &token, &format!("municipality={A}")).await;
    assert_eq!(page["total"], 5);

    // Decisions move submissions between the counts.
    let (code, _) = decide(&s, ok1, "approved", None, "").await;
    assert_eq!(code, 200);
    let (code, _) = decide(&s, far, "has_issues", None, "Where were you?").await;
    assert_eq!(code, 200);
    let (_, page) = queue(&s, &token, "").await;
    assert_eq!(page["total"], 3);
    assert_eq!(
        (
            page["counts"]["received"].as_i64(),
            page["counts"]["approved"].as_i64(),
            page["counts"]["has_issues"].as_i64()
        ),
        (Some(3), Some(1), Some(1))
    );
    let (_, page) = queue(&s, &token, "status=has_issues").await;
    assert_eq!(ids(&page), vec![far.to_string()]);
    let (_, page) = queue(&s, &token, "status=all").await;
    assert_eq!(page["total"], 5);
    let op = edit(&mut s.ops, ok1, json!({"supply_hours": 11}));
    s.push(vec![op]).await;
    let (_, page) = queue(&s, &token, "status=edited_after_review").await;
    assert_eq!(ids(&page), vec![ok1.to_string()]);
    let (_, page) = queue(&s, &token, "").await;
    assert_eq!(page["total"], 4, "an edit after review needs a new look");

    // Bad filters are named; another municipality is not this supervisor's; others may not ask.
    // The member corrects the position: the flags and the queue's view of them follow.
    let op = edit(
        &mut s.ops,
        far,
        json!({"gps": {"lat": 41.15, "lon": 74.65, "acc": 5}}),
    );
    s.push(vec![op]).await;
    let (_, page) = queue(&s, &token, "status=all&flag=far_from_facility").await;
    assert_eq!(page["total"], 0, "{page}");
    let (_, page) = queue(&s, &token, "status=all&flag=any").await;
    assert_eq!(ids(&page), vec![no_position.to_string()]);

    // A page past the end shows the last page; a huge one is no overflow.
    let (code, page) = queue(&s, &token, "status=all&page=18446744073709551615").await;
    assert_eq!((code, page["page"].as_u64()), (200, Some(1)), "{page}");
    assert_eq!(page["total"], 5);
    for bad in [
        "page=-1",
        "status=maybe",
        "flag=red",
        "sort=random",
        "from=2025-13-01",
        "from=yesterday",
        "colour=blue",
    ] {
        let (code, body) = queue(&s, &token, bad).await;
        assert_eq!(code, 400, "{bad}: {body}");
        assert!(body["message"].as_str().is_some(), "{body}");
    }
    let (code, _) = queue(&s, &token, &format!("municipality={B}")).await;
    assert_eq!(code, 403);
    let (code, _) = queue(&s, &s.world.tokens["deputy"], "").await;
    assert_eq!(code, 403);
    let (code, _) = call(&s.server, None, Method::GET, "/api/v1/review-queue", None).await;
    assert_eq!(code, 401);
}

async fn bulk_approval_takes_only_unflagged_unchanged_submissions(backend: Backend) {
    let mut s = setup(backend).await;
    let good = json!({"lat": 41.15, "lon": 74.65, "acc": 5});
    let clean = visit_at(&mut s, "A-WATER", "2025-06-01T09:00:00", Some(good.clone())).await;
    let changed = visit_at(&mut s, "A-WATER", "2025-06-02T09:00:00", Some(good.clone())).await;
    let flagged = visit_at(&mut s, "A-WATER", "2025-06-03T09:00:00", None).await;
    let token = s.world.tokens["supervisor"].clone();
    let (_, page) = queue(&s, &token, "").await;
    let items: Vec<Value> = page["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!({"collection": r["collection"], "id": r["id"], "version": r["version"]}))
        .collect();
    // One changes after the list was read.
    let op = edit(&mut s.ops, changed, json!({"supply_hours": 3}));
    s.push(vec![op]).await;
    let mut with_b = items.clone();
    with_b.push(json!({"collection": "visits", "id": s.world.visit_b.to_string(), "version": "x"}));
    let (code, body) = api(
        &s,
        &token,
        Method::POST,
        "/api/v1/review-queue/approve",
        Some(json!({"submissions": with_b})),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let approved: Vec<&str> = body["approved"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        approved.contains(&format!("visits/{clean}").as_str()),
        "{body}"
    );
    assert!(
        approved.contains(&format!("visits/{}", s.world.visit_a).as_str()),
        "{body}"
    );
    assert_eq!(approved.len(), 2, "{body}");
    assert_eq!(body["skipped"].as_array().unwrap().len(), 3, "{body}");
    assert_eq!(status_of(&s, clean).await.0, "approved");
    assert_eq!(status_of(&s, changed).await.0, "received");
    assert_eq!(status_of(&s, flagged).await.0, "received");
    let (code, b_status) = api(
        &s,
        &s.world.tokens["admin"],
        Method::GET,
        &format!("/api/v1/submissions/visits/{}/status", s.world.visit_b),
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        b_status["status"], "received",
        "another municipality's submission was left alone"
    );
    let (code, _) = api(
        &s,
        &token,
        Method::POST,
        "/api/v1/review-queue/approve",
        Some(json!({"submissions": "all"})),
    )
    .await;
    assert_eq!(code, 400);
}

/// A browser-like client of the console: follows no redirects, keeps the session cookie.
pub struct WebClient {
    pub base: String,
    http: reqwest::Client,
    pub cookie: Option<String>,
    pub set_cookie_lines: Vec<String>,
}

pub fn csrf_in(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

impl WebClient {
    pub fn new(server: &TestServer) -> Self {
        WebClient {
            base: server.url.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
            set_cookie_lines: Vec::new(),
        }
    }

    pub async fn get(&self, path: &str) -> (u16, String, Option<String>) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            request = request.header(COOKIE, c);
        }
        let response = request.send().await.unwrap();
        let location = response
            .headers()
            .get(LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        (
            response.status().as_u16(),
            response.text().await.unwrap(),
            location,
        )
    }

    pub async fn post(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        extra_cookie: Option<&str>,
    ) -> (u16, String, Option<String>) {
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", jmet::web::encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        let cookies: Vec<&str> = self
            .cookie
            .iter()
            .map(String::as_str)
            .chain(extra_cookie)
            .collect();
        if !cookies.is_empty() {
            request = request.header(COOKIE, cookies.join("; "));
        }
        let response = request.send().await.unwrap();
        self.set_cookie_lines = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        if let Some(line) = self
            .set_cookie_lines
            .iter()
            .find(|l| l.starts_with("jmet_session="))
        {
            self.cookie = Some(line.split(';').next().unwrap().to_owned());
        }
        let location = response
            .headers()
            .get(LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        (
            response.status().as_u16(),
            response.text().await.unwrap(),
            location,
        )
    }

    /// Signs in through the login form; answers where the server sent the browser.
    pub async fn sign_in(
        &mut self,
        login: &str,
        password: &str,
        next: &str,
    ) -> (u16, String, Option<String>) {
        let response = self
            .http
            .get(format!(
                "{}/login?next={}",
                self.base,
                jmet::web::encode(next)
            ))
            .send()
            .await
            .unwrap();
        let login_cookie = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|l| l.starts_with("jmet_login_csrf="))
            .expect("the login form sets its CSRF cookie");
        let login_cookie = login_cookie.split(';').next().unwrap().to_owned();
        let html = response.text().await.unwrap();
        let csrf = csrf_in(&html);
        self.post(
            "/login",
            &[
                ("login", login),
                ("password", password),
                ("csrf", &csrf),
                ("next", next),
            ],
            Some(&login_cookie),
        )
        .await
    }
}

async fn console_pages_sign_in_check_csrf_and_keep_to_scope(backend: Backend) {
    let s = setup(backend).await;
    let (visit_a, visit_b) = (s.world.visit_a, s.world.visit_b);
    world::create_user(
        &s.server,
        "supervisor.b",
        jmet::access::Role::Supervisor,
        &[B],
    )
    .await;

    // No session: the console sends the browser to the login form, and back afterwards.
    let mut web = WebClient::new(&s.server);
    let (code, _, location) = web.get("/review?status=all").await;
    assert_eq!(code, 303);
    assert_eq!(
        location.as_deref(),
        Some("/login?next=%2Freview%3Fstatus%3Dall")
    );
    let (code, html, _) = web.sign_in("supervisor", "wrong password", "/review").await;
    assert_eq!(code, 401);
    assert!(html.contains("role=\"alert\""), "{html}");
    assert!(web.cookie.is_none());
    // A login form without its CSRF cookie is refused even with the right password.
    let (code, _, _) = web
        .post(
            "/login",
            &[
                ("login", "supervisor"),
                ("password", PASSWORD),
                ("csrf", "made-up"),
                ("next", "/review"),
            ],
            None,
        )
        .await;
    assert_eq!(code, 403);
    assert!(web.cookie.is_none());
    // The next page is always this site's.
    let (code, _, location) = web
        .sign_in("supervisor", PASSWORD, "//evil.example/steal")
        .await;
    assert_eq!((code, location.as_deref()), (303, Some("/review")));
    let session_line = web
        .set_cookie_lines
        .iter()
        .find(|l| l.starts_with("jmet_session="))
        .unwrap()
        .clone();
    for flag in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(session_line.contains(flag), "{session_line}");
    }

    // The queue lists A's submission, not B's; B's page is not found; pages carry a strict CSP.
    let (code, html, _) = web.get("/review").await;
    assert_eq!(code, 200);
    assert!(html.contains(&visit_a.to_string()));
    assert!(!html.contains(&visit_b.to_string()));
    let (code, _, _) = web.get(&format!("/review/visits/{visit_b}")).await;
    assert_eq!(code, 404);
    let (code, html, _) = web.get(&format!("/review?municipality={B}")).await;
    assert_eq!(code, 403, "{html}");
    let (code, html, _) = web
        .get(&format!("/review/visits/{visit_a}?back=%2Freview"))
        .await;
    assert_eq!(code, 200);
    let csrf = csrf_in(&html);
    let version = status_of(&s, visit_a).await.1;
    assert!(html.contains(&version));

    // A decision without the session's token is refused and changes nothing.
    let (code, _, _) = web
        .post(
            &format!("/review/visits/{visit_a}/decision"),
            &[
                ("csrf", "stolen"),
                ("decision", "approved"),
                ("version", &version),
            ],
            None,
        )
        .await;
    assert_eq!(code, 403);
    assert_eq!(status_of(&s, visit_a).await.0, "received");
    // Acting on another municipality's submission is "not found", and changes nothing either.
    let (code, _, _) = web
        .post(
            &format!("/review/visits/{visit_b}/decision"),
            &[("csrf", &csrf), ("decision", "approved"), ("version", "x")],
            None,
        )
        .await;
    assert_eq!(code, 404);
    let (code, _, _) = web
        .post(
            &format!("/review/visits/{visit_b}/comment"),
            &[("csrf", &csrf), ("text", "hello")],
            None,
        )
        .await;
    assert_eq!(code, 404);
    let (code, _, location) = web
        .post(
            "/review/approve",
            &[
                ("csrf", &csrf),
                ("item", &format!("visits/{visit_b}/x")),
                ("back", "/review"),
            ],
            None,
        )
        .await;
    assert_eq!(code, 303);
    assert!(location.unwrap().contains("approved=0&skipped=1"));
    let (code, b) = api(
        &s,
        &s.world.tokens["admin"],
        Method::GET,
        &format!("/api/v1/submissions/visits/{visit_b}/status"),
        None,
    )
    .await;
    assert_eq!((code, b["status"].as_str()), (200, Some("received")));

    // Sending back needs a comment; with one, it holds and the page says so.
    let (code, html, _) = web
        .post(
            &format!("/review/visits/{visit_a}/decision"),
            &[
                ("csrf", &csrf),
                ("decision", "has_issues"),
                ("version", &version),
                ("comment", ""),
                ("back", "/review"),
            ],
            None,
        )
        .await;
    assert_eq!(code, 422);
    assert!(html.contains("role=\"alert\""));
    let (code, _, location) = web
        .post(
            &format!("/review/visits/{visit_a}/decision"),
            &[
                ("csrf", &csrf),
                ("decision", "has_issues"),
                ("version", &version),
                ("comment", "Add the photo"),
                ("back", "/review"),
            ],
            None,
        )
        .await;
    assert_eq!(code, 303);
    assert!(location.unwrap().contains("done=decision"));
    assert_eq!(status_of(&s, visit_a).await.0, "has_issues");
    // A stale version (the page was open while the member edited) is a conflict, not a decision.
    let (code, html, _) = web
        .post(
            &format!("/review/visits/{visit_a}/decision"),
            &[
                ("csrf", &csrf),
                ("decision", "approved"),
                ("version", "0000"),
                ("back", "/review"),
            ],
            None,
        )
        .await;
    assert_eq!(code, 409);
    assert!(
        html.contains("Add the photo"),
        "the page shows what is stored now"
    );
    assert_eq!(status_of(&s, visit_a).await.0, "has_issues");

    // Hostile addresses and forms get clear answers, and the server keeps serving.
    for path in [
        "/review/visits/not-a-uuid",
        "/review/photos/x",
        "/review/visits/A1B2C3D4-0000-4000-8000-000000000000",
    ] {
        let (code, html, _) = web.get(path).await;
        assert_eq!(code, 404, "{path}");
        assert!(html.contains("role=\"alert\""), "{path}: {html}");
    }
    for path in [
        "/review/visits/%00",
        "/api/v1/visits/%00/evidence",
        "/review?form=%00",
    ] {
        let (code, body, _) = web.get(path).await;
        assert_eq!(code, 400, "{path}: {body}");
    }
    let (code, body, _) = web
        .post(
            &format!("/review/visits/{visit_a}/decision"),
            &[("csrf", &csrf)],
            None,
        )
        .await;
    assert!((400..500).contains(&code), "{code} {body}");
    assert!(
        serde_json::from_str::<Value>(&body).unwrap()["code"].is_string(),
        "{body}"
    );
    let (code, _, _) = web
        .get("/review?page=99999999999999999999999&sort=%3Cscript%3E")
        .await;
    assert_eq!(code, 400);

    // A return address that would split the redirect header is replaced by the queue's.
    let (code, _, location) = web
        .post(
            "/review/approve",
            &[("csrf", &csrf), ("back", "/review\r\nSet-Cookie: x=1")],
            None,
        )
        .await;
    assert_eq!(
        (code, location.as_deref()),
        (303, Some("/review?approved=0&skipped=0"))
    );
    let mut stranger = WebClient::new(&s.server);
    let (code, _, _) = stranger.sign_in("super\0visor", PASSWORD, "/review").await;
    assert_eq!(code, 401);

    // The same page in Russian and Kyrgyz.
    let (_, html, _) = web.get("/review?lang=ru").await;
    assert!(html.contains("lang=\"ru\""));
    assert!(html.contains(jmet::web::i18n::RU.queue_title));
    let (_, html, _) = web.get("/review?lang=ky").await;
    assert!(html.contains(jmet::web::i18n::KY.queue_title));

    // B's supervisor sees B only, in pages and API; others may not use the console.
    let mut web_b = WebClient::new(&s.server);
    web_b.sign_in("supervisor.b", PASSWORD, "/review").await;
    let (_, html, _) = web_b.get("/review").await;
    assert!(html.contains(&visit_b.to_string()) && !html.contains(&visit_a.to_string()));
    let mut deputy = WebClient::new(&s.server);
    deputy.sign_in("deputy", PASSWORD, "/review").await;
    let (code, _, _) = deputy.get("/review").await;
    assert_eq!(code, 403);
    let (code, _, _) = deputy.get(&format!("/review/visits/{visit_a}")).await;
    assert_eq!(code, 403);

    // Signing out ends the session.
    let (_, html, _) = web.get("/review").await;
    let csrf = csrf_in(&html);
    let (code, _, _) = web.post("/logout", &[("csrf", &csrf)], None).await;
    assert_eq!(code, 303);
    let (code, _, _) = web.get("/review").await;
    assert_eq!(code, 303);
}
