//! The real `jmet` binary killed with SIGKILL in the middle of pushes: every acknowledged op
//! survives, retries come back `duplicate`, nothing is applied twice.

use std::process::Stdio;
use std::time::Duration;

use jmet::storage::{NewDevice, SyncTable};
use serde_json::json;
use sync_protocol::{OpStatus, PushRequest, RecordId, Store};
use tokio::process::{Child, Command};

use crate::harness::{Backend, OpMaker, TestDb, TestDevice, client};
use crate::on_both;

on_both!(
    kill_9_during_pushes_loses_no_acknowledged_op,
    sigterm_stops_the_server_cleanly
);

fn jmet() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jmet"));
    command.env("RUST_LOG", "warn").kill_on_drop(true);
    command
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(db: &TestDb, port: u16) -> Child {
    let child = jmet()
        .arg("serve")
        .args(db.cli_args())
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn jmet serve");
    let http = client();
    for _ in 0..300 {
        let answer = http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await;
        if answer.is_ok_and(|r| r.status() == 200) {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("jmet serve did not become healthy");
}

async fn kill_9_during_pushes_loses_no_acknowledged_op(backend: Backend) {
    let db = TestDb::new(backend).await;
    let created = jmet()
        .args(["device", "create", "--scope", "m1"])
        .args(db.cli_args())
        .output()
        .await
        .expect("jmet device create");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let NewDevice { device_id, token } =
        serde_json::from_slice(&created.stdout).expect("device JSON");

    // A second connection to the same database, to watch commits as they land.
    let observer = jmet::Storage::open(&db.location).await.expect("observer");
    let port = free_port();
    let mut server = start(&db, port).await;
    let phone = TestDevice {
        url: format!("http://127.0.0.1:{port}"),
        http: client(),
        device_id,
        token,
    };
    let mut ops = OpMaker::for_device(&phone);
    let records: Vec<RecordId> = (0..40).map(|_| RecordId::generate()).collect();
    let mut batches = Vec::new();
    for b in 0..60 {
        // Overlapping records, so a batch applied twice or half would show in the merged values.
        batches.push(PushRequest {
            ops: (0..100)
                .map(|i| {
                    ops.set(
                        "comments",
                        records[(b * 7 + i) % records.len()],
                        "m1",
                        json!({"b": b, "i": i}),
                    )
                })
                .collect(),
        });
    }

    let mut acknowledged = 0;
    for kill_after in [5usize, 23, 41] {
        // Push in the background and kill the server while a push is in flight.
        let pusher =
            {
                let phone = phone.clone();
                let pending: Vec<PushRequest> = batches[acknowledged..].to_vec();
                tokio::spawn(async move {
                    let mut acked = 0;
                    for batch in pending {
                        let response = phone
                            .http
                            .post(format!("{}/api/v1/sync/push", phone.url))
                            .bearer_auth(&phone.token)
                            .json(&batch)
                            .send()
                            .await;
                        match response {
                            Ok(r) if r.status() == 200 => {
                                match r.json::<sync_protocol::PushResponse>().await {
                                    Ok(answer) => {
                                        // The batch in flight at the last kill may have committed: then
                                        // its resend is all duplicates, never a mix.
                                        let first = answer.results[0].status;
                                        assert!(
                                            answer.results.iter().all(|r| r.status == first
                                                && first != OpStatus::Rejected)
                                        );
                                        acked += 1;
                                    }
                                    Err(_) => break,
                                }
                            }
                            _ => break,
                        }
                    }
                    acked
                })
            };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        while op_count(&observer).await < (kill_after * 100) as i64 {
            assert!(
                !pusher.is_finished(),
                "the pusher stopped before the kill point"
            );
            assert!(
                tokio::time::Instant::now() < deadline,
                "pushes made no progress"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        server.start_kill().expect("SIGKILL");
        server.wait().await.expect("reap");
        acknowledged += pusher.await.expect("pusher");
        server = start(&db, port).await;
    }
    // The batch that reached the last kill point may have committed without its answer.
    assert!(acknowledged >= 40, "{acknowledged}");

    // Everything acknowledged before each kill is there.
    let mut expected = Store::default();
    for batch in &batches[..acknowledged] {
        for op in &batch.ops {
            expected.apply_op(op).unwrap();
        }
    }
    let stored = op_count(&observer).await;
    assert!(stored >= (acknowledged * 100) as i64);

    // Retrying every batch: acknowledged ones are all duplicates; an interrupted one is either
    // wholly applied (committed before the kill) or wholly new, never half.
    for (i, batch) in batches.iter().enumerate() {
        let answer = phone.push(batch).await;
        let applied = answer
            .results
            .iter()
            .filter(|r| r.status == OpStatus::Applied)
            .count();
        let duplicate = answer
            .results
            .iter()
            .filter(|r| r.status == OpStatus::Duplicate)
            .count();
        if i < acknowledged {
            assert_eq!(duplicate, 100, "batch {i} was acknowledged before the kill");
        } else {
            assert!(
                applied == 100 || duplicate == 100,
                "batch {i}: {applied} applied, {duplicate} duplicate"
            );
        }
        for op in &batch.ops {
            expected.apply_op(op).unwrap();
        }
    }
    assert_eq!(
        op_count(&observer).await,
        (batches.len() * 100) as i64,
        "each op applied exactly once"
    );
    let mut pulled = Store::default();
    phone.pull_all(&mut pulled, None, 1000).await;
    assert_eq!(pulled, expected);
    server.start_kill().ok();
    server.wait().await.ok();
}

/// Ops the server has committed, read straight from the database.
async fn op_count(observer: &jmet::Storage) -> i64 {
    observer
        .count(SyncTable::OpLog)
        .await
        .expect("count op log")
}

async fn sigterm_stops_the_server_cleanly(backend: Backend) {
    let db = TestDb::new(backend).await;
    let port = free_port();
    let mut server = start(&db, port).await;
    let pid = server.id().expect("pid").to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill -TERM");
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(20), server.wait())
        .await
        .expect("the server stops within 20 s of SIGTERM")
        .expect("reap");
    assert!(status.success(), "exit status after SIGTERM: {status}");
    // What a clean stop leaves behind opens again.
    start(&db, port).await.start_kill().ok();
}
