//! ODK Collect and KoboCollect over OpenRosa: the form list, the XForm and its facility list,
//! and submissions shaped as Collect sends them (multipart layout, headers, a split submission,
//! an edit), turned into the same records, photos and indicator values as the native sync.
//! The form is authored as an XLSForm in fixtures/xlsform/, imported by this server, and the
//! submission follows the instance pyxform (the reference converter) makes of the same file.

use std::collections::BTreeSet;
use std::process::Command;

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Backend, TestDevice, TestServer};
use crate::on_both;
use crate::world::{A, build, call};

on_both!(
    collect_submissions_become_records_photos_and_values,
    hostile_openrosa_requests_store_nothing,
);

const WATER_V2: &[u8] = include_bytes!("../../fixtures/xlsform/water_visit_v2.xlsx");
const SURVEY_2027: &[u8] = include_bytes!("../../fixtures/xlsform/resident_survey_2027.xlsx");
const BOUNDARY: &str = "----OpenRosaBoundary7MA4YWxkTrZu0gW";

fn rule(r: Value) -> String {
    format!("\"{}\"", r.to_string().replace('"', "\"\""))
}

/// Imports the XLSForm fixtures and an indicator counting their answers.
async fn setup(server: &TestServer) -> crate::world::World {
    let world = build(server).await;
    let s = &server.storage;
    for bytes in [WATER_V2, SURVEY_2027] {
        let imported = jmet::xlsform::read(bytes).expect("the fixture imports");
        s.import_form(&imported.form, "test", 1).await.unwrap();
    }
    let hours =
        json!({"type": "aggregate", "form": "water_visit", "field": "supply_hours", "fn": "mean"});
    let text = format!(
        "code,municipality,name_ky,name_ru,name_en,level,kind,unit,baseline,targets,measured_by,delegated,rule\n\
         A-HOURS,{A},h ky,h ru,h en,output,quantitative,h,8,2025:12,jmet,no,{}\n",
        rule(hours)
    );
    let parsed = jmet::indicator::parse_csv(&text).unwrap();
    s.import_indicators(&parsed, &text, "test", 1)
        .await
        .unwrap();
    world
}

