//! The audit chain: intact after real use; any direct alteration or deletion of a record, an op
//! or an audit entry makes `jmet audit verify` fail and name it.

use jmet::storage::AuditReport;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use sync_protocol::{PushRequest, RecordId};
use tokio::process::Command;

use crate::harness::{Backend, OpMaker, TestServer};
use crate::on_both;

on_both!(the_chain_is_intact_after_use_and_every_tampering_is_named);

/// Devices, three pushes (sets, an edit, a delete) and a revocation: audit entries 1 to 6.
async fn seed(backend: Backend) -> (TestServer, Vec<RecordId>) {
    let server = TestServer::start(backend).await;
    let phone = server.device(&["m1"]).await; // entry 1
    let other = server.device(&["m1"]).await; // entry 2
    let mut ops = OpMaker::for_device(&phone);
    let records: Vec<RecordId> = (0..3).map(|_| RecordId::generate()).collect();
    let first = PushRequest {
        ops: records
            .iter()
            .map(|r| ops.set("comments", *r, "m1", json!({"n": 1, "ok": true})))
            .collect(),
    };
    phone.push(&first).await; // entry 3
    phone
        .push(&PushRequest {
            ops: vec![ops.set("comments", records[0], "m1", json!({"n": 2}))],
        })
        .await; // entry 4
    phone
        .push(&PushRequest {
            ops: vec![ops.delete("comments", records[2], "m1", true)],
        })
        .await; // entry 5
    server
        .storage
        .revoke_device(other.device_id, "test", 1)
        .await
        .unwrap(); // entry 6
    (server, records)
}

async fn exec(server: &TestServer, sql: &str) {
    let db = server.storage.connection();
    let done = db
        .execute_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1, "{sql}");
}

async fn expect_broken(server: &TestServer, at: &str) {
    match server.storage.verify_audit().await.unwrap() {
        AuditReport::Broken { at: found, problem } => {
            assert!(
                found.starts_with(at),
                "expected the break at {at:?}, got {found:?}: {problem}"
            );
        }
        intact => panic!("tampering at {at} went unnoticed: {intact:?}"),
    }
}

async fn the_chain_is_intact_after_use_and_every_tampering_is_named(backend: Backend) {
    let (server, _) = seed(backend).await;
    assert_eq!(
        server.storage.verify_audit().await.unwrap(),
        AuditReport::Intact {
            entries: 6,
            ops: 5,
            records: 3
        }
    );
    // The command line agrees, with exit status 0.
    let (status, report) = verify_cli(&server).await;
    assert_eq!(status, Some(0), "{report}");
    assert_eq!(report["status"], "intact");
    server.stop().await;

    // Each case tampers with a freshly seeded database: (SQL, where verify must say it broke).
    type Case = fn(&[RecordId]) -> (String, String);
    let cases: Vec<Case> = vec![
        |r| {
            (
                format!(
                    "UPDATE fields SET value = '5' WHERE field = 'n' AND rkey = (SELECT rkey FROM records WHERE record_id = '{}')",
                    r[1]
                ),
                format!("record comments/{}", r[1]),
            )
        },
        |r| {
            (
                format!(
                    "DELETE FROM fields WHERE field = 'ok' AND rkey = (SELECT rkey FROM records WHERE record_id = '{}')",
                    r[0]
                ),
                format!("record comments/{}", r[0]),
            )
        },
        |r| {
            (
                format!(
                    "UPDATE fields SET value = 'false' WHERE field = '$deleted' AND rkey = (SELECT rkey FROM records WHERE record_id = '{}')",
                    r[2]
                ),
                format!("record comments/{}", r[2]),
            )
        },
        |_| {
            (
                "UPDATE op_log SET op = replace(op, '\"n\":2', '\"n\":3') WHERE audit_seq = 4"
                    .into(),
                "audit entry 4".into(),
            )
        },
        |_| {
            (
                "DELETE FROM op_log WHERE audit_seq = 5".into(),
                "audit entry 5".into(),
            )
        },
        |_| {
            (
                "UPDATE audit_log SET detail = '{}' WHERE seq = 2".into(),
                "audit entry 2".into(),
            )
        },
        |_| {
            (
                "UPDATE audit_log SET actor = 'cli' WHERE seq = 3".into(),
                "audit entry 3".into(),
            )
        },
        |_| {
            (
                "DELETE FROM audit_log WHERE seq = 6".into(),
                "device ".into(),
            )
        },
        |_| {
            (
                "DELETE FROM audit_log WHERE seq = 5".into(),
                "audit entry 5".into(),
            )
        },
        |_| {
            (
                "DELETE FROM audit_log WHERE seq = 1".into(),
                "audit entry 1".into(),
            )
        },
    ];
    for case in cases {
        let (server, records) = seed(backend).await;
        let (sql, at) = case(&records);
        exec(&server, &sql).await;
        expect_broken(&server, &at).await;
        let (status, report) = verify_cli(&server).await;
        assert_eq!(status, Some(1), "{sql}");
        assert_eq!(report["status"], "broken");
        assert!(report["at"].as_str().unwrap().starts_with(&at), "{report}");
        server.stop().await;
    }
}

/// `jmet audit verify` on the server's database: exit status and the JSON it printed.
async fn verify_cli(server: &TestServer) -> (Option<i32>, serde_json::Value) {
    let cli = Command::new(env!("CARGO_BIN_EXE_jmet"))
        .args(["audit", "verify"])
        .args(server.cli_args())
        .output()
        .await
        .unwrap();
    let report = serde_json::from_slice(&cli.stdout).expect("a JSON report on stdout");
    (cli.status.code(), report)
}
