//! Importing territories from GeoJSON: all of a file or nothing, with errors that name the line
//! or the feature.

use jmet::territory::parse_geojson;
use serde_json::{Value, json};
use tokio::process::Command;

use crate::harness::{Backend, TestServer};
use crate::on_both;

on_both!(
    a_valid_file_imports_whole_and_a_bad_one_imports_nothing,
    facilities_import_from_csv_all_or_nothing,
    reference_data_reaches_each_municipality_through_the_feed,
    indicators_import_and_only_an_approved_plan_reaches_phones,
);

fn square(lon: f64, lat: f64, d: f64) -> Value {
    json!({"type": "Polygon", "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]]})
}

fn feature(code: &str, level: &str, parent: Option<&str>, geometry: Value) -> Value {
    let mut props =
        json!({"code": code, "level": level, "name_ky": code, "name_ru": code, "name_en": code});
    if let Some(p) = parent {
        props["parent"] = json!(p);
    }
    json!({"type": "Feature", "properties": props, "geometry": geometry})
}

fn collection(features: Vec<Value>) -> String {
    serde_json::to_string_pretty(&json!({"type": "FeatureCollection", "features": features}))
        .unwrap()
}

/// A synthetic slice of Naryn oblast: one rayon, two municipalities, two villages.
fn naryn() -> Vec<Value> {
    vec![
        feature("KG-N", "oblast", None, square(73.5, 40.5, 3.0)),
        feature("KG-N-AT", "rayon", Some("KG-N"), square(74.5, 41.0, 1.0)),
        feature(
            "KG-N-AT-01",
            "municipality",
            Some("KG-N-AT"),
            square(74.6, 41.1, 0.2),
        ),
        feature(
            "KG-N-AT-02",
            "municipality",
            Some("KG-N-AT"),
            square(74.9, 41.1, 0.2),
        ),
        feature(
            "KG-N-AT-01-V1",
            "village",
            Some("KG-N-AT-01"),
            json!({"type": "Point", "coordinates": [74.65, 41.15]}),
        ),
        feature(
            "KG-N-AT-02-V1",
            "village",
            Some("KG-N-AT-02"),
            json!({"type": "Point", "coordinates": [74.95, 41.2]}),
        ),
    ]
}

async fn import(server: &TestServer, text: &str) -> Result<usize, String> {
    let territories = parse_geojson(text).map_err(|e| e.to_string())?;
    server
        .storage
        .import_territories(&territories, text, "test", 1)
        .await
        .map_err(|e| e.to_string())
}

async fn a_valid_file_imports_whole_and_a_bad_one_imports_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    assert_eq!(import(&server, &collection(naryn())).await, Ok(6));
    assert_eq!(
        import(&server, &collection(naryn())).await,
        Ok(6),
        "re-importing updates in place"
    );
    let stored = server.storage.territories().await.unwrap();
    assert_eq!(stored.len(), 6);
    assert_eq!(stored[0].level, "oblast");
    assert_eq!(stored.last().unwrap().level, "village");

    let new_muni =
        |geometry: Value| feature("KG-N-AT-03", "municipality", Some("KG-N-AT"), geometry);
    let mut no_code = feature("X", "rayon", Some("KG-N"), square(74.0, 41.0, 0.1));
    no_code["properties"]
        .as_object_mut()
        .unwrap()
        .remove("code");
    let mut no_name = new_muni(square(75.0, 41.0, 0.1));
    no_name["properties"]["name_ky"] = json!("  ");
    let unclosed = json!({"type": "Polygon", "coordinates": [[[74.0, 41.0], [74.1, 41.0], [74.1, 41.1], [74.0, 41.1]]]});
    let cases: Vec<(String, &str)> = vec![
        (
            "{\n  \"type\": \"FeatureCollection\",\n  \"features\": [ oops ]\n}".into(),
            "line 3",
        ),
        (
            collection(vec![new_muni(square(75.0, 41.0, 0.1)), no_code]),
            "feature 2",
        ),
        (
            collection(vec![feature(
                "KG-Q",
                "province",
                None,
                square(70.0, 40.0, 1.0),
            )]),
            "feature 1 (code KG-Q)",
        ),
        (
            collection(vec![feature(
                "KG-N-AT-01-V9",
                "village",
                Some("KG-N-AT-01"),
                square(74.6, 41.1, 0.01),
            )]),
            "feature 1 (code KG-N-AT-01-V9)",
        ),
        (
            collection(vec![new_muni(
                json!({"type": "Point", "coordinates": [74.6, 41.1]}),
            )]),
            "feature 1 (code KG-N-AT-03)",
        ),
        (
            collection(vec![new_muni(square(74.6, 95.0, 0.1))]),
            "feature 1 (code KG-N-AT-03)",
        ),
        (
            collection(vec![new_muni(unclosed)]),
            "feature 1 (code KG-N-AT-03)",
        ),
        (
            collection(vec![new_muni(square(75.0, 41.0, 0.1)), no_name]),
            "feature 2 (code KG-N-AT-03)",
        ),
        (
            collection(vec![feature(
                "KG-Z-01",
                "municipality",
                Some("KG-Z"),
                square(75.0, 41.0, 0.1),
            )]),
            "feature 1 (code KG-Z-01)",
        ),
        (
            collection(vec![feature(
                "KG-N-X-01",
                "municipality",
                Some("KG-N"),
                square(75.0, 41.0, 0.1),
            )]),
            "feature 1 (code KG-N-X-01)",
        ),
        (
            collection(vec![feature(
                "../etc",
                "oblast",
                None,
                square(75.0, 41.0, 0.1),
            )]),
            "feature 1 (code ../etc)",
        ),
        (
            collection(vec![feature(
                "KG-T",
                "oblast",
                Some("KG-N"),
                square(75.0, 41.0, 0.1),
            )]),
            "feature 1 (code KG-T)",
        ),
        (
            collection({
                // Valid features first: none of them may be imported when a later one is bad.
                let mut all = vec![
                    new_muni(square(75.0, 41.0, 0.1)),
                    feature(
                        "KG-N-AT-03-V1",
                        "village",
                        Some("KG-N-AT-03"),
                        json!({"type": "Point", "coordinates": [75.05, 41.05]}),
                    ),
                ];
                all.push(feature(
                    "KG-N-AT-03",
                    "municipality",
                    Some("KG-N-AT"),
                    square(75.0, 41.0, 0.1),
                ));
                all
            }),
            "feature 3 (code KG-N-AT-03)",
        ),
    ];
    for (text, at) in &cases {
        let error = import(&server, text)
            .await
            .expect_err("a bad file is refused");
        assert!(
            error.starts_with(at),
            "expected the error at {at:?}, got {error:?}"
        );
        assert_eq!(
            server.storage.territories().await.unwrap(),
            stored,
            "nothing of a bad file is imported"
        );
    }

    // The command line: exit status 1 and the place named on stderr; a good file imports.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.geojson");
    std::fs::write(&bad, &cases[5].0).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_jmet"))
        .args(["territory", "import"])
        .arg(&bad)
        .args(server.cli_args())
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "feature 1 (code KG-N-AT-03): latitude 95 is outside -90..90; nothing was imported"
        ),
        "{stderr}"
    );
    let good = dir.path().join("good.geojson");
    std::fs::write(&good, collection(vec![new_muni(square(75.0, 41.0, 0.1))])).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_jmet"))
        .args(["territory", "import"])
        .arg(&good)
        .args(server.cli_args())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        json!({"imported": 1})
    );
    assert_eq!(server.storage.territories().await.unwrap().len(), 7);
    assert!(matches!(
        server.storage.verify_audit().await.unwrap(),
        jmet::storage::AuditReport::Intact { .. }
    ));
    server.stop().await;
}

