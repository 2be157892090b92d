//! The review console in a real browser (headless Chromium): a supervisor signs in, opens the
//! queue, opens a flagged visit, sees its photo and flags, sends it back with a comment, and the
//! member's phone then pulls the comment and the status. Screenshots of the queue and of the
//! submission page are saved as artefacts (`target/artefacts/`).
//!
//! UI, not storage: it runs on the default backend (SQLite); the same use cases run on both
//! backends in `review`.

use std::time::Duration;

use serde_json::json;
use sync_protocol::review::ReviewStatus;
use sync_protocol::{Collection, Store};

use crate::browser::Browser;
use crate::evidence::{AT_THE_WELL, photo, put, sha, visit_with_photo};
use crate::harness::Backend;
use crate::indicators::setup;
use crate::review::phone_status;
use crate::world::PASSWORD;

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_supervisor_sends_back_a_flagged_visit_in_the_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let mut s = setup(Backend::Sqlite).await;
    let url = s.server.url.clone();
    // A visit reported 14 km from its facility, with a photo taken at the facility.
    let bytes = photo(640, 480, 85, &AT_THE_WELL);
    let hash = sha(&bytes);
    let (flagged, _) = visit_with_photo(
        &s.world.phone_a,
        json!({"lat": 41.25, "lon": 74.75, "acc": 5}),
        Some(&hash),
    )
    .await;
    let uploaded = put(&s.world.phone_a, &hash, &bytes, 0, bytes.len()).await;
    assert_eq!(uploaded.status(), 201);
    let clean = s.visit("A-WATER", "2025-06-01T09:00:00", 12, true).await;

    // Not signed in: the console asks for a login, then returns to the queue.
    browser.goto(&format!("{url}/review?sort=flags")).await;
    browser.wait_for("input[name=login]", WAIT).await;
    assert!(browser.current_url().await.contains("/login?next="));
    browser.fill("input[name=login]", "supervisor").await;
    browser.fill("input[name=password]", PASSWORD).await;
    browser.click("#sign-in").await;
    browser.wait_for("#queue", WAIT).await;
    assert!(browser.current_url().await.ends_with("/review?sort=flags"));
    let rows = browser.html().await;
    assert!(rows.contains(&flagged.to_string()) && rows.contains(&clean.to_string()));
    // Sorted by flags, the flagged visit comes first and shows how many it has.
    let first = browser.find("#queue tbody tr.row").await;
    let first_href = first.attr("data-href").await.unwrap().unwrap();
    assert!(first_href.contains(&flagged.to_string()), "{first_href}");
    let second_href = browser
        .find("#queue tbody tr.row:nth-child(2)")
        .await
        .attr("data-href")
        .await
        .unwrap()
        .unwrap();
    let count = browser.text_of("#queue tbody tr.row .flag-count").await;
    assert!(count.parse::<u32>().unwrap() >= 2, "{count}");
    browser.screenshot("review-queue").await;

    // Keyboard: j moves down a row, k back up, Enter opens the current one.
    browser.press_key("j").await;
    browser.press_key("k").await;
    browser.press_key("\u{E007}").await;
    browser.wait_for("#flags", WAIT).await;
    assert!(browser.current_url().await.contains(&flagged.to_string()));

    // The page shows the photo (loaded, not a broken link) and each flag with what was measured.
    // Images load after the page: wait for the thumbnail rather than race it.
    let mut width = 0;
    for _ in 0..100 {
        let loaded = browser
            .client
            .execute(
                "const img = document.querySelector('#photos img'); return img && img.complete ? img.naturalWidth : 0;",
                vec![],
            )
            .await
            .unwrap();
        width = loaded.as_u64().unwrap_or(0);
        if width > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(width, 320, "the thumbnail (320 px wide) loaded");
    let measured = browser
        .text_of("#flags tr.flag[data-kind=far_from_facility] .measured")
        .await;
    assert!(measured.ends_with(" m"), "{measured}");
    let metres: f64 = measured.trim_end_matches(" m").parse().unwrap();
    assert!((13_000.0..15_000.0).contains(&metres), "{measured}");
    assert!(browser.html().await.contains("class=\"map-facility\""));
    assert!(browser.text_of("#status").await.len() > 2);
    // The whole page, photos and history included, in one picture.
    browser.client.set_window_size(1280, 2000).await.unwrap();
    browser.screenshot("review-submission").await;
    browser.client.set_window_size(1280, 900).await.unwrap();

    // Sending back without a comment is stopped in the page; with one, it is recorded and the
    // console moves on to the next submission of the queue.
    browser.click("#send-back").await;
    assert!(browser.current_url().await.contains(&flagged.to_string()));
    browser
        .fill("#decision-comment", "Please retake the photo at the well")
        .await;
    browser.click("#send-back").await;
    browser.wait_for("#notice", WAIT).await;
    let next_id = second_href.split('?').next().unwrap();
    assert!(browser.current_url().await.contains(next_id), "{next_id}");
    browser.screenshot("review-after-send-back").await;

    // The member's phone receives the comment and derives the status over the sync API.
    let mut store = Store::default();
    s.world.phone_a.pull_all(&mut store, None, 500).await;
    assert_eq!(
        phone_status(&store, "visits", flagged),
        ReviewStatus::HasIssues
    );
    let reviews = Collection::parse("reviews").unwrap();
    let comment = store
        .iter()
        .filter(|(c, _, _)| **c == reviews)
        .find_map(|(_, _, r)| {
            r.fields
                .iter()
                .find(|(k, _)| k.as_str() == "comment")
                .map(|(_, v)| v.value.clone())
        });
    assert_eq!(comment, Some(json!("Please retake the photo at the well")));
    assert_eq!(s.status("visits", flagged).await, "has_issues");
    browser.close().await;
}
