//! The open panel and its exports over the demo data: each format parses with a standard reader,
//! its totals match the API's, every file names its audit chain position, and no member name,
//! device id or free-text answer appears anywhere. Hostile requests get clear errors.

use std::collections::BTreeMap;
use std::io::Cursor;

use calamine::{Reader, Xlsx};
use jmet::access::Role;
use serde_json::{Value, json};
use sync_protocol::RecordId;
use sync_protocol::review::ReviewStatus;

use crate::harness::{Backend, OpMaker, TestServer};
use crate::on_both;
use crate::world::{call, create_user};

pub const M: &str = "KG-N-AB-01";
const MARKER: &str = "PRIVATE-NOTE Asel Toktogulova +996555123456";

on_both!(the_panel_and_its_exports_match_the_api_and_carry_no_personal_data);

/// The demo, plus one approved visit whose free-text note must never be published. Answers the
/// strings that must not appear: member names, device ids and labels, user names, the note.
pub async fn demo_with_a_private_note(server: &TestServer) -> (Vec<String>, RecordId) {
    let storage = &server.storage;
    jmet::demo::load(storage, crate::harness::now_ms() as i64)
        .await
        .unwrap();
    let phone = server.device(&[M]).await;
    let mut ops = OpMaker::for_device(&phone);
    let id = RecordId::generate();
    let op = ops.set(
        "visits",
        id,
        M,
        json!({"form": "water_visit", "form_version": 1, "facility": "KG-N-AB-01-F01",
               "captured_at": "2026-10-20T10:00:00+06:00",
               "gps": {"lat": 41.20173, "lon": 75.75679, "acc": 6},
               "supply_hours": 14, "water_clear": true, "households_served_share": 75,
               "notes": MARKER}),
    );
    let pushed = phone
        .push(&sync_protocol::PushRequest { ops: vec![op] })
        .await;
    assert!(
        pushed
            .results
            .iter()
            .all(|r| r.status == sync_protocol::OpStatus::Applied),
        "{pushed:?}"
    );
    let supervisor = create_user(server, "open.supervisor", Role::Supervisor, &[M]).await;
    let token = storage
        .create_api_token(supervisor, "open", "test", 1)
        .await
        .unwrap()
        .token;
    let (status, body) = call(
        server,
        Some(&token),
        reqwest::Method::POST,
        &format!("/api/v1/submissions/visits/{id}/reviews"),
        Some((
            "application/json",
            json!({"decision": "approved"}).to_string(),
        )),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let mut private = vec![MARKER.to_owned(), "Toktogulova".to_owned()];
    private.push(phone.device_id.to_string());
    for t in storage.territories().await.unwrap() {
        if t.level != "municipality" {
            continue;
        }
        let scope = sync_protocol::Scope::parse(&t.code).unwrap();
        for team in storage.teams_in(&scope).await.unwrap() {
            for member in storage.team_members(team.team_id).await.unwrap() {
                private.push(member.name.clone());
                for d in storage.member_devices(member.member_id).await.unwrap() {
                    private.push(d.device_id.to_string());
                    private.extend(d.label.filter(|l| l.len() > 6));
                }
            }
        }
    }
    for (_, name, _, _) in jmet::demo::DEMO_USERS {
        private.push(name.to_owned());
    }
    assert!(private.len() > 100, "the demo has members and phones");
    (private, id)
}

fn assert_clean(what: &str, text: &str, private: &[String]) {
    for p in private {
        assert!(!text.contains(p.as_str()), "{what} contains {p:?}");
    }
}

async fn get(server: &TestServer, path: &str) -> reqwest::Response {
    server
        .http
        .get(format!("{}{path}", server.url))
        .send()
        .await
        .unwrap()
}

fn csv_rows(text: &str) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let body = text
        .strip_prefix('\u{feff}')
        .expect("CSV starts with a byte order mark");
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .cloned()
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect();
    (headers, rows)
}