const FACILITIES: &str = "\
code,municipality,kind,name_ky,name_ru,name_en,lat,lon,delegated
F-01,KG-N-AT-01,piped_water_system,Суу түтүгү,Водопровод,Piped water system,41.15,74.65,no
F-02,KG-N-AT-01,health_post,ФАП,ФАП,Health post,41.16,74.66,yes
F-03,KG-N-AT-02,school,Мектеп,Школа,School,41.2,74.95,1
";

async fn import_facilities(server: &TestServer, text: &str) -> Result<usize, String> {
    let facilities = jmet::facility::parse_csv(text).map_err(|e| e.to_string())?;
    server
        .storage
        .import_facilities(&facilities, text, "test", 1)
        .await
        .map_err(|e| e.to_string())
}

async fn facilities_import_from_csv_all_or_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    assert_eq!(import(&server, &collection(naryn())).await, Ok(6));
    assert_eq!(import_facilities(&server, FACILITIES).await, Ok(3));
    let stored = server.storage.facilities().await.unwrap();
    assert_eq!(stored.len(), 3);
    assert_eq!(
        (
            stored[1].kind.as_str(),
            stored[1].delegated,
            stored[1].name_ru.as_str()
        ),
        ("health_post", true, "ФАП")
    );

    let header = FACILITIES.lines().next().unwrap();
    let good = FACILITIES.lines().nth(1).unwrap();
    let with = |bad: &str| format!("{header}\n{good}\n{bad}\n");
    let cases: Vec<(String, &str)> = vec![
        (
            with("F-09,KG-N-AT-01,swimming_pool,a,b,c,41.1,74.6,no"),
            "line 3: kind",
        ),
        (
            with("F-09,KG-N-AT-01,school,a,b,c,91,74.6,no"),
            "line 3: lat 91",
        ),
        (
            with("F-09,KG-N-AT-01,school,a,b,c,north,74.6,no"),
            "line 3: lat \"north\"",
        ),
        (
            with("F-09,KG-N-AT-01,school,a,b,c,41.1,74.6,maybe"),
            "line 3: delegated",
        ),
        (
            with("F-09,KG-N-AT-01,school,,b,c,41.1,74.6,no"),
            "line 3: name_ky",
        ),
        (
            with("F-01,KG-N-AT-01,school,a,b,c,41.1,74.6,no"),
            "line 3: code F-01 repeats line 2",
        ),
        (
            with("F-09,KG-N-AT-99,school,a,b,c,41.1,74.6,no"),
            "line 3: municipality KG-N-AT-99 is not stored",
        ),
        (
            with("F-09,KG-N-AT,school,a,b,c,41.1,74.6,no"),
            "line 3: KG-N-AT is a rayon",
        ),
        (
            with("../x,KG-N-AT-01,school,a,b,c,41.1,74.6,no"),
            "line 3: code",
        ),
        (with("F-09,KG-N-AT-01,school,a,b"), "line 3"),
        (
            "code,kind\nF-1,school\n".to_owned(),
            "line 1: the header has no column \"municipality\"",
        ),
    ];
    for (text, at) in &cases {
        let error = import_facilities(&server, text)
            .await
            .expect_err("a bad file is refused");
        assert!(error.starts_with(at), "expected {at:?}, got {error:?}");
        assert_eq!(
            server.storage.facilities().await.unwrap(),
            stored,
            "nothing of a bad file is imported"
        );
    }
    assert!(matches!(
        server.storage.verify_audit().await.unwrap(),
        jmet::storage::AuditReport::Intact { .. }
    ));
    server.stop().await;
}

