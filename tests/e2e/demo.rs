//! The demo data set loads through the real import and push paths, and what a phone of one
//! municipality then pulls is that municipality's, complete and anonymous where it must be.

use std::collections::BTreeMap;

use jmet::demo::DemoSummary;
use sync_protocol::Store;

use crate::harness::{Backend, TestServer};
use crate::on_both;

on_both!(the_demo_loads_and_each_municipality_sees_its_own);

async fn the_demo_loads_and_each_municipality_sees_its_own(backend: Backend) {
    let server = TestServer::start(backend).await;
    let storage = &server.storage;
    assert!(!jmet::demo::is_loaded(storage).await.unwrap());
    let summary = jmet::demo::load(storage, crate::harness::now_ms() as i64)
        .await
        .unwrap();
    assert_eq!(
        summary,
        DemoSummary {
            municipalities: 15,
            facilities: 150,
            indicators: 300,
            members: 90,
            visits: 3060,
            survey_responses: 2700
        }
    );
    assert!(jmet::demo::is_loaded(storage).await.unwrap());
    let territories = storage.territories().await.unwrap();
    let count = |level: &str| territories.iter().filter(|t| t.level == level).count();
    assert_eq!(
        (
            count("oblast"),
            count("rayon"),
            count("municipality"),
            count("village")
        ),
        (2, 12, 15, 45)
    );
    let naryn = territories
        .iter()
        .filter(|t| t.level == "municipality" && t.code.starts_with("KG-N-"))
        .count();
    assert_eq!(
        naryn, 5,
        "5 pilot municipalities in Naryn oblast, 10 in Osh"
    );

    let phone = server.device(&["KG-N-AB-01"]).await;
    let mut pulled = Store::default();
    phone.pull_all(&mut pulled, None, 1000).await;
    let mut per_collection: BTreeMap<String, usize> = BTreeMap::new();
    for (collection, _, state) in pulled.iter() {
        let global = collection.as_str() == "forms";
        assert_eq!(
            state.scope.as_str(),
            if global { "global" } else { "KG-N-AB-01" },
            "nothing of another municipality"
        );
        *per_collection.entry(collection.to_string()).or_default() += 1;
    }
    assert_eq!(per_collection["facilities"], 10);
    assert_eq!(
        per_collection["forms"], 5,
        "water and health visits, three survey years"
    );
    assert_eq!(
        per_collection["territories"], 4,
        "the municipality and its three villages"
    );
    assert_eq!(per_collection["survey_responses"], 180);
    assert!(per_collection["visits"] > 150);
    assert!(
        per_collection["indicators"] >= 10,
        "the approved plan's indicators"
    );
    // Survey respondents are anonymous: village, sex and age band, no names or phones.
    let allowed = [
        "form",
        "form_version",
        "captured_at",
        "village",
        "sex",
        "age_band",
        "water_satisfied",
        "attended_meeting",
        "trust_lsg",
    ];
    for (collection, _, state) in pulled.iter() {
        if collection.as_str() == "survey_responses" {
            assert!(
                state.fields.keys().all(|k| allowed.contains(&k.as_str())),
                "{:?}",
                state.fields.keys()
            );
        }
    }
    let plan = storage
        .plan(&"KG-N-AB-01".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(plan.status, "approved");
    // The demo's supervisors reviewed most submissions and the AO entered its values: every
    // indicator of the plan has an official actual for 2025, and the survey has three years.
    let m = "KG-N-AB-01".parse().unwrap();
    let view = jmet::series::tables::View {
        provisional: true,
        delegated_only: false,
    };
    let year = "2025".parse().unwrap();
    let table = jmet::series::tables::plan_vs_fact(
        storage,
        &m,
        year,
        jmet::series::plan::Basis::Official,
        view,
    )
    .await
    .unwrap();
    assert_eq!(table.rows.len(), plan.indicators.len());
    for row in &table.rows {
        assert!(row.actual.is_some(), "{} has no 2025 value", row.indicator);
        assert_ne!(
            row.status,
            jmet::series::plan::Status::NoData,
            "{}",
            row.indicator
        );
    }
    let survey = jmet::series::tables::survey(
        storage,
        &m,
        "resident_survey",
        jmet::series::plan::Basis::Official,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(survey.results.respondents.len(), 3);
    let statuses = storage.submission_statuses("KG-N-AB-01").await.unwrap();
    for status in ["approved", "has_issues", "rejected", "received"] {
        assert!(
            statuses.iter().any(|(_, _, s)| s.as_str() == status),
            "no demo submission is {status}"
        );
    }
    // The review queue of the demo's supervisor has flagged visits waiting, with their members.
    let queue = storage
        .review_queue(&jmet::review::queue::QueueQuery {
            visible: Some(vec!["KG-N-AB-01".into()]),
            municipality: None,
            form: None,
            facility: None,
            member: None,
            status: jmet::review::queue::StatusFilter::ToReview,
            flag: jmet::review::queue::FlagFilter::Flagged,
            from: None,
            to: None,
            sort: jmet::review::queue::Sort::Flags,
            page: 1,
        })
        .await
        .unwrap();
    assert!(
        queue.total > 0,
        "the demo has flagged visits waiting for review"
    );
    assert!(
        queue
            .rows
            .iter()
            .all(|r| r.flags > 0 && r.member_name.is_some())
    );
    assert!(matches!(
        storage.verify_audit().await.unwrap(),
        jmet::storage::AuditReport::Intact { .. }
    ));
    server.stop().await;
}
