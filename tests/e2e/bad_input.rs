//! Hostile and broken requests: each gets a clear JSON error, the server keeps serving, and what
//! was stored before is neither lost nor altered.

use std::io::Write;

use serde_json::{Value, json};
use sync_protocol::{OpStatus, PushRequest, PushResponse, RecordId, RejectCode, Store};

use crate::harness::{Backend, OpMaker, TestDevice, TestServer};
use crate::on_both;

on_both!(
    whole_request_errors_are_json_and_change_nothing,
    bad_ops_are_rejected_one_by_one_and_quarantined,
    a_revoked_device_is_refused_but_its_records_stay,
    a_cursor_the_server_cannot_serve_gets_a_reset,
);

/// Everything a device can read back, to compare before and after an attack.
async fn snapshot(server: &TestServer, device: &TestDevice) -> (Store, i64, i64) {
    let mut store = Store::default();
    device.pull_all(&mut store, None, 5000).await;
    let fields = server
        .storage
        .count(jmet::storage::SyncTable::Fields)
        .await
        .unwrap();
    let ops = server
        .storage
        .count(jmet::storage::SyncTable::OpLog)
        .await
        .unwrap();
    (store, fields, ops)
}

async fn seed(server: &TestServer) -> TestDevice {
    let phone = server.device(&["m1"]).await;
    let mut ops = OpMaker::for_device(&phone);
    let batch = PushRequest {
        ops: (0..5)
            .map(|i| ops.set("comments", RecordId::generate(), "m1", json!({"i": i})))
            .collect(),
    };
    phone.push(&batch).await;
    phone
}