async fn reference_data_reaches_each_municipality_through_the_feed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let text = collection(naryn());
    let territories = parse_geojson(&text).unwrap();
    let now = crate::harness::now_ms() as i64;
    server
        .storage
        .import_territories(&territories, &text, "test", now)
        .await
        .unwrap();
    let facilities = jmet::facility::parse_csv(FACILITIES).unwrap();
    server
        .storage
        .import_facilities(&facilities, FACILITIES, "test", now)
        .await
        .unwrap();

    let phone = server.device(&["KG-N-AT-01"]).await;
    let mut pulled = sync_protocol::Store::default();
    let cursor = phone.pull_all(&mut pulled, None, 100).await;
    let codes = |collection: &str| -> Vec<String> {
        let mut codes: Vec<String> = pulled
            .iter()
            .filter(|(c, _, _)| c.as_str() == collection)
            .map(|(_, _, state)| {
                state.fields[&"code".parse().unwrap()]
                    .value
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        codes.sort();
        codes
    };
    assert_eq!(codes("territories"), ["KG-N-AT-01", "KG-N-AT-01-V1"]);
    assert_eq!(
        codes("facilities"),
        ["F-01", "F-02"],
        "nothing of another municipality"
    );
    // What the phone holds equals what is stored, field by field.
    for stored in server
        .storage
        .facilities()
        .await
        .unwrap()
        .iter()
        .filter(|f| f.municipality == "KG-N-AT-01")
    {
        let (_, _, state) = pulled
            .iter()
            .find(|(c, _, s)| {
                c.as_str() == "facilities"
                    && s.fields[&"code".parse().unwrap()].value == json!(stored.code)
            })
            .expect("the facility reached the phone");
        let field = |name: &str| state.fields[&name.parse().unwrap()].value.clone();
        assert_eq!(field("name_ru"), json!(stored.name_ru));
        assert_eq!(field("kind"), json!(stored.kind));
        assert_eq!(field("delegated"), json!(stored.delegated));
        assert_eq!(
            field("location"),
            json!({"lat": stored.lat, "lon": stored.lon})
        );
    }

    // Reference data is read-only for phones.
    let mut ops = crate::harness::OpMaker::for_device(&phone);
    let record = pulled
        .iter()
        .find(|(c, _, _)| c.as_str() == "facilities")
        .map(|(_, id, _)| *id)
        .unwrap();
    let answer = phone
        .push(&sync_protocol::PushRequest {
            ops: vec![ops.set("facilities", record, "KG-N-AT-01", json!({"name_ru": "x"}))],
        })
        .await;
    assert_eq!(
        answer.results[0].code,
        Some(sync_protocol::RejectCode::ReadOnlyCollection)
    );

    // A re-import with a new name reaches the phone as a change after its cursor.
    let renamed = FACILITIES.replace("Водопровод", "Водопровод №1");
    let facilities = jmet::facility::parse_csv(&renamed).unwrap();
    server
        .storage
        .import_facilities(&facilities, &renamed, "test", now + 1)
        .await
        .unwrap();
    let page = phone.pull(cursor.as_deref(), None).await;
    let names: Vec<Value> = page
        .records
        .iter()
        .filter(|r| r.collection.as_str() == "facilities")
        .filter_map(|r| {
            r.fields
                .get(&"name_ru".parse().unwrap())
                .map(|f| f.value.clone())
        })
        .collect();
    assert!(names.contains(&json!("Водопровод №1")), "{names:?}");
    assert!(matches!(
        server.storage.verify_audit().await.unwrap(),
        jmet::storage::AuditReport::Intact { .. }
    ));
    server.stop().await;
}

const INDICATORS: &str = r#"code,municipality,name_ky,name_ru,name_en,level,kind,unit,baseline,targets,measured_by,delegated,rule
W-1,KG-N-AT-01,Суу,Доступ к воде,Households with piped water,outcome,quantitative,%,62,2025:70;2026:80;2027:90,jmet,no,"{""type"":""aggregate"",""form"":""water_visit"",""field"":""households_served"",""fn"":""sum""}"
H-1,KG-N-AT-01,ФАП,ФАП работает,Health post open,output,qualitative,,,2026-H1:1,jmet,yes,"{""type"":""aggregate"",""form"":""health_visit"",""field"":""open"",""fn"":""latest""}"
B-1,KG-N-AT-01,Бюджет,Бюджет,Budget spent,resource,quantitative,KGS,,2026:1000000,lsg,no,"{""type"":""lsg_entry""}"
W-2,KG-N-AT-02,Суу,Вода,Water,outcome,quantitative,%,50,2026:60,jmet,no,"{""type"":""lsg_entry""}"
"#;

async fn indicators_import_and_only_an_approved_plan_reaches_phones(backend: Backend) {
    let server = TestServer::start(backend).await;
    let storage = &server.storage;
    let text = collection(naryn());
    storage
        .import_territories(&parse_geojson(&text).unwrap(), &text, "test", 1)
        .await
        .unwrap();
    let parsed = jmet::indicator::parse_csv(INDICATORS).unwrap();
    assert_eq!(parsed[0].targets.get("2026"), Some(&80.0));
    assert_eq!(parsed[1].baseline, None);
    assert_eq!(
        storage
            .import_indicators(&parsed, INDICATORS, "test", 1)
            .await
            .map_err(|e| e.to_string()),
        Ok(4)
    );

    let header = INDICATORS.lines().next().unwrap();
    let with = |row: &str| format!("{header}\n{row}\n");
    let ok_rule = r#""{""type"":""lsg_entry""}""#;
    let cases = [
        (
            with(&format!(
                "X-1,KG-N-AT-01,a,b,c,impact,quantitative,%,1,2026:2,jmet,no,{ok_rule}"
            )),
            "line 2: level",
        ),
        (
            with(&format!(
                "X-1,KG-N-AT-01,a,b,c,outcome,quantitative,%,1,2026-H3:2,jmet,no,{ok_rule}"
            )),
            "line 2: targets",
        ),
        (
            with(&format!(
                "X-1,KG-N-AT-01,a,b,c,outcome,quantitative,%,lots,2026:2,jmet,no,{ok_rule}"
            )),
            "line 2: baseline",
        ),
        (
            with(&format!(
                "X-1,KG-N-AT-01,a,b,c,outcome,quantitative,%,1,2026:2,mayor,no,{ok_rule}"
            )),
            "line 2: measured_by",
        ),
        (
            with("X-1,KG-N-AT-01,a,b,c,outcome,quantitative,%,1,2026:2,jmet,no,{not json"),
            "line 2: rule",
        ),
        (
            with(
                r#"X-1,KG-N-AT-01,a,b,c,outcome,quantitative,%,1,2026:2,jmet,no,"{""type"":""magic""}""#,
            ),
            "line 2: rule",
        ),
        (
            with(&format!(
                "X-1,KG-N-AT,a,b,c,outcome,quantitative,%,1,2026:2,jmet,no,{ok_rule}"
            )),
            "line 2: KG-N-AT is not a stored municipality",
        ),
    ];
    for (text, at) in &cases {
        let result = match jmet::indicator::parse_csv(text) {
            Err(e) => Err(e.to_string()),
            Ok(parsed) => storage
                .import_indicators(&parsed, text, "test", 2)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
        };
        let error = result.expect_err("a bad file is refused");
        assert!(error.starts_with(at), "expected {at:?}, got {error:?}");
    }

    let municipality = "KG-N-AT-01".parse().unwrap();
    assert!(
        storage
            .set_plan(&municipality, &["W-2".into()], "test", 2)
            .await
            .is_err(),
        "another municipality's indicator"
    );
    storage
        .set_plan(&municipality, &["W-1".into(), "H-1".into()], "test", 2)
        .await
        .unwrap();
    let phone = server.device(&["KG-N-AT-01"]).await;
    let indicators_on_phone = |store: &sync_protocol::Store| -> Vec<String> {
        let mut codes: Vec<String> = store
            .iter()
            .filter(|(c, _, _)| c.as_str() == "indicators")
            .map(|(_, _, s)| {
                s.fields[&"code".parse().unwrap()]
                    .value
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        codes.sort();
        codes
    };
    let mut pulled = sync_protocol::Store::default();
    let cursor = phone.pull_all(&mut pulled, None, 100).await;
    assert!(
        indicators_on_phone(&pulled).is_empty(),
        "a draft plan is not official"
    );
    assert!(
        storage
            .approve_plan(&municipality, "31.03.2026", "12", "test", 3)
            .await
            .is_err()
    );
    storage
        .approve_plan(&municipality, "2026-03-31", "No. 12/4", "test", 3)
        .await
        .unwrap();
    phone.pull_all(&mut pulled, cursor, 100).await;
    assert_eq!(indicators_on_phone(&pulled), ["H-1", "W-1"]);
    let plan = storage.plan(&municipality).await.unwrap().unwrap();
    assert_eq!(
        (
            plan.status.as_str(),
            plan.approved_on.as_deref(),
            plan.decision.as_deref()
        ),
        ("approved", Some("2026-03-31"), Some("No. 12/4"))
    );
    let other = server.device(&["KG-N-AT-02"]).await;
    let mut theirs = sync_protocol::Store::default();
    other.pull_all(&mut theirs, None, 100).await;
    assert!(
        indicators_on_phone(&theirs).is_empty(),
        "nothing of another municipality"
    );
    assert!(matches!(
        storage.verify_audit().await.unwrap(),
        jmet::storage::AuditReport::Intact { .. }
    ));
    server.stop().await;
}
