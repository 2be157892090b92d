//! JMET teams whose members come and go: a member who leaves loses every device at once, their
//! records and their place in the team's history stay.

use serde_json::json;
use sync_protocol::{PushRequest, RecordId, Store};
use tokio::process::Command;

use crate::harness::{Backend, OpMaker, TestDevice, TestServer};
use crate::on_both;

on_both!(
    a_member_who_leaves_loses_every_device_at_once_and_their_records_stay,
    a_phone_enrolls_once_with_a_scanned_code,
);

const MUNICIPALITY: &str = "KG-N-AT-01";

fn territories() -> String {
    let square = |lon: f64, lat: f64, d: f64| json!({"type": "Polygon", "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]]});
    let f = |code: &str, level: &str, parent: Option<&str>, g| {
        json!({"type": "Feature", "geometry": g, "properties": {
            "code": code, "level": level, "parent": parent, "name_ky": code, "name_ru": code, "name_en": code}})
    };
    json!({"type": "FeatureCollection", "features": [
        f("KG-N", "oblast", None, square(73.5, 40.5, 3.0)),
        f("KG-N-AT", "rayon", Some("KG-N"), square(74.5, 41.0, 1.0)),
        f(MUNICIPALITY, "municipality", Some("KG-N-AT"), square(74.6, 41.1, 0.2)),
    ]})
    .to_string()
}

fn device(server: &TestServer, new: jmet::storage::NewDevice) -> TestDevice {
    TestDevice {
        url: server.url.clone(),
        http: server.http.clone(),
        device_id: new.device_id,
        token: new.token,
    }
}

async fn a_member_who_leaves_loses_every_device_at_once_and_their_records_stay(backend: Backend) {
    let server = TestServer::start(backend).await;
    let storage = &server.storage;
    let text = territories();
    let parsed = jmet::territory::parse_geojson(&text).unwrap();
    storage
        .import_territories(&parsed, &text, "test", 1)
        .await
        .unwrap();
    let municipality = MUNICIPALITY.parse().unwrap();
    assert!(
        storage
            .create_team(&"KG-N-AT".parse().unwrap(), "JMET", "test", 1)
            .await
            .is_err(),
        "a rayon has no JMET"
    );
    let team = storage
        .create_team(&municipality, "JMET of KG-N-AT-01", "test", 1)
        .await
        .unwrap();
    let aigul = storage
        .add_member(team, "Aigul", "2024-03-01", "test", 1)
        .await
        .unwrap();
    let bakyt = storage
        .add_member(team, "Bakyt", "2024-05-15", "test", 1)
        .await
        .unwrap();
    assert!(
        storage
            .add_member(team, "Cholpon", "15.05.2024", "test", 1)
            .await
            .is_err(),
        "dates are YYYY-MM-DD"
    );

    let phone = device(
        &server,
        storage
            .create_member_device(aigul, Some("phone"), "test", 1)
            .await
            .unwrap(),
    );
    let tablet = device(
        &server,
        storage
            .create_member_device(aigul, Some("tablet"), "test", 1)
            .await
            .unwrap(),
    );
    let colleague = device(
        &server,
        storage
            .create_member_device(bakyt, None, "test", 1)
            .await
            .unwrap(),
    );
    let mut ops = OpMaker::for_device(&phone);
    let visit = RecordId::generate();
    phone
        .push(&PushRequest {
            ops: vec![ops.set("comments", visit, MUNICIPALITY, json!({"water": "clear"}))],
        })
        .await;
    assert_eq!(
        tablet
            .pull(None, None)
            .await
            .records
            .iter()
            .filter(|r| r.record_id == visit)
            .count(),
        1
    );

    // Aigul leaves: through the command line, as an AO staff member would.
    let out = Command::new(env!("CARGO_BIN_EXE_jmet"))
        .args(["member", "leave", &aigul.to_string(), "--on", "2025-01-31"])
        .args(server.cli_args())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let left: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(left["revoked_devices"].as_array().unwrap().len(), 2);

    for revoked in [&phone, &tablet] {
        assert_eq!(revoked.push_raw(json!({"ops": []})).await.status(), 401);
        assert_eq!(revoked.pull_raw(None, None).await.status(), 401);
    }
    let devices = storage.member_devices(aigul).await.unwrap();
    assert_eq!(devices.len(), 2, "her phones stay listed");
    assert!(devices.iter().all(|d| d.revoked_at_ms.is_some()));
    assert!(
        devices.iter().any(|d| d.device_id == phone.device_id),
        "{devices:?}"
    );
    let mut seen = Store::default();
    colleague.pull_all(&mut seen, None, 100).await;
    assert!(
        seen.get(&"comments".parse().unwrap(), &visit).is_some(),
        "her records stay"
    );
    assert!(
        storage
            .create_member_device(aigul, None, "test", 2)
            .await
            .is_err(),
        "no new device for a member who left"
    );
    assert!(
        storage
            .member_leaves(aigul, "2025-02-01", "test", 2)
            .await
            .is_err(),
        "she left once"
    );

    let history = storage.team_members(team).await.unwrap();
    let rows: Vec<_> = history
        .iter()
        .map(|m| (m.name.as_str(), m.left_on.as_deref(), m.active_devices))
        .collect();
    assert_eq!(rows, [("Aigul", Some("2025-01-31"), 0), ("Bakyt", None, 1)]);
    assert!(matches!(
        storage.verify_audit().await.unwrap(),
        jmet::storage::AuditReport::Intact { .. }
    ));
    server.stop().await;
}

async fn enroll_raw(server: &TestServer, body: serde_json::Value) -> reqwest::Response {
    server
        .http
        .post(format!("{}/api/v1/enroll", server.url))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn a_phone_enrolls_once_with_a_scanned_code(backend: Backend) {
    let server = TestServer::start(backend).await;
    let storage = &server.storage;
    let text = territories();
    storage
        .import_territories(
            &jmet::territory::parse_geojson(&text).unwrap(),
            &text,
            "test",
            1,
        )
        .await
        .unwrap();
    let team = storage
        .create_team(&MUNICIPALITY.parse().unwrap(), "JMET", "test", 1)
        .await
        .unwrap();
    let member = storage
        .add_member(team, "Aigul", "2024-03-01", "test", 1)
        .await
        .unwrap();

    // AO staff make the code and its QR image with the command line.
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("enroll.svg");
    let out = Command::new(env!("CARGO_BIN_EXE_jmet"))
        .args([
            "enroll",
            "create",
            "--member",
            &member.to_string(),
            "--server-url",
            &server.url,
            "--qr-svg",
        ])
        .arg(&svg)
        .args(server.cli_args())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let payload: serde_json::Value =
        serde_json::from_str(made["qr_payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["server"], json!(server.url));
    let code = payload["code"].as_str().unwrap().to_owned();
    let image = std::fs::read_to_string(&svg).unwrap();
    assert!(
        image.contains("<svg") && image.len() > 1000,
        "a QR code image was written"
    );

    // The phone exchanges it for a token that syncs the member's municipality.
    let answer = enroll_raw(&server, json!({"code": code, "label": "Redmi 9A"})).await;
    assert_eq!(answer.status(), 200);
    let new: jmet::storage::NewDevice = answer.json().await.unwrap();
    let phone = device(&server, new);
    let mut ops = OpMaker::for_device(&phone);
    let pushed = phone
        .push(&PushRequest {
            ops: vec![ops.set(
                "comments",
                RecordId::generate(),
                MUNICIPALITY,
                json!({"ok": true}),
            )],
        })
        .await;
    assert_eq!(pushed.results[0].status, sync_protocol::OpStatus::Applied);

    // Once only; garbage, expired codes and malformed bodies are refused clearly.
    for body in [
        json!({"code": code}),
        json!({"code": "0".repeat(32)}),
        json!({"code": ""}),
    ] {
        let answer = enroll_raw(&server, body).await;
        assert_eq!(answer.status(), 401);
        assert_eq!(
            answer.json::<serde_json::Value>().await.unwrap()["code"],
            "invalid_enrollment_code"
        );
    }
    let expired = storage
        .create_enrollment_code(member, -1, "test", crate::harness::now_ms() as i64)
        .await
        .unwrap();
    assert_eq!(
        enroll_raw(&server, json!({"code": expired.code}))
            .await
            .status(),
        401
    );
    for body in [
        json!({}),
        json!({"code": 5}),
        json!({"code": "x", "admin": true}),
    ] {
        assert_eq!(enroll_raw(&server, body).await.status(), 400);
    }

    // A code made before the member left is worth nothing after.
    let pending = storage
        .create_enrollment_code(member, 3_600_000, "test", crate::harness::now_ms() as i64)
        .await
        .unwrap();
    storage
        .member_leaves(member, "2025-01-31", "test", 2)
        .await
        .unwrap();
    assert_eq!(
        enroll_raw(&server, json!({"code": pending.code}))
            .await
            .status(),
        401
    );
    assert_eq!(
        phone.pull_raw(None, None).await.status(),
        401,
        "the enrolled phone went with her"
    );
    assert!(
        storage
            .create_enrollment_code(member, 3_600_000, "test", 3)
            .await
            .is_err()
    );
    server.stop().await;
}
