//! A server whose database was replaced (restored from an old backup, or rebuilt) answers old
//! cursors with `410 cursor_reset`; the phone's replica re-sends what it wrote and starts its
//! pull over, and nothing it captured is lost.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sync_protocol::{Collection, FieldName, RecordId, Replica, Scope, Store};

use crate::harness::{Backend, TestDevice, TestServer, now_ms};
use crate::on_both;

on_both!(
    a_replaced_database_resets_cursors_and_the_phone_resends_its_data,
    rotating_the_epoch_after_a_restore_resets_every_cursor,
);

fn fields(name: &str, value: Value) -> BTreeMap<FieldName, Value> {
    [(FieldName::parse(name).unwrap(), value)].into()
}

/// Pushes everything pending and pulls to the end; answers how many resets it went through.
async fn sync(replica: &mut Replica, device: &TestDevice) -> usize {
    let mut resets = 0;
    while let Some(request) = replica.push_request(100) {
        let answer = device.push(&request).await;
        replica
            .handle_push_response(now_ms(), &request, &answer)
            .unwrap();
    }
    loop {
        let response = device.pull_raw(replica.pull_cursor(), Some(100)).await;
        if response.status() == 410 {
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["code"], "cursor_reset");
            replica.handle_reset();
            resets += 1;
            // What the reset queued again goes up before the pull starts over.
            while let Some(request) = replica.push_request(100) {
                let answer = device.push(&request).await;
                replica
                    .handle_push_response(now_ms(), &request, &answer)
                    .unwrap();
            }
            continue;
        }
        assert_eq!(response.status(), 200);
        let page: sync_protocol::PullResponse = response.json().await.unwrap();
        replica.apply_pull(now_ms(), &page).unwrap();
        if !page.more {
            return resets;
        }
    }
}

async fn a_replaced_database_resets_cursors_and_the_phone_resends_its_data(backend: Backend) {
    let old = TestServer::start(backend).await;
    let device = old.device(&["m1"]).await;
    let mut replica = Replica::new(device.device_id);
    let visits = Collection::parse("comments").unwrap();
    let scope = Scope::parse("m1").unwrap();
    let records: Vec<RecordId> = (0..3).map(|_| RecordId::generate()).collect();
    for (i, record) in records.iter().enumerate() {
        replica
            .set(
                now_ms(),
                visits.clone(),
                *record,
                scope.clone(),
                fields("n", json!(i)),
            )
            .unwrap();
    }
    assert_eq!(sync(&mut replica, &device).await, 0);
    assert!(replica.pull_cursor().is_some());

    // A new, empty database behind the same address and the same device credentials.
    // The device keeps its id and token there, as a restore of the device table (but not of the
    // records) would leave it.
    let new = TestServer::start(backend).await;
    copy_device(&old, &new.storage, &device).await;
    let moved = TestDevice {
        url: new.url.clone(),
        ..device.clone()
    };

    assert_eq!(
        sync(&mut replica, &moved).await,
        1,
        "the old cursor is refused once"
    );
    let observer = new.device(&["m1"]).await;
    let mut server_state = Store::default();
    observer.pull_all(&mut server_state, None, 100).await;
    assert_eq!(
        server_state.len(),
        3,
        "the phone's records came back to the new server"
    );
    assert_eq!(replica.records(), server_state);
    old.stop().await;
    new.stop().await;
}

/// Copies one device (id, token hash, scopes) from one database to another.
async fn copy_device(from: &TestServer, to: &jmet::Storage, device: &TestDevice) {
    use sea_orm::{ConnectionTrait, Statement};
    let src = from.storage.connection();
    let dst = to.connection();
    let id = device.device_id.to_string();
    for (table, columns) in [
        (
            "devices",
            "device_id, token_hash, label, created_at_ms, revoked_at_ms",
        ),
        ("device_scopes", "device_id, scope"),
    ] {
        let select = format!("SELECT {columns} FROM {table} WHERE device_id = '{id}'");
        let rows = src
            .query_all_raw(Statement::from_string(src.get_database_backend(), select))
            .await
            .unwrap();
        for row in rows {
            let values: Vec<String> = columns
                .split(", ")
                .map(|c| match row.try_get::<Option<String>>("", c) {
                    Ok(Some(text)) => format!("'{text}'"),
                    Ok(None) => "NULL".to_owned(),
                    Err(_) => row
                        .try_get::<Option<i64>>("", c)
                        .unwrap()
                        .map_or("NULL".to_owned(), |n| n.to_string()),
                })
                .collect();
            let insert = format!(
                "INSERT INTO {table} ({columns}) VALUES ({})",
                values.join(", ")
            );
            dst.execute_raw(Statement::from_string(dst.get_database_backend(), insert))
                .await
                .unwrap();
        }
    }
}

async fn rotating_the_epoch_after_a_restore_resets_every_cursor(backend: Backend) {
    let server = TestServer::start(backend).await;
    let device = server.device(&["m1"]).await;
    let mut replica = Replica::new(device.device_id);
    let visits = Collection::parse("comments").unwrap();
    let scope = Scope::parse("m1").unwrap();
    let record = RecordId::generate();
    replica
        .set(now_ms(), visits, record, scope, fields("n", json!(1)))
        .unwrap();
    assert_eq!(sync(&mut replica, &device).await, 0);

    // A plain restart keeps every cursor valid.
    let db = server.into_db().await;
    let server = TestServer::serve(db, jmet::Settings::default()).await;
    let device = TestDevice {
        url: server.url.clone(),
        ..device
    };
    assert_eq!(sync(&mut replica, &device).await, 0);

    // `jmet rotate-epoch` with the server stopped, as after restoring a backup.
    let db = server.into_db().await;
    let rotated = tokio::process::Command::new(env!("CARGO_BIN_EXE_jmet"))
        .arg("rotate-epoch")
        .args(db.cli_args())
        .output()
        .await
        .unwrap();
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let server = TestServer::serve(db, jmet::Settings::default()).await;
    let device = TestDevice {
        url: server.url.clone(),
        ..device
    };
    assert_eq!(
        sync(&mut replica, &device).await,
        1,
        "the old cursor is refused once"
    );
    assert!(
        replica
            .record(&"comments".parse().unwrap(), &record)
            .is_some()
    );
    assert!(matches!(
        server.storage.verify_audit().await.unwrap(),
        jmet::storage::AuditReport::Intact { .. }
    ));
    server.stop().await;
}
