//! Push and pull as a phone uses them: results per op, idempotent retries, merge, paging, scopes.

use std::io::Write;

use serde_json::json;
use sync_protocol::{OpStatus, PushRequest, RecordId, RejectCode, Store};

use crate::harness::{Backend, OpMaker, TestServer};
use crate::on_both;

on_both!(
    push_then_pull_round_trips_fields_and_tombstones,
    retried_batch_is_acknowledged_as_duplicate_and_not_applied_twice,
    later_edit_wins_and_deletes_are_not_revived_by_older_edits,
    pull_pages_are_bounded_and_resume_from_the_cursor,
    a_device_sees_only_its_scopes,
    gzip_bodies_both_ways,
    healthz_answers_when_the_database_does,
);

async fn push_then_pull_round_trips_fields_and_tombstones(backend: Backend) {
    let server = TestServer::start(backend).await;
    let phone = server.device(&["m1"]).await;
    let mut ops = OpMaker::for_device(&phone);
    let visit = RecordId::generate();
    let gone = RecordId::generate();
    let batch = PushRequest {
        ops: vec![
            ops.set("comments", visit, "m1", json!({"facility": "well-3", "gps": {"lat": 41.43, "lon": 75.99, "acc": 6.5}, "ok": true})),
            ops.set("comments", gone, "m1", json!({"facility": "well-4"})),
            ops.delete("comments", gone, "m1", true),
        ],
    };
    let answer = phone.push(&batch).await;
    assert_eq!(answer.results.len(), 3);
    for (result, op) in answer.results.iter().zip(&batch.ops) {
        assert_eq!(result.op_id, Some(op.op_id));
        assert_eq!(result.status, OpStatus::Applied, "{result:?}");
    }
    assert!(
        answer.server_hlc > batch.ops[2].hlc,
        "the server clock moves past what it merged"
    );

    let mut expected = Store::default();
    for op in &batch.ops {
        expected.apply_op(op).unwrap();
    }
    let mut pulled = Store::default();
    phone.pull_all(&mut pulled, None, 500).await;
    assert_eq!(pulled, expected);
    let gone_state = pulled.get(&"comments".parse().unwrap(), &gone).unwrap();
    assert!(gone_state.is_deleted());
    server.stop().await;
}

async fn retried_batch_is_acknowledged_as_duplicate_and_not_applied_twice(backend: Backend) {
    let server = TestServer::start(backend).await;
    let phone = server.device(&["m1"]).await;
    let mut ops = OpMaker::for_device(&phone);
    let record = RecordId::generate();
    let first = ops.set("comments", record, "m1", json!({"n": 1}));
    let second = ops.set("comments", record, "m1", json!({"n": 2}));
    let batch = PushRequest {
        ops: vec![first.clone(), second.clone()],
    };
    phone.push(&batch).await;
    let cursor = phone.pull(None, None).await.cursor;

    // The phone lost the answer and sends the same batch again, plus the first op twice more.
    let retry = PushRequest {
        ops: vec![first.clone(), second.clone(), first.clone()],
    };
    let answer = phone.push(&retry).await;
    let statuses: Vec<_> = answer.results.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![OpStatus::Duplicate; 3]);
    let after_retry = phone.pull(Some(&cursor), None).await;
    assert!(
        after_retry.records.is_empty(),
        "a retry changes nothing in the feed"
    );
    assert_eq!(
        server
            .storage
            .count(jmet::storage::SyncTable::OpLog)
            .await
            .unwrap(),
        2
    );

    // Same op id, different content, within one push: the second is refused and quarantined.
    let fresh = ops.set("comments", record, "m1", json!({"n": 3}));
    let mut impostor = fresh.clone();
    impostor.change = sync_protocol::Change::Set([("n".parse().unwrap(), json!(99))].into());
    let answer = phone
        .push(&PushRequest {
            ops: vec![fresh, impostor],
        })
        .await;
    assert_eq!(answer.results[0].status, OpStatus::Applied);
    assert_eq!(answer.results[1].code, Some(RejectCode::ConflictingOpId));
    assert_eq!(
        server
            .storage
            .count(jmet::storage::SyncTable::Quarantine)
            .await
            .unwrap(),
        1
    );

    let mut pulled = Store::default();
    phone.pull_all(&mut pulled, None, 500).await;
    let state = pulled.get(&"comments".parse().unwrap(), &record).unwrap();
    assert_eq!(state.fields.values().next().unwrap().value, json!(3));
    server.stop().await;
}

async fn later_edit_wins_and_deletes_are_not_revived_by_older_edits(backend: Backend) {
    let server = TestServer::start(backend).await;
    let a = server.device(&["m1"]).await;
    let b = server.device(&["m1"]).await;
    let mut ops_a = OpMaker::for_device(&a);
    let mut ops_b = OpMaker::for_device(&b);
    let record = RecordId::generate();
    // Both edit offline; b's edit is later. a's older edit arrives last and must lose.
    let older = ops_a.set("comments", record, "m1", json!({"note": "from a"}));
    std::thread::sleep(std::time::Duration::from_millis(3));
    let newer = ops_b.set("comments", record, "m1", json!({"note": "from b"}));
    let delete = ops_b.delete("comments", record, "m1", true);
    b.push(&PushRequest {
        ops: vec![newer.clone(), delete.clone()],
    })
    .await;
    a.push(&PushRequest {
        ops: vec![older.clone()],
    })
    .await;

    let mut pulled = Store::default();
    a.pull_all(&mut pulled, None, 500).await;
    let state = pulled.get(&"comments".parse().unwrap(), &record).unwrap();
    assert_eq!(state.fields.values().next().unwrap().value, json!("from b"));
    assert!(
        state.is_deleted(),
        "an edit does not revive a deleted record"
    );

    // An explicit undelete with a later clock does.
    ops_a.clock.observe(delete.hlc, crate::harness::now_ms());
    let undelete = ops_a.delete("comments", record, "m1", false);
    a.push(&PushRequest {
        ops: vec![undelete],
    })
    .await;
    let mut again = Store::default();
    a.pull_all(&mut again, None, 500).await;
    assert!(
        !again
            .get(&"comments".parse().unwrap(), &record)
            .unwrap()
            .is_deleted()
    );
    server.stop().await;
}