fn xlsx_rows(bytes: &[u8]) -> (Vec<Vec<String>>, BTreeMap<String, String>) {
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes.to_vec())).expect("an XLSX file");
    let data = book.worksheet_range("data").expect("sheet data");
    let rows = data
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    let about = book.worksheet_range("about").expect("sheet about");
    let about = about
        .rows()
        .map(|r| (r[0].to_string(), r[1].to_string()))
        .collect();
    (rows, about)
}

fn num(text: &str) -> f64 {
    text.parse()
        .unwrap_or_else(|_| panic!("{text:?} is not a number"))
}

async fn the_panel_and_its_exports_match_the_api_and_carry_no_personal_data(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (private, marked) = demo_with_a_private_note(&server).await;
    let head = server.storage.chain_head().await.unwrap();

    // The panel: the chooser lists the municipality; its page shows indicators, charts, the map.
    let chooser = get(&server, "/panel?lang=en").await;
    assert_eq!(chooser.status(), 200);
    let chooser = chooser.text().await.unwrap();
    assert!(chooser.contains(&format!("/panel/{M}")) && chooser.contains("Naryn"));
    let page = get(&server, &format!("/panel/{M}?lang=en&year=2026")).await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    let html = page.text().await.unwrap();
    for needle in [
        "Households with piped water",
        "Outcomes",
        r#"class="trend""#,
        r#"class="facility-map""#,
        "Resident satisfaction survey",
        "LSG scorecard",
        &format!("#{}", head.seq),
    ] {
        assert!(html.contains(needle), "the panel lacks {needle:?}");
    }
    assert!(!html.contains("<script"), "the panel works without script");
    assert_clean("the panel", &html, &private);
    let ru = get(&server, &format!("/panel/{M}?lang=ru"))
        .await
        .text()
        .await
        .unwrap();
    assert!(ru.contains("Доля домохозяйств с водопроводом") && ru.contains(r#"lang="ru""#));
    assert_clean("the Russian panel", &ru, &private);
    // An oblast lists its municipalities; an unknown code is a page saying so.
    let oblast = get(&server, "/panel/KG-N?lang=en")
        .await
        .text()
        .await
        .unwrap();
    assert!(oblast.contains(&format!("/panel/{M}")));
    let missing = get(&server, "/panel/KG-NOPE?lang=en").await;
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("No such territory"));

    let open = format!("/api/v1/open/{M}");
    let mut fetched: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for file in [
        "indicators.csv?year=2026",
        "indicators.xlsx?year=2026",
        "indicators.json?year=2026",
        "values.csv",
        "values.xlsx",
        "values.json",
        "dhis2.json",
        "survey.csv",
        "survey.json",
        "scorecard.csv?year=2026",
        "facilities.geojson",
        "facilities.csv",
        "visits.geojson",
        "submissions.csv",
        "submissions.json",
        "panel.json?year=2026",
    ] {
        let response = get(&server, &format!("{open}/{file}")).await;
        assert_eq!(response.status(), 200, "{file}");
        let h = response.headers();
        assert_eq!(h["x-audit-seq"], head.seq.to_string().as_str(), "{file}");
        assert_eq!(h["x-audit-hash"], head.hash.as_str(), "{file}");
        let disposition = h["content-disposition"].to_str().unwrap().to_owned();
        assert!(
            disposition.contains(&format!("audit{}", head.seq)),
            "{file}: {disposition}"
        );
        let bytes = response.bytes().await.unwrap().to_vec();
        if file.contains(".xlsx") {
            let (rows, about) = xlsx_rows(&bytes);
            assert_eq!(about["audit_seq"], head.seq.to_string());
            assert_eq!(about["audit_hash"], head.hash);
            let all: String = rows.concat().join("\u{1f}");
            assert_clean(file, &all, &private);
        } else {
            assert_clean(file, std::str::from_utf8(&bytes).unwrap(), &private);
        }
        fetched.insert(file.split('?').next().unwrap().to_owned(), bytes);
    }
    let text = |f: &str| String::from_utf8(fetched[f].clone()).unwrap();
    let json_of = |f: &str| serde_json::from_slice::<Value>(&fetched[f]).unwrap();

    // Indicators: the same rows as plan versus fact from the API, in CSV, XLSX and JSON.
    let (_, api) = call(
        &server,
        None,
        reqwest::Method::GET,
        &format!("/api/v1/municipalities/{M}/plan-vs-fact?period=2026"),
        None,
    )
    .await;
    let api_rows = api["rows"].as_array().unwrap();
    assert!(api_rows.len() >= 10, "{api}");
    let (headers, rows) = csv_rows(&text("indicators.csv"));
    assert_eq!(headers.last().unwrap(), "audit_seq");
    assert_eq!(rows.len(), api_rows.len());
    for (csv_row, api_row) in rows.iter().zip(api_rows) {
        assert_eq!(csv_row["indicator"], api_row["indicator"].as_str().unwrap());
        assert_eq!(csv_row["n"], api_row["n"].to_string());
        assert_eq!(csv_row["audit_seq"], head.seq.to_string());
        match api_row["actual"].as_f64() {
            Some(a) => assert!((num(&csv_row["actual"]) - a).abs() < 1e-9),
            None => assert_eq!(csv_row["actual"], ""),
        }
    }
    let (xlsx, _) = xlsx_rows(&fetched["indicators.xlsx"]);
    assert_eq!(xlsx.len(), rows.len() + 1, "a header and the rows");
    assert_eq!(xlsx[0][3], "indicator");
    for (x, c) in xlsx[1..].iter().zip(&rows) {
        assert_eq!(x[3], c["indicator"]);
        if !c["actual"].is_empty() {
            assert!((num(&x[10]) - num(&c["actual"])).abs() < 1e-9);
        }
    }
    let indicators_json = json_of("indicators.json");
    assert_eq!(indicators_json["audit"]["seq"], head.seq);
    assert_eq!(
        indicators_json["rows"].as_array().unwrap().len(),
        rows.len()
    );

    // Values: each yearly series equals the API's; every format has them all; the DHIS2 set
    // carries the same values under its documented fields and period syntax.
    let (_, values) = csv_rows(&text("values.csv"));
    assert!(values.len() > 300, "{}", values.len());
    for row in api_rows.iter().take(6) {
        let code = row["indicator"].as_str().unwrap();
        let (_, series) = call(
            &server,
            None,
            reqwest::Method::GET,
            &format!("/api/v1/indicators/{code}/series?period=year"),
            None,
        )
        .await;
        let from_api: Vec<(String, f64)> = series["values"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| !v["official"].is_null())
            .map(|v| {
                (
                    v["period"].as_str().unwrap().to_owned(),
                    v["official"]["value"].as_f64().unwrap(),
                )
            })
            .collect();
        let from_csv: Vec<(String, f64)> = values
            .iter()
            .filter(|v| {
                v["indicator"] == code && v["period_kind"] == "year" && v["facility"].is_empty()
            })
            .map(|v| (v["period"].clone(), num(&v["value"])))
            .collect();
        assert_eq!(from_csv.len(), from_api.len(), "{code}");
        for (a, b) in from_csv.iter().zip(&from_api) {
            assert_eq!(a.0, b.0);
            assert!((a.1 - b.1).abs() < 1e-9, "{code} {a:?} {b:?}");
        }
    }
    let (values_xlsx, _) = xlsx_rows(&fetched["values.xlsx"]);
    assert_eq!(values_xlsx.len(), values.len() + 1);
    assert_eq!(
        json_of("values.json")["rows"].as_array().unwrap().len(),
        values.len()
    );
    let dhis2 = json_of("dhis2.json");
    let data_values = dhis2["dataValues"].as_array().unwrap();
    assert_eq!(data_values.len(), values.len());
    let period_ok = |p: &str| {
        let b = p.as_bytes();
        b.len() >= 4
            && b[..4].iter().all(u8::is_ascii_digit)
            && match &p[4..] {
                "" => true,
                "S1" | "S2" | "Q1" | "Q2" | "Q3" | "Q4" => true,
                m => m.len() == 2 && (1..=12).contains(&m.parse::<u8>().unwrap_or(0)),
            }
    };
    let mut csv_set: Vec<(String, String, String, String)> = values
        .iter()
        .map(|v| {
            let org = if v["facility"].is_empty() {
                M.to_owned()
            } else {
                v["facility"].clone()
            };
            (
                v["indicator"].clone(),
                v["dhis2_period"].clone(),
                org,
                format!("{:.6}", num(&v["value"])),
            )
        })
        .collect();
    let mut dhis_set: Vec<(String, String, String, String)> = data_values
        .iter()
        .map(|d| {
            let obj = d.as_object().unwrap();
            for key in obj.keys() {
                assert!(
                    ["dataElement", "period", "orgUnit", "value", "comment"]
                        .contains(&key.as_str()),
                    "{key} is not a DHIS2 data value field"
                );
            }
            let period = d["period"].as_str().unwrap();
            assert!(period_ok(period), "{period} is not DHIS2 period syntax");
            let value = d["value"].as_str().expect("DHIS2 values are strings");
            (
                d["dataElement"].as_str().unwrap().to_owned(),
                period.to_owned(),
                d["orgUnit"].as_str().unwrap().to_owned(),
                format!("{:.6}", num(value)),
            )
        })
        .collect();
    csv_set.sort();
    dhis_set.sort();
    assert_eq!(csv_set, dhis_set);

    // Survey: each year's counts add up to those who answered, and respondents match the API.
    let (_, survey_api) = call(
        &server,
        None,
        reqwest::Method::GET,
        &format!("/api/v1/municipalities/{M}/survey?form=resident_survey"),
        None,
    )
    .await;
    let (_, survey) = csv_rows(&text("survey.csv"));
    let mut by_question_year: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for r in &survey {
        let e = by_question_year
            .entry((r["question"].clone(), r["year"].clone()))
            .or_default();
        e.0 += r["count"].parse::<i64>().unwrap();
        e.1 = r["answered"].parse().unwrap();
    }
    assert!(!by_question_year.is_empty());
    for ((q, year), (sum, answered)) in &by_question_year {
        if !["select_multiple"].contains(&q.as_str()) && q != "problems" {
            assert!(*sum >= *answered, "{q} {year}: {sum} < {answered}");
        }
        if q == "sex" {
            assert_eq!(*sum, *answered);
            assert_eq!(
                survey_api["respondents"][year].as_i64(),
                Some(*answered),
                "{survey_api}"
            );
        }
    }

    // The panel counts the survey in the database rather than response by response: its years
    // and changes are the API's to the last digit.
    let panel = json_of("panel.json");
    let panel_survey = panel["surveys"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["form"] == "resident_survey"))
        .expect("the panel's survey");
    assert_eq!(panel_survey["respondents"], survey_api["respondents"]);
    let questions = |v: &Value| -> Vec<(Value, Value, Value)> {
        v["questions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| {
                (
                    q["key"].clone(),
                    q["years"].clone(),
                    q["year_over_year"].clone(),
                )
            })
            .collect()
    };
    assert!(!questions(&survey_api).is_empty(), "{survey_api}");
    assert_eq!(questions(panel_survey), questions(&survey_api));

    // Facilities and visit points are valid GeoJSON; the visits are the approved ones with a
    // position, the marked one among them.
    let facilities: geojson::GeoJson = text("facilities.geojson").parse().expect("GeoJSON");
    let geojson::GeoJson::FeatureCollection(facilities) = facilities else {
        panic!("a FeatureCollection");
    };
    assert_eq!(facilities.features.len(), 10);
    let visits_text = text("visits.geojson");
    let visits: geojson::GeoJson = visits_text.parse().expect("GeoJSON");
    let geojson::GeoJson::FeatureCollection(visits) = visits else {
        panic!("a FeatureCollection");
    };
    assert_eq!(
        json_of("visits.geojson")["audit"]["hash"],
        head.hash.as_str()
    );
    let approved: Vec<(String, String)> = server
        .storage
        .submission_statuses(M)
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, _, s)| *s == ReviewStatus::Approved)
        .map(|(c, id, _)| (c, id))
        .collect();
    let approved_visits = approved.iter().filter(|(c, _)| c == "visits").count();
    assert!(approved_visits > 100);
    assert!(visits.features.len() <= approved_visits);
    assert!(
        visits.features.len() * 10 >= approved_visits * 9,
        "most visits have a fix"
    );
    assert!(visits_text.contains(&marked.to_string()));

    // Raw submissions: every approved one, once, in CSV and JSON; closed answers kept, the note
    // and everything about who captured it left out.
    let (headers, subs) = csv_rows(&text("submissions.csv"));
    assert_eq!(subs.len(), approved.len());
    assert!(
        headers.contains(&"supply_hours".to_owned()) && headers.contains(&"trust_lsg".to_owned())
    );
    for banned in ["notes", "photo", "device_id", "member", "author", "gps"] {
        assert!(!headers.contains(&banned.to_owned()), "column {banned}");
    }
    let mine = subs
        .iter()
        .find(|r| r["record_id"] == marked.to_string())
        .unwrap();
    assert_eq!(mine["supply_hours"], "14");
    assert_eq!(mine["captured_on"], "2026-10-20");
    let surveys_with_position = subs
        .iter()
        .filter(|r| r["collection"] == "survey_responses" && !r["lat"].is_empty())
        .count();
    assert_eq!(
        surveys_with_position, 0,
        "a respondent's position is their home"
    );
    let subs_json = json_of("submissions.json");
    assert_eq!(
        subs_json["submissions"].as_array().unwrap().len(),
        approved.len()
    );
    assert_eq!(subs_json["audit"]["seq"], head.seq);

    // The panel's JSON is what the page shows.
    assert_eq!(panel["year"], 2026);
    assert_eq!(
        panel["plan"]["rows"].as_array().unwrap().len(),
        api_rows.len()
    );
    assert_eq!(panel["audit"]["seq"], head.seq);

    // The AO head's semi-annual report: a printable page and an XLSX file with the API's rows.
    let page = get(&server, &format!("/panel/{M}/report/2026-H1?lang=en")).await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("AO head's report") || page.contains("AO head&#39;s report"));
    assert!(page.contains("semi-annual report") && page.contains("Households with piped water"));
    assert_clean("the report", &page, &private);
    let (_, half) = call(
        &server,
        None,
        reqwest::Method::GET,
        &format!("/api/v1/municipalities/{M}/plan-vs-fact?period=2026-H1"),
        None,
    )
    .await;
    let half_rows = half["rows"].as_array().unwrap();
    let response = get(&server, &format!("{open}/report.xlsx?period=2026-H1")).await;
    assert_eq!(response.status(), 200);
    let bytes = response.bytes().await.unwrap().to_vec();
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).unwrap();
    assert_eq!(
        book.sheet_names(),
        ["indicators", "recommendations", "council", "about"]
    );
    let sheet = book.worksheet_range("indicators").unwrap();
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    assert_eq!(rows.len(), half_rows.len() + 1);
    for (x, api_row) in rows[1..].iter().zip(half_rows) {
        assert_eq!(x[3], api_row["indicator"].as_str().unwrap());
        assert_eq!(x[1], "2026-H1");
        match api_row["actual"].as_f64() {
            Some(a) => assert!((num(&x[10]) - a).abs() < 1e-9),
            None => assert_eq!(x[10], ""),
        }
        // A half-year is measured against its year's target.
        assert!(api_row["target"].as_f64().is_some(), "{api_row}");
    }
    let report = get(&server, &format!("{open}/report.json?period=2026")).await;
    assert_eq!(report.status(), 200);
    let report: Value = report.json().await.unwrap();
    assert_eq!(report["period"], "2026");
    assert_eq!(report["audit"]["seq"], head.seq);

    hostile_requests(&server).await;
    published_heads(&server).await;
}