/// Collect's multipart body: the instance as `xml_submission_file`, one part per attachment
/// named by its file, and `*isIncomplete*` on all but the last part of a split submission.
fn multipart(xml: &str, attachments: &[(&str, &str, &[u8])], incomplete: bool) -> Vec<u8> {
    let mut body = Vec::new();
    let mut part = |headers: String, bytes: &[u8]| {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n{headers}\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    };
    part(
        "Content-Disposition: form-data; name=\"xml_submission_file\"; filename=\"submission.xml\"\r\nContent-Type: text/xml; charset=utf-8".into(),
        xml.as_bytes(),
    );
    for (name, content_type, bytes) in attachments {
        part(
            format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\nContent-Type: {content_type}"
            ),
            bytes,
        );
    }
    if incomplete {
        part(
            "Content-Disposition: form-data; name=\"*isIncomplete*\"\r\nContent-Type: text/plain; charset=utf-8".into(),
            b"yes",
        );
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// A request as Collect makes it.
fn collect(server: &TestServer, method: Method, url: &str) -> reqwest::RequestBuilder {
    server
        .http
        .request(method, url)
        .header("X-OpenRosa-Version", "1.0")
        .header(
            "User-Agent",
            "org.odk.collect.android/v2024.3.1 okhttp/4.12.0",
        )
        .header("Date", "Mon, 30 Nov 2026 10:00:00 GMT")
}

async fn post(server: &TestServer, url: &str, body: Vec<u8>) -> (u16, String) {
    let response = collect(server, Method::POST, url)
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert_eq!(
        response
            .headers()
            .get("x-openrosa-version")
            .map(|v| v.to_str().unwrap()),
        Some("1.0")
    );
    (status, response.text().await.unwrap())
}

/// The water visit instance, nested as pyxform's form nests it.
fn water_instance(
    instance_id: &str,
    deprecated: Option<&str>,
    hours: u32,
    facility: &str,
) -> String {
    let deprecated = deprecated
        .map(|d| format!("<orx:deprecatedID>{d}</orx:deprecatedID>"))
        .unwrap_or_default();
    format!(
        "<?xml version='1.0' ?><data xmlns:jr=\"http://openrosa.org/javarosa\" \
         xmlns:orx=\"http://openrosa.org/xforms\" id=\"water_visit\" version=\"2\">\
         <start>2025-05-04T10:20:00.000+06:00</start><end>2025-05-04T10:41:13.000+06:00</end>\
         <facility>{facility}</facility><gps>41.15 74.65 812.0 4.5</gps>\
         <supply><supply_hours>{hours}</supply_hours><water_clear>yes</water_clear>\
         <households_served_share>70</households_served_share></supply>\
         <access_road_ok>no</access_road_ok><problems>leak no_pressure</problems>\
         <photo>1764500000000.jpg</photo><notes>Кран агып жатат</notes>\
         <meta><instanceID>{instance_id}</instanceID>{deprecated}</meta></data>"
    )
}

/// Leaf element paths of an XML document's first element under `<instance>` (or of the
/// document itself), without `meta`.
fn leaf_paths(xml: &str, under_instance: bool) -> BTreeSet<String> {
    use quick_xml::Reader;
    use quick_xml::events::Event;
    let mut reader = Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut inside = !under_instance;
    let mut depth_at_instance = 0;
    let mut leaves = BTreeSet::new();
    let mut last_start = false;
    let mut done = false;
    loop {
        match reader.read_event().unwrap() {
            Event::Eof => break,
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_owned();
                if !inside && name == "instance" && !done && e.attributes().count() == 0 {
                    inside = true;
                    depth_at_instance = path.len() + 1;
                }
                path.push(name);
                last_start = true;
            }
            Event::Empty(e) => {
                let name = e.local_name().as_ref().to_owned();
                if inside && !done {
                    let mut p = path.clone();
                    p.push(name);
                    leaves.insert(p[depth_at_instance + 1..].join("/"));
                }
                last_start = false;
            }
            Event::End(_) => {
                if inside && !done && last_start && path.len() > depth_at_instance + 1 {
                    leaves.insert(path[depth_at_instance + 1..].join("/"));
                }
                path.pop();
                if under_instance && inside && path.len() < depth_at_instance {
                    inside = false;
                    done = true;
                }
                last_start = false;
            }
            _ => {}
        }
    }
    leaves
        .into_iter()
        .filter(|p| !p.starts_with("meta/") && !p.is_empty())
        .collect()
}

fn tool(name: &str) -> Option<std::path::PathBuf> {
    let found = Command::new("which").arg(name).output().ok()?;
    let path = String::from_utf8_lossy(&found.stdout).trim().to_owned();
    (found.status.success() && !path.is_empty()).then(|| path.into())
}

