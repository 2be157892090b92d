//! Many writers at once: no "database is locked", and no puller ever skips a committed change.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;
use sync_protocol::{OpStatus, PushRequest, RecordId, Store};

use crate::harness::{Backend, OpMaker, TestServer};
use crate::on_both;

on_both!(
    concurrent_pushers_never_make_a_puller_skip_a_change,
    fifty_devices_push_at_once
);

async fn concurrent_pushers_never_make_a_puller_skip_a_change(backend: Backend) {
    const PUSHERS: usize = 8;
    const BATCHES: usize = 25;
    const OPS: usize = 20;
    // Two server replicas on one database: pushers and the puller are spread across them.
    let servers = TestServer::start_replicas(backend, 2).await;
    let reader = servers[1].device(&["m1", "m2"]).await;
    let done = Arc::new(AtomicBool::new(false));

    let mut writers = Vec::new();
    for p in 0..PUSHERS {
        let scope = if p % 2 == 0 { "m1" } else { "m2" };
        let device = servers[p % 2].device(&[scope]).await;
        writers.push(tokio::spawn(async move {
            let mut ops = OpMaker::for_device(&device);
            let mut written = Vec::new();
            for _ in 0..BATCHES {
                // Each record is written exactly once, so one skipped change is one missing record.
                let batch = PushRequest {
                    ops: (0..OPS)
                        .map(|i| {
                            ops.set(
                                "comments",
                                RecordId::generate(),
                                scope,
                                json!({"i": i, "p": p}),
                            )
                        })
                        .collect(),
                };
                let answer = device.push(&batch).await;
                assert!(answer.results.iter().all(|r| r.status == OpStatus::Applied));
                written.extend(batch.ops.iter().map(|op| op.record_id));
            }
            written
        }));
    }

    // The puller runs while the writers commit, with small pages, never restarting its cursor.
    let puller = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut seen = HashSet::new();
            let mut cursor: Option<String> = None;
            let mut pulls = 0usize;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let page = reader.pull(cursor.as_deref(), Some(7)).await;
                pulls += 1;
                seen.extend(page.records.iter().map(|r| r.record_id));
                cursor = Some(page.cursor);
                if finished && !page.more {
                    return (seen, pulls);
                }
            }
        })
    };

    let mut all = HashSet::new();
    for writer in writers {
        all.extend(writer.await.expect("writer"));
    }
    done.store(true, Ordering::SeqCst);
    let (seen, pulls) = puller.await.expect("puller");
    assert_eq!(all.len(), PUSHERS * BATCHES * OPS);
    let missing: Vec<_> = all.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "the puller skipped {} of {} records over {pulls} pulls",
        missing.len(),
        all.len()
    );
    for server in servers {
        server.stop().await;
    }
}

async fn fifty_devices_push_at_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut tasks = Vec::new();
    let barrier = Arc::new(tokio::sync::Barrier::new(50));
    for _ in 0..50 {
        let device = server.device(&["m1"]).await;
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let mut ops = OpMaker::for_device(&device);
            barrier.wait().await;
            let mut statuses = Vec::new();
            for _ in 0..4 {
                let batch = PushRequest {
                    ops: (0..50)
                        .map(|i| ops.set("comments", RecordId::generate(), "m1", json!({"i": i})))
                        .collect(),
                };
                // `push` asserts a 200: a "database is locked" would surface as a 500 here.
                let answer = device.push(&batch).await;
                statuses.extend(answer.results.into_iter().map(|r| r.status));
            }
            statuses
        }));
    }
    for task in tasks {
        let statuses = task.await.expect("device task");
        assert!(statuses.iter().all(|s| *s == OpStatus::Applied));
    }
    let reader = server.device(&["m1"]).await;
    let mut store = Store::default();
    reader.pull_all(&mut store, None, 5000).await;
    assert_eq!(store.len(), 50 * 4 * 50);
    server.stop().await;
}