async fn pull_pages_are_bounded_and_resume_from_the_cursor(backend: Backend) {
    let server = TestServer::start(backend).await;
    let phone = server.device(&["m1"]).await;
    let mut ops = OpMaker::for_device(&phone);
    let batch = PushRequest {
        ops: (0..25)
            .map(|i| {
                ops.set(
                    "comments",
                    RecordId::generate(),
                    "m1",
                    json!({"i": i, "j": i * 2}),
                )
            })
            .collect(),
    };
    phone.push(&batch).await;
    let mut cursor: Option<String> = None;
    let mut seen = 0;
    let mut pages = 0;
    loop {
        let page = phone.pull(cursor.as_deref(), Some(10)).await;
        assert!(page.records.len() <= 10);
        seen += page.records.len();
        pages += 1;
        cursor = Some(page.cursor);
        if !page.more {
            break;
        }
    }
    assert_eq!((seen, pages), (25, 3));
    // Nothing new: the same cursor comes back with no records.
    let empty = phone.pull(cursor.as_deref(), Some(10)).await;
    assert!(empty.records.is_empty() && !empty.more);
    assert_eq!(Some(empty.cursor), cursor);

    // A later edit of one record shows only that record, with only the changed field.
    let record = batch.ops[3].record_id;
    phone
        .push(&PushRequest {
            ops: vec![ops.set("comments", record, "m1", json!({"j": -1}))],
        })
        .await;
    let page = phone.pull(cursor.as_deref(), Some(10)).await;
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.records[0].record_id, record);
    assert_eq!(
        page.records[0]
            .fields
            .keys()
            .map(|k| k.as_str())
            .collect::<Vec<_>>(),
        ["j"]
    );
    server.stop().await;
}

async fn a_device_sees_only_its_scopes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let m1 = server.device(&["m1"]).await;
    let m2 = server.device(&["m2"]).await;
    let both = server.device(&["m1", "m2"]).await;
    let mut ops1 = OpMaker::for_device(&m1);
    let mut ops2 = OpMaker::for_device(&m2);
    m1.push(&PushRequest {
        ops: vec![ops1.set("comments", RecordId::generate(), "m1", json!({"x": 1}))],
    })
    .await;
    m2.push(&PushRequest {
        ops: vec![ops2.set("comments", RecordId::generate(), "m2", json!({"x": 2}))],
    })
    .await;
    let scopes = |page: &sync_protocol::PullResponse| -> Vec<String> {
        page.records.iter().map(|r| r.scope.to_string()).collect()
    };
    assert_eq!(scopes(&m1.pull(None, None).await), ["m1"]);
    assert_eq!(scopes(&m2.pull(None, None).await), ["m2"]);
    let mut all = scopes(&both.pull(None, None).await);
    all.sort();
    assert_eq!(all, ["m1", "m2"]);
    // Paging over two scopes one record at a time still yields both.
    let mut store = Store::default();
    both.pull_all(&mut store, None, 1).await;
    assert_eq!(store.len(), 2);
    server.stop().await;
}

async fn gzip_bodies_both_ways(backend: Backend) {
    let server = TestServer::start(backend).await;
    let phone = server.device(&["m1"]).await;
    let mut ops = OpMaker::for_device(&phone);
    let batch = PushRequest {
        ops: (0..50)
            .map(|i| {
                ops.set(
                    "comments",
                    RecordId::generate(),
                    "m1",
                    json!({"comment": "вода бар, суу таза", "i": i}),
                )
            })
            .collect(),
    };
    let plain = serde_json::to_vec(&batch).unwrap();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&plain).unwrap();
    let gz = encoder.finish().unwrap();
    let raw = reqwest::Client::builder().no_gzip().build().unwrap();
    let response = raw
        .post(format!("{}/api/v1/sync/push", server.url))
        .bearer_auth(&phone.token)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gz)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: sync_protocol::PushResponse = response.json().await.unwrap();
    assert!(answer.results.iter().all(|r| r.status == OpStatus::Applied));

    let response = raw
        .get(format!("{}/api/v1/sync/pull", server.url))
        .bearer_auth(&phone.token)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers().get("content-encoding").unwrap(), "gzip");
    let compressed = response.bytes().await.unwrap();
    let mut decoded = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&compressed[..]),
        &mut decoded,
    )
    .unwrap();
    let page: sync_protocol::PullResponse = serde_json::from_slice(&decoded).unwrap();
    assert_eq!(page.records.len(), 50);
    assert!(
        compressed.len() * 3 < decoded.len(),
        "gzip should shrink the page: {} vs {}",
        compressed.len(),
        decoded.len()
    );
    server.stop().await;
}

async fn healthz_answers_when_the_database_does(backend: Backend) {
    let server = TestServer::start(backend).await;
    let response = server
        .http
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        json!({"status": "ok"})
    );
    // With the database gone, health says so instead of pretending.
    server.storage.connection().clone().close().await.unwrap();
    let response = server
        .http
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "unavailable");
}