async fn hostile_requests(server: &TestServer) {
    for (path, status, code) in [
        ("/api/v1/open/KG-NOPE/values.csv", 404, "not_found"),
        ("/api/v1/open/KG-N/values.csv", 404, "not_found"),
        ("/api/v1/open/KG-N-AB-01/values.exe", 404, "not_found"),
        ("/api/v1/open/KG-N-AB-01/values", 404, "not_found"),
        (
            "/api/v1/open/KG-N-AB-01/..%2F..%2Fetc%2Fpasswd",
            404,
            "not_found",
        ),
        (
            "/api/v1/open/KG-N-AB-01/indicators.csv?year=abc",
            400,
            "invalid_period",
        ),
        (
            "/api/v1/open/KG-N-AB-01/indicators.csv?year=99999",
            400,
            "invalid_period",
        ),
        ("/api/v1/open/KG-N-AB-01/indicators.csv?colour=red", 400, ""),
        ("/api/v1/open/KG-N-AB-01/report.xlsx", 400, "invalid_period"),
        (
            "/api/v1/open/KG-N-AB-01/report.xlsx?period=2026-Q1",
            400,
            "invalid_period",
        ),
        ("/api/v1/open/audit/abc", 400, "invalid_seq"),
        ("/api/v1/open/audit/99999999", 404, "not_found"),
        ("/api/v1/open/audit/heads?limit=0", 400, "invalid_limit"),
        (
            "/api/v1/open/audit/heads?until=yesterday",
            400,
            "invalid_date",
        ),
    ] {
        let (got, body) = call(server, None, reqwest::Method::GET, path, None).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{path}: {body}"
        );
        if !code.is_empty() {
            assert_eq!(body["code"], code, "{path}");
        }
    }
    let (got, _) = call(server, None, reqwest::Method::GET, "/healthz", None).await;
    assert_eq!(got, 200, "the server keeps running");
}