async fn expect_error(response: reqwest::Response, status: u16, code: &str) {
    assert_eq!(
        response.status().as_u16(),
        status,
        "expected {status} {code}"
    );
    let body: Value = response.json().await.expect("error bodies are JSON");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

async fn whole_request_errors_are_json_and_change_nothing(backend: Backend) {
    let server = TestServer::start_with(
        backend,
        jmet::Settings {
            body_limit: 1024 * 1024,
            ..jmet::Settings::default()
        },
    )
    .await;
    let phone = seed(&server).await;
    let before = snapshot(&server, &phone).await;
    let push_url = format!("{}/api/v1/sync/push", server.url);
    let http = reqwest::Client::builder().no_gzip().build().unwrap();
    let post = |body: Vec<u8>| {
        http.post(&push_url)
            .bearer_auth(&phone.token)
            .header("content-type", "application/json")
            .body(body)
    };

    let deep = format!(r#"{{"ops": {}"#, "[".repeat(100_000));
    let id = uuid::Uuid::new_v4();
    let malformed: Vec<Vec<u8>> = vec![
        b"{not json".to_vec(),
        b"".to_vec(),
        b"[1,2,3]".to_vec(),
        br#"{"ops": {}}"#.to_vec(),
        br#"{"ops": [], "extra": 1}"#.to_vec(),
        br#"{"ops": null}"#.to_vec(),
        deep.into_bytes(),
        // JSON has no NaN or infinities; a GPS fix carrying them is not JSON at all.
        format!(r#"{{"ops": [{{"op_id": "{id}", "set": {{"gps": {{"lat": NaN}}}}}}]}}"#)
            .into_bytes(),
        b"{\"ops\": [\"\xff\xfe\"]}".to_vec(),
    ];
    for body in malformed {
        let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        let response = post(body).send().await.unwrap();
        assert_eq!(response.status(), 400, "{shown}");
        expect_error(response, 400, "malformed_json").await;
    }
    // Valid JSON syntax but a number no double holds: that op alone is refused.
    let out_of_range =
        format!(r#"{{"ops": [{{"op_id": "{id}", "set": {{"gps": {{"lat": 1e999}}}}}}]}}"#);
    let response = post(out_of_range.into_bytes()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let answer: PushResponse = response.json().await.unwrap();
    assert_eq!(answer.results[0].code, Some(RejectCode::MalformedOp));

    // Over the limit, plain and as a gzip bomb that is tiny on the wire.
    let huge = format!(r#"{{"ops": ["{}"]}}"#, "x".repeat(2 * 1024 * 1024));
    expect_error(
        post(huge.clone().into_bytes()).send().await.unwrap(),
        413,
        "body_too_large",
    )
    .await;
    let bomb = gzip(huge.as_bytes());
    assert!(bomb.len() < 10_000);
    let response = post(bomb)
        .header("content-encoding", "gzip")
        .send()
        .await
        .unwrap();
    expect_error(response, 413, "body_too_large").await;
    let broken_gzip = post(b"\x1f\x8b\x08\x00garbage".to_vec()).header("content-encoding", "gzip");
    expect_error(broken_gzip.send().await.unwrap(), 400, "bad_encoding").await;
    let brotli = post(b"{}".to_vec()).header("content-encoding", "br");
    expect_error(brotli.send().await.unwrap(), 415, "unsupported_media_type").await;

    let form = http
        .post(&push_url)
        .bearer_auth(&phone.token)
        .header("content-type", "text/plain")
        .body("{}");
    expect_error(form.send().await.unwrap(), 415, "unsupported_media_type").await;

    let too_many: Vec<Value> = (0..1001).map(|_| json!({})).collect();
    expect_error(
        phone.push_raw(json!({ "ops": too_many })).await,
        413,
        "too_many_ops",
    )
    .await;

    // Authentication.
    expect_error(
        http.post(&push_url)
            .json(&json!({"ops": []}))
            .send()
            .await
            .unwrap(),
        401,
        "unauthorized",
    )
    .await;
    let forged = http
        .post(&push_url)
        .bearer_auth("jmet_0000")
        .json(&json!({"ops": []}));
    expect_error(forged.send().await.unwrap(), 401, "unauthorized").await;
    let basic = http
        .post(&push_url)
        .basic_auth("admin", Some("admin"))
        .json(&json!({"ops": []}));
    expect_error(basic.send().await.unwrap(), 401, "unauthorized").await;

    // Pull parameters.
    for limit in ["0", "-1", "5001", "ten", "99999999999999999999999"] {
        let response = http
            .get(format!("{}/api/v1/sync/pull?limit={limit}", server.url))
            .bearer_auth(&phone.token)
            .send()
            .await
            .unwrap();
        expect_error(response, 400, "invalid_limit").await;
    }

    // Unknown routes and methods, and path tricks in the URL.
    expect_error(
        http.get(format!("{}/api/v1/sync/../../etc/passwd", server.url))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    expect_error(
        http.get(format!("{}/api/v2/sync/pull", server.url))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    expect_error(
        http.get(&push_url)
            .bearer_auth(&phone.token)
            .send()
            .await
            .unwrap(),
        405,
        "method_not_allowed",
    )
    .await;

    let after = snapshot(&server, &phone).await;
    assert_eq!(before, after, "stored data must be untouched");
    let health = http
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the server keeps serving");
    server.stop().await;
}

async fn bad_ops_are_rejected_one_by_one_and_quarantined(backend: Backend) {
    let server = TestServer::start(backend).await;
    let phone = seed(&server).await;
    let other = server.device(&["m2"]).await;
    let mut other_ops = OpMaker::for_device(&other);
    let foreign_record = RecordId::generate();
    other
        .push(&PushRequest {
            ops: vec![other_ops.set("comments", foreign_record, "m2", json!({"owner": "m2"}))],
        })
        .await;

    let before = snapshot(&server, &phone).await;
    let before_other = snapshot(&server, &other).await;
    let mut ops = OpMaker::for_device(&phone);
    let good = ops.set("comments", RecordId::generate(), "m1", json!({"ok": true}));
    let template =
        serde_json::to_value(ops.set("comments", RecordId::generate(), "m1", json!({"x": 1})))
            .unwrap();
    let with = |patch: Value| {
        let mut op = template.clone();
        op["op_id"] = json!(uuid::Uuid::new_v4());
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                op.as_object_mut().unwrap().remove(k);
            } else {
                op[k] = v.clone();
            }
        }
        op
    };
    let device = phone.device_id.to_string();
    let year_2099 = format!("004070908800000-00000-{device}");
    let cases: Vec<(Value, RejectCode)> = vec![
        (json!("not an object"), RejectCode::MalformedOp),
        (json!({}), RejectCode::MalformedOp),
        (
            with(json!({"op_id": "../../etc/passwd"})),
            RejectCode::MalformedOp,
        ),
        (
            with(json!({"record_id": "../../etc/passwd"})),
            RejectCode::MalformedOp,
        ),
        (with(json!({"record_id": 12})), RejectCode::MalformedOp),
        (with(json!({"scope": "../m1"})), RejectCode::MalformedOp),
        (
            with(json!({"collection": "Visits; DROP TABLE fields"})),
            RejectCode::MalformedOp,
        ),
        (with(json!({"set": {"a b": 1}})), RejectCode::MalformedOp),
        (
            with(json!({"set": {"$deleted": true}})),
            RejectCode::MalformedOp,
        ),
        (
            with(json!({"set": null, "delete": "yes"})),
            RejectCode::MalformedOp,
        ),
        (with(json!({"delete": true})), RejectCode::MalformedOp),
        (with(json!({"sets": {"x": 1}})), RejectCode::MalformedOp),
        (with(json!({"hlc": "yesterday"})), RejectCode::BadHlc),
        (with(json!({"hlc": 12345})), RejectCode::MalformedOp),
        (with(json!({"hlc": year_2099})), RejectCode::ClockSkew),
        (
            with(json!({"hlc": format!("000000000000001-00000-{}", uuid::Uuid::new_v4())})),
            RejectCode::HlcNodeMismatch,
        ),
        (
            with(json!({"collection": "unicorns"})),
            RejectCode::UnknownCollection,
        ),
        (
            with(json!({"collection": "facilities"})),
            RejectCode::ReadOnlyCollection,
        ),
        (with(json!({"scope": "m2"})), RejectCode::ScopeNotGranted),
        (
            with(json!({"record_id": foreign_record.to_string()})),
            RejectCode::ScopeChanged,
        ),
    ];
    let mut body: Vec<Value> = cases.iter().map(|(op, _)| op.clone()).collect();
    body.push(serde_json::to_value(&good).unwrap());
    let response = phone.push_raw(json!({ "ops": body })).await;
    assert_eq!(response.status(), 200);
    let answer: PushResponse = response.json().await.unwrap();
    assert_eq!(answer.results.len(), cases.len() + 1);
    for ((op, code), result) in cases.iter().zip(&answer.results) {
        assert_eq!(result.status, OpStatus::Rejected, "{op}");
        assert_eq!(result.code.as_ref(), Some(code), "{op}: {result:?}");
        assert!(result.message.as_ref().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(
        answer.results.last().unwrap().status,
        OpStatus::Applied,
        "a rejected op never blocks the rest"
    );

    // Every rejected op is kept with its reason; the other municipality's record is untouched.
    assert_eq!(
        server
            .storage
            .count(jmet::storage::SyncTable::Quarantine)
            .await
            .unwrap(),
        cases.len() as i64
    );
    assert_eq!(snapshot(&server, &other).await.0, before_other.0);
    let mut after = snapshot(&server, &phone).await.0;
    assert_eq!(after.len(), before.0.len() + 1);
    let mut expected = before.0.clone();
    expected.apply_op(&good).unwrap();
    assert_eq!(std::mem::take(&mut after), expected);
    server.stop().await;
}

async fn a_revoked_device_is_refused_but_its_records_stay(backend: Backend) {
    let server = TestServer::start(backend).await;
    let phone = seed(&server).await;
    let colleague = server.device(&["m1"]).await;
    server
        .storage
        .revoke_device(phone.device_id, "test", 1)
        .await
        .unwrap();
    expect_error(
        phone.push_raw(json!({"ops": []})).await,
        401,
        "unauthorized",
    )
    .await;
    expect_error(phone.pull_raw(None, None).await, 401, "unauthorized").await;
    let mut store = Store::default();
    colleague.pull_all(&mut store, None, 100).await;
    assert_eq!(store.len(), 5, "what the revoked device pushed stays");
    server.stop().await;
}

async fn a_cursor_the_server_cannot_serve_gets_a_reset(backend: Backend) {
    let server = TestServer::start(backend).await;
    let phone = seed(&server).await;
    let page = phone.pull(None, None).await;
    let good = page.cursor.clone();
    let (_, epoch_and_seq) = good.split_once('.').unwrap();
    let (epoch, _) = epoch_and_seq.split_once('.').unwrap();
    for bad in [
        "garbage".to_owned(),
        format!("1.{}.3", "0".repeat(32)),
        format!("1.{epoch}.999999999"),
        format!("1.{epoch}.-4"),
    ] {
        expect_error(phone.pull_raw(Some(&bad), None).await, 410, "cursor_reset").await;
    }
    assert_eq!(phone.pull(Some(&good), None).await.records.len(), 0);
    server.stop().await;
}