/// pyxform's XForm of a fixture, when pyxform is installed (CI installs it and requires it).
fn pyxform(fixture: &str) -> Option<String> {
    let required = std::env::var("JMET_REQUIRE_PYXFORM").is_ok();
    let Some(xls2xform) = tool("xls2xform") else {
        assert!(
            !required,
            "xls2xform (pyxform) is required but not installed"
        );
        eprintln!("skipping the pyxform comparison: xls2xform is not installed");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("form.xml");
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/xlsform")
        .join(fixture);
    let status = Command::new(xls2xform)
        .arg("--skip_validate")
        .arg(&source)
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    Some(std::fs::read_to_string(out).unwrap())
}

/// ODK Validate (JavaRosa, the engine inside Collect), bundled with pyxform, on an XForm.
fn odk_validate(xform: &str) {
    let required = std::env::var("JMET_REQUIRE_PYXFORM").is_ok();
    let jar = Command::new("python3")
        .args(["-c", "import pyxform, os; print(os.path.join(os.path.dirname(pyxform.__file__), 'validators', 'odk_validate', 'bin', 'ODK_Validate.jar'))"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let (Some(jar), Some(java)) = (jar, tool("java")) else {
        assert!(!required, "pyxform's ODK Validate and java are required");
        eprintln!("skipping ODK Validate: pyxform or java missing");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("form.xml");
    std::fs::write(&file, xform).unwrap();
    let out = Command::new(java)
        .arg("-Djava.awt.headless=true")
        .arg("-jar")
        .arg(jar)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ODK Validate refused the server's XForm:\n{}\n{}\n{xform}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Vec<&'a str> {
    text.split(open)
        .skip(1)
        .filter_map(|s| s.split(close).next())
        .collect()
}

async fn record(server: &TestServer, collection: &str, id: &str) -> Option<Value> {
    let mut merged = server
        .storage
        .merged_records(collection, &[id.to_owned()])
        .await
        .unwrap();
    merged.remove(id).map(|r| json!(r.fields))
}

/// A-HOURS in May 2025, provisional. OpenRosa batches are projected beside the writer, so the
/// value follows the answer within a projection run: wait for `expected` a few seconds at most,
/// and answer what is there then.
async fn may_hours(server: &TestServer, world: &crate::world::World, expected: f64) -> f64 {
    let mut value = f64::NAN;
    for _ in 0..100 {
        let (_, series) = call(
            server,
            Some(&world.tokens["supervisor"]),
            Method::GET,
            "/api/v1/indicators/A-HOURS/series?period=month",
            None,
        )
        .await;
        value = series["values"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["period"] == "2025-05")
            .and_then(|v| v["provisional"]["value"].as_f64())
            .unwrap_or(f64::NAN);
        if value == expected {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    value
}

async fn collect_submissions_become_records_photos_and_values(backend: Backend) {
    let server = TestServer::start(backend).await;
    let world = setup(&server).await;
    // AO staff make the member a phone for ODK Collect; the phone scans the QR code.
    let (status, made) = call(
        &server,
        Some(&world.tokens["ao_staff"]),
        Method::POST,
        &format!("/api/v1/members/{}/odk-devices", world.member_a),
        None,
    )
    .await;
    assert_eq!(status, 201, "{made}");
    assert!(
        made["qr_svg"].as_str().unwrap().starts_with("<?xml")
            || made["qr_svg"].as_str().unwrap().contains("<svg")
    );
    let settings = jmet::openrosa::odk_settings::decode(made["qr_payload"].as_str().unwrap())
        .expect("the QR code is zlib-compressed JSON in Base64");
    let base = settings["general"]["server_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        base,
        format!(
            "{}/openrosa/key/{}",
            server.url,
            made["token"].as_str().unwrap()
        )
    );
    assert_eq!(settings["general"]["username"], "");
    let phone = TestDevice {
        url: server.url.clone(),
        http: server.http.clone(),
        device_id: made["device_id"].as_str().unwrap().parse().unwrap(),
        token: made["token"].as_str().unwrap().to_owned(),
    };
    let phone = &phone;

    // The form list: both XLSForm fixtures, at their latest versions, hashed as downloaded.
    let response = collect(&server, Method::GET, &format!("{base}/formList"))
        .header("Accept-Language", "ru-RU")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml")
    );
    let list = response.text().await.unwrap();
    assert!(
        list.contains("xmlns=\"http://openrosa.org/xforms/xformsList\""),
        "{list}"
    );
    let ids = between(&list, "<formID>", "</formID>");
    assert_eq!(
        ids,
        ["health_visit", "resident_survey", "water_visit"],
        "{list}"
    );
    let water = list
        .split("<xform>")
        .find(|x| x.contains("<formID>water_visit<"))
        .unwrap();
    assert!(water.contains("<version>2</version>"), "{water}");
    assert!(
        water.contains("<name>Мониторинг: объект водоснабжения</name>"),
        "{water}"
    );
    let hash = between(water, "<hash>", "</hash>")[0];
    let download = between(water, "<downloadUrl>", "</downloadUrl>")[0];
    let manifest_url = between(water, "<manifestUrl>", "</manifestUrl>")[0];
    let xform = collect(&server, Method::GET, download)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let md5 = format!(
        "md5:{}",
        hex::encode(<md5::Md5 as md5::Digest>::digest(xform.as_bytes()))
    );
    assert_eq!(hash, md5);

    // The XForm: three itext languages, the facility from the list, and the instance pyxform
    // makes of the same workbook (the same answers, whatever the grouping).
    for lang in ["Kyrgyz (ky)", "Russian (ru)", "English (en)"] {
        assert!(xform.contains(&format!("lang=\"{lang}\"")), "{lang}");
    }
    assert!(xform.contains("Сколько часов в сутки подаётся вода?"));
    assert!(xform.contains("jr://file-csv/facilities.csv"));
    assert!(xform.contains("<upload ref=\"/data/photo\" mediatype=\"image/*\">"));
    assert!(
        xform.contains("constraint=\". &gt;= 0 and . &lt;= 24\""),
        "{xform}"
    );
    odk_validate(&xform);
    let ours: BTreeSet<String> = leaf_paths(&xform, true);
    if let Some(reference) = pyxform("water_visit_v2.xlsx") {
        let name = |p: &String| p.rsplit('/').next().unwrap().to_owned();
        let theirs: BTreeSet<String> = leaf_paths(&reference, true)
            .iter()
            .map(name)
            .filter(|n| !["start", "end"].contains(&n.as_str()))
            .collect();
        let ours: BTreeSet<String> = ours
            .iter()
            .map(name)
            .filter(|n| n != "captured_at")
            .collect();
        assert_eq!(
            ours, theirs,
            "the server's instance and pyxform's hold different answers"
        );
        // The submission below is shaped as pyxform's form makes it.
        let submitted = leaf_paths(&water_instance("uuid:x", None, 1, "F"), false);
        let reference_paths = leaf_paths(&reference, true);
        assert_eq!(
            submitted, reference_paths,
            "the test's instance follows pyxform's"
        );
    }

    // The manifest offers the municipality's water facilities.
    let manifest = collect(&server, Method::GET, manifest_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        manifest.contains("<filename>facilities.csv</filename>"),
        "{manifest}"
    );
    let media_url = between(&manifest, "<downloadUrl>", "</downloadUrl>")[0];
    let csv = collect(&server, Method::GET, media_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let media_hash = format!(
        "md5:{}",
        hex::encode(<md5::Md5 as md5::Digest>::digest(csv.as_bytes()))
    );
    assert_eq!(between(&manifest, "<hash>", "</hash>")[0], media_hash);
    assert!(csv.starts_with("name,label\n"), "{csv}");
    assert!(csv.contains("A-WATER,"), "{csv}");
    assert!(
        !csv.contains("A-SCHOOL"),
        "a water form lists water facilities only: {csv}"
    );
    assert!(
        !csv.contains("B-WATER"),
        "only the phone's municipality: {csv}"
    );

    // HEAD tells the phone what it may send.
    let head = collect(&server, Method::HEAD, &format!("{base}/submission"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 204);
    assert_eq!(head.headers()["x-openrosa-version"], "1.0");
    let max: u64 = head.headers()["x-openrosa-accept-content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(max >= 1_000_000);

    // A split submission: the instance alone first (incomplete), then again with its photo.
    let jpeg = crate::evidence::photo(
        640,
        480,
        85,
        &crate::evidence::Shot {
            lat: 41.15,
            lon: 74.65,
            time: "2025:05:04 10:25:00",
        },
    );
    let id = "uuid:2d3c1a7e-5b1f-4c1e-9f0a-5d7e1c2b3a41";
    let xml = water_instance(id, None, 14, "A-WATER");
    let (status, text) = post(
        &server,
        &format!("{base}/submission"),
        multipart(&xml, &[], true),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    assert!(text.contains("submit_success"), "{text}");
    let (status, text) = post(
        &server,
        &format!("{base}/submission"),
        multipart(&xml, &[("1764500000000.jpg", "image/jpeg", &jpeg)], false),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    let kept = server.storage.openrosa_instance(id).await.unwrap().unwrap();
    assert!(kept.complete);
    assert_eq!(kept.outcome, "applied");
    let visit = record(&server, "visits", &kept.record_id)
        .await
        .expect("one visit");
    assert_eq!(visit["form"], "water_visit");
    assert_eq!(visit["form_version"], 2);
    assert_eq!(visit["facility"], "A-WATER");
    assert_eq!(visit["supply_hours"], 14);
    assert_eq!(visit["water_clear"], true);
    assert_eq!(visit["access_road_ok"], false);
    assert_eq!(visit["problems"], json!(["leak", "no_pressure"]));
    assert_eq!(
        visit["gps"],
        json!({"lat": 41.15, "lon": 74.65, "alt": 812.0, "acc": 4.5})
    );
    assert_eq!(visit["captured_at"], "2025-05-04T10:20:00+06:00");
    assert_eq!(visit["notes"], "Кран агып жатат");
    let photo_id = visit["photo"].as_str().unwrap().to_owned();
    let photo = record(&server, "photos", &photo_id)
        .await
        .expect("the photo record");
    assert_eq!(photo["visit"], kept.record_id.as_str());
    assert_eq!(
        photo["sha256"],
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&jpeg))
    );

    // The same instance again (the phone did not hear the answer): nothing new.
    let (status, text) = post(
        &server,
        &format!("{base}/submission"),
        multipart(&xml, &[("1764500000000.jpg", "image/jpeg", &jpeg)], false),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    // The same instance id with other answers is a conflict, and changes nothing.
    let (status, text) = post(
        &server,
        &format!("{base}/submission"),
        multipart(&water_instance(id, None, 3, "A-WATER"), &[], false),
    )
    .await;
    assert_eq!(status, 409, "{text}");
    assert!(text.contains("instance_conflict"), "{text}");
    assert_eq!(
        record(&server, "visits", &kept.record_id).await.unwrap()["supply_hours"],
        14
    );

    // The value it makes, as any visit's: the world's own native visit in May 2025 had 12
    // hours, so the mean of 12 and 14. And one visit, however often it was sent.
    assert_eq!(may_hours(&server, &world, 13.0).await, 13.0);
    let count = server
        .storage
        .submission_statuses(A)
        .await
        .unwrap()
        .iter()
        .filter(|(c, id, _)| c == "visits" && *id == kept.record_id)
        .count();
    assert_eq!(count, 1);

    // An edit from Collect: a new instance naming the first as deprecated; the same record.
    let edit_id = "uuid:7f4e2b9c-1d3a-4e5f-8a6b-9c0d1e2f3a4b";
    let edited = water_instance(edit_id, Some(id), 20, "A-WATER")
        .replace("<notes>Кран агып жатат</notes>", "<notes/>");
    let (status, text) = post(
        &server,
        &format!("{base}/submission"),
        multipart(
            &edited,
            &[("1764500000000.jpg", "image/jpeg", &jpeg)],
            false,
        ),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    let edit = server
        .storage
        .openrosa_instance(edit_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(edit.record_id, kept.record_id);
    let visit = record(&server, "visits", &kept.record_id).await.unwrap();
    assert_eq!(visit["supply_hours"], 20);
    assert_eq!(visit["notes"], Value::Null, "an emptied answer is cleared");
    assert_eq!(
        visit["photo"],
        photo_id.as_str(),
        "the same file is the same photo"
    );
    assert_eq!(may_hours(&server, &world, 16.0).await, 16.0);

    // GPS checks run on it as on any visit: a position 5 km from the facility is flagged.
    let far_id = "uuid:5a1c2e3f-4b5d-4e6f-8a7b-9c0d1e2f3a99";
    let far = water_instance(far_id, None, 11, "A-WATER").replace(
        "<gps>41.15 74.65 812.0 4.5</gps>",
        "<gps>41.195 74.65 812.0 4.5</gps>",
    );
    let (status, text) = post(
        &server,
        &format!("{base}/submission"),
        multipart(&far, &[], false),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    let far_record = server
        .storage
        .openrosa_instance(far_id)
        .await
        .unwrap()
        .unwrap()
        .record_id;
    let mut kinds = Vec::new();
    for _ in 0..100 {
        kinds = server
            .storage
            .flags_of(&far_record)
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.kind)
            .collect::<Vec<_>>();
        if !kinds.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(kinds.iter().any(|k| k == "far_from_facility"), "{kinds:?}");

    // From then on it is reviewed like any visit: its review status is there.
    let (status, body) = call(
        &server,
        Some(&world.tokens["supervisor"]),
        Method::GET,
        &format!("/api/v1/submissions/visits/{}/status", kept.record_id),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // A survey response through HTTP Basic (device id and token), to the 2027 instrument.
    let basic = format!("{}/openrosa", server.url);
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", phone.device_id, phone.token));
    let survey = format!(
        "<?xml version='1.0' ?><data xmlns:orx=\"http://openrosa.org/xforms\" id=\"resident_survey\" version=\"4\">\
         <start>2027-03-02T09:00:00.000+06:00</start><village>{A}-V1</village><sex>female</sex><age_band>30-44</age_band>\
         <water_satisfied>satisfied</water_satisfied><attended_meeting>yes</attended_meeting><trust_lsg>trust</trust_lsg>\
         <health_satisfied>neutral</health_satisfied><meta><instanceID>uuid:0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d</instanceID></meta></data>"
    );
    let response = collect(&server, Method::POST, &format!("{basic}/submission"))
        .header("Authorization", format!("Basic {auth}"))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart(&survey, &[], false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    let kept = server
        .storage
        .openrosa_instance("uuid:0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d")
        .await
        .unwrap()
        .unwrap();
    let response = record(&server, "survey_responses", &kept.record_id)
        .await
        .unwrap();
    assert_eq!(response["village"], format!("{A}-V1"));
    assert_eq!(response["attended_meeting"], true);
    assert_eq!(response["form_version"], 4);

    // Revoking the phone shuts both paths.
    server
        .storage
        .revoke_device(phone.device_id, "test", 2)
        .await
        .unwrap();
    let token_path = collect(&server, Method::GET, &format!("{base}/formList"))
        .send()
        .await
        .unwrap();
    assert_eq!(token_path.status(), 401);
    let basic_path = collect(&server, Method::GET, &format!("{basic}/formList"))
        .header("Authorization", format!("Basic {auth}"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic_path.status(), 401);
}

async fn hostile_openrosa_requests_store_nothing(backend: Backend) {
    let settings = jmet::api::Settings {
        body_limit: 300_000,
        ..Default::default()
    };
    let server = TestServer::start_with(backend, settings).await;
    let world = setup(&server).await;
    let phone = &world.phone_a;
    let submission = format!("{}/openrosa/key/{}/submission", server.url, phone.token);
    let good = |id: &str| water_instance(id, None, 9, "A-WATER");
    let expect = |status: u16, text: &str, want_status: u16, code: &str| {
        assert_eq!(status, want_status, "{text}");
        assert!(text.contains("<OpenRosaResponse"), "{text}");
        assert!(text.contains(&format!("code=\"{code}\"")), "{code}: {text}");
    };
    let nothing_kept = |id: &'static str| {
        let storage = server.storage.clone();
        async move {
            assert!(
                storage.openrosa_instance(id).await.unwrap().is_none(),
                "{id} was kept"
            );
        }
    };

    // Without the OpenRosa header.
    let response = server
        .http
        .get(format!(
            "{}/openrosa/key/{}/formList",
            server.url, phone.token
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("openrosa_version"));
    // A wrong token; Basic without credentials asks for them.
    let response = collect(
        &server,
        Method::GET,
        &format!("{}/openrosa/key/jmetd_nope/formList", server.url),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 401);
    let response = collect(
        &server,
        Method::GET,
        &format!("{}/openrosa/formList", server.url),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );

    // Malformed XML.
    let (status, text) = post(
        &server,
        &submission,
        multipart("<data id=\"water_visit\"><a></b></data>", &[], false),
    )
    .await;
    expect(status, &text, 400, "malformed_xml");
    // Entity expansion.
    let bomb = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\"><!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">]>\
                <data id=\"water_visit\" version=\"2\"><notes>&lol2;</notes><meta><instanceID>uuid:bomb</instanceID></meta></data>";
    let (status, text) = post(&server, &submission, multipart(bomb, &[], false)).await;
    expect(status, &text, 400, "entities_refused");
    nothing_kept("uuid:bomb").await;
    // An unknown form, and a closed one.
    let unknown = good("uuid:unknown").replace("id=\"water_visit\"", "id=\"no_such_form\"");
    let (status, text) = post(&server, &submission, multipart(&unknown, &[], false)).await;
    expect(status, &text, 404, "unknown_form");
    nothing_kept("uuid:unknown").await;
    let old = good("uuid:closed").replace("version=\"2\"", "version=\"1\"");
    server
        .storage
        .close_form(&"water_visit".parse().unwrap(), 1, "test", 2)
        .await
        .unwrap();
    let (status, text) = post(&server, &submission, multipart(&old, &[], false)).await;
    expect(status, &text, 403, "form_closed");
    nothing_kept("uuid:closed").await;
    // The native app meets the same closed version.
    let mut ops = crate::harness::OpMaker::for_device(phone);
    let answer = phone
        .push(&sync_protocol::PushRequest {
            ops: vec![ops.set(
                "visits",
                sync_protocol::RecordId::generate(),
                A,
                json!({"form": "water_visit", "form_version": 1, "facility": "A-WATER",
                       "captured_at": "2025-06-04T10:20:00+06:00",
                       "supply_hours": 12, "water_clear": true, "households_served_share": 70}),
            )],
        })
        .await;
    assert_eq!(answer.results[0].status, sync_protocol::OpStatus::Rejected);
    assert_eq!(
        answer.results[0].code.as_ref().map(|c| c.as_str()),
        Some("form_closed")
    );
    // A submission without its XML part.
    let mut body = Vec::new();
    body.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"a.jpg\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\nxx\r\n--{BOUNDARY}--\r\n").as_bytes());
    let (status, text) = post(&server, &submission, body).await;
    expect(status, &text, 400, "missing_xml_submission_file");
    // An instanceID no phone makes.
    let long_id = format!("uuid:{}", "a".repeat(300));
    let (status, text) = post(&server, &submission, multipart(&good(&long_id), &[], false)).await;
    expect(status, &text, 400, "bad_instance");
    assert!(
        server
            .storage
            .openrosa_instance(&long_id)
            .await
            .unwrap()
            .is_none()
    );
    // Two instances in one POST, and two different files under one name.
    let mut body = multipart(&good("uuid:twice"), &[], false);
    let second = multipart(&good("uuid:twice-b"), &[], false);
    body.truncate(body.len() - format!("--{BOUNDARY}--\r\n").len());
    body.extend_from_slice(&second);
    let (status, text) = post(&server, &submission, body).await;
    expect(status, &text, 400, "duplicate_xml_submission_file");
    nothing_kept("uuid:twice").await;
    nothing_kept("uuid:twice-b").await;
    let (status, text) = post(
        &server,
        &submission,
        multipart(
            &good("uuid:samename"),
            &[
                ("1764500000000.jpg", "image/jpeg", b"one"),
                ("1764500000000.jpg", "image/jpeg", b"two"),
            ],
            false,
        ),
    )
    .await;
    expect(status, &text, 400, "duplicate_attachment");
    nothing_kept("uuid:samename").await;
    // An attachment that is not an image: refused, and no record made.
    let (status, text) = post(
        &server,
        &submission,
        multipart(
            &good("uuid:notimage"),
            &[(
                "1764500000000.jpg",
                "image/jpeg",
                b"%PDF-1.4 not a photo at all",
            )],
            false,
        ),
    )
    .await;
    expect(status, &text, 400, "attachment_not_image");
    nothing_kept("uuid:notimage").await;
    // A body over the advertised maximum.
    let big = vec![0xffu8; 400_000];
    let (status, text) = post(
        &server,
        &submission,
        multipart(
            &good("uuid:big"),
            &[("1764500000000.jpg", "image/jpeg", &big)],
            false,
        ),
    )
    .await;
    expect(status, &text, 413, "body_too_large");
    nothing_kept("uuid:big").await;

    // Nothing of these reached the records, and the server still takes a good one.
    let before = server.storage.submission_statuses(A).await.unwrap().len();
    let (status, text) = post(
        &server,
        &submission,
        multipart(&good("uuid:fine"), &[], false),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    // Review statuses are part of the projection, which follows the batch within a run.
    let mut after = 0;
    for _ in 0..100 {
        after = server.storage.submission_statuses(A).await.unwrap().len();
        if after > before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(after, before + 1);

    // An answer the form refuses is kept, in quarantine and with the instance, and explained.
    let quarantined = server
        .storage
        .count(jmet::storage::SyncTable::Quarantine)
        .await
        .unwrap();
    let wrong = water_instance("uuid:wrong", None, 99, "A-WATER");
    let (status, text) = post(&server, &submission, multipart(&wrong, &[], false)).await;
    expect(status, &text, 400, "rejected");
    assert_eq!(
        server
            .storage
            .count(jmet::storage::SyncTable::Quarantine)
            .await
            .unwrap(),
        quarantined + 1
    );
    assert!(text.contains("supply_hours"), "{text}");
    let kept = server
        .storage
        .openrosa_instance("uuid:wrong")
        .await
        .unwrap()
        .unwrap();
    assert!(kept.outcome.starts_with("rejected"), "{}", kept.outcome);
    assert!(kept.xml.contains("<supply_hours>99</supply_hours>"));
}

#[test]
fn xlsform_errors_name_the_sheet_row_and_column() {
    // The fixture, with its hours constraint made one this server cannot check.
    let mut book = rust_xlsxwriter::Workbook::new();
    let survey = book.add_worksheet().set_name("survey").unwrap();
    for (c, h) in ["type", "name", "label", "constraint"].iter().enumerate() {
        survey.write_string(0, c as u16, *h).unwrap();
    }
    let rows = [
        [
            "select_one_from_file facilities.csv",
            "facility",
            "Facility",
            "",
        ],
        ["integer", "supply_hours", "Hours", "regex(., '^[0-9]+$')"],
    ];
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            survey.write_string(r as u32 + 1, c as u16, *v).unwrap();
        }
    }
    let settings = book.add_worksheet().set_name("settings").unwrap();
    for (c, (h, v)) in [
        ("form_id", "water_check"),
        ("version", "3"),
        ("form_title", "Check"),
    ]
    .iter()
    .enumerate()
    {
        settings.write_string(0, c as u16, *h).unwrap();
        settings.write_string(1, c as u16, *v).unwrap();
    }
    let bytes = book.save_to_buffer().unwrap();
    let e = jmet::xlsform::read(&bytes).unwrap_err();
    assert_eq!(e.at.sheet, "survey");
    assert_eq!(e.at.row, 3);
    assert_eq!(e.at.column, Some(("D".to_owned(), "constraint".to_owned())));
    assert!(
        e.to_string()
            .starts_with("sheet \"survey\", row 3, column D (constraint): "),
        "{e}"
    );

    // A survey of the given rows under type, name, label, with minimal settings.
    let workbook = |rows: &[[&str; 3]]| {
        let mut book = rust_xlsxwriter::Workbook::new();
        let survey = book.add_worksheet().set_name("survey").unwrap();
        for (r, row) in [["type", "name", "label"]].iter().chain(rows).enumerate() {
            for (c, v) in row.iter().enumerate() {
                survey.write_string(r as u32, c as u16, *v).unwrap();
            }
        }
        let settings = book.add_worksheet().set_name("settings").unwrap();
        for (c, (h, v)) in [("form_id", "probe"), ("version", "1"), ("form_title", "P")]
            .iter()
            .enumerate()
        {
            settings.write_string(0, c as u16, *h).unwrap();
            settings.write_string(1, c as u16, *v).unwrap();
        }
        book.save_to_buffer().unwrap()
    };
    let located = |rows: &[[&str; 3]]| {
        let e = jmet::xlsform::read(&workbook(rows)).unwrap_err();
        (
            e.at.sheet.clone(),
            e.at.row,
            e.at.column.map(|(letters, _)| letters),
        )
    };
    let survey_cell = |row: u32, column: &str| ("survey".to_owned(), row, Some(column.to_owned()));
    assert!(jmet::xlsform::read(&workbook(&[["integer", "a", "A"]])).is_ok());
    // A name that cannot be a field, at its own cell rather than the settings.
    assert_eq!(
        located(&[["integer", "a", "A"], ["integer", "bad name", "B"]]),
        survey_cell(3, "B")
    );
    // Groups that do not pair up.
    assert_eq!(
        located(&[["begin_group", "g", "G"], ["integer", "a", "A"]]),
        survey_cell(2, "A")
    );
    assert_eq!(
        located(&[["integer", "a", "A"], ["end_group", "", ""]]),
        survey_cell(3, "A")
    );
    assert!(
        jmet::xlsform::read(&workbook(&[
            ["begin_group", "g", "G"],
            ["integer", "a", "A"],
            ["end_group", "", ""],
        ]))
        .is_ok()
    );
    // No questions at all.
    assert_eq!(located(&[]), ("survey".to_owned(), 1, None));

    // A file that is no workbook at all is said to be one, without a sheet or row to name.
    let e = jmet::xlsform::read(b"name,label\nfacility,Facility\n").unwrap_err();
    assert!(e.to_string().starts_with("not an .xlsx workbook"), "{e}");

    // An unknown choice list names the type cell.
    let imported = jmet::xlsform::read(WATER_V2).unwrap();
    assert_eq!(imported.form.id.as_str(), "water_visit");
    assert_eq!(imported.form.version, 2);
    let keys: Vec<&str> = imported
        .form
        .questions
        .iter()
        .map(|q| q.key.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "supply_hours",
            "water_clear",
            "households_served_share",
            "access_road_ok",
            "problems",
            "photo",
            "notes"
        ]
    );
    assert_eq!(imported.form.questions[1].kind.type_name(), "boolean");
    assert_eq!(
        imported.form.title.ky,
        "Мониторинг: суу менен камсыздоо объектиси"
    );
}