/// A day's head is published once and never replaced; the chain link it names is public.
async fn published_heads(server: &TestServer) {
    let storage = &server.storage;
    let first = jmet::open::heads::publish_today(storage).await.unwrap();
    assert_eq!(first.seq, storage.chain_head().await.unwrap().seq);
    // More history, then publishing again the same day changes nothing.
    let phone = server.device(&[M]).await;
    let mut ops = OpMaker::for_device(&phone);
    let op = ops.set(
        "visits",
        RecordId::generate(),
        M,
        json!({"form": "water_visit", "form_version": 1, "facility": "KG-N-AB-01-F02",
               "captured_at": "2026-11-02T10:00:00+06:00", "supply_hours": 9,
               "water_clear": false, "households_served_share": 70}),
    );
    phone
        .push(&sync_protocol::PushRequest { ops: vec![op] })
        .await;
    let again = jmet::open::heads::publish_today(storage).await.unwrap();
    assert_eq!(again, first);
    let (status, heads) = call(
        server,
        None,
        reqwest::Method::GET,
        "/api/v1/open/audit/heads",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(heads["published"][0]["seq"], first.seq);
    assert_eq!(heads["published"][0]["hash"], first.hash.as_str());
    assert!(heads["current"]["seq"].as_i64().unwrap() > first.seq);
    let (status, link) = call(
        server,
        None,
        reqwest::Method::GET,
        &format!("/api/v1/open/audit/{}", first.seq),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(link["hash"], first.hash.as_str());
    assert!(link.get("actor").is_none() && link.get("detail").is_none());
    // The panel shows the published head.
    let html = get(server, &format!("/panel/{M}?lang=en"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(&first.hash), "the panel shows the day's head");
}
