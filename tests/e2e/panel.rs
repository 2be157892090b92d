//! The public monitoring panel in a real browser (headless Chromium), without signing in: choose
//! a municipality, see its indicators with their charts and the facility map, switch the
//! language, and find no personal data on the page. Screenshots go to `target/artefacts/`.
//!
//! UI, not storage: it runs on SQLite; `open_data` checks the same data on both backends.

use std::time::Duration;

use crate::browser::Browser;
use crate::harness::{Backend, TestServer};
use crate::open_data::{M, demo_with_a_private_note};

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn anyone_reads_a_municipality_panel_in_the_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start(Backend::Sqlite).await;
    let (private, _) = demo_with_a_private_note(&server).await;
    let url = server.url.clone();

    // No login: the chooser lists oblasts, rayons and municipalities.
    browser.goto(&format!("{url}/panel?lang=en")).await;
    browser.wait_for("form.chooser select#m", WAIT).await;
    browser
        .click(&format!("a.municipality[href='/panel/{M}']"))
        .await;
    browser.wait_for("#indicators table.indicators", WAIT).await;
    assert!(
        browser
            .current_url()
            .await
            .ends_with(&format!("/panel/{M}"))
    );
    let html = browser.html().await;
    assert!(html.contains("Households with piped water"));
    let charts = html.matches(r#"class="trend""#).count();
    assert!(charts >= 10, "a trend chart per indicator, got {charts}");
    let dots = html.matches("map-facility state-").count();
    assert_eq!(dots, 10, "every facility on the map");
    for p in &private {
        assert!(!html.contains(p.as_str()), "the page shows {p:?}");
    }
    // The chart is drawn, not an empty box.
    let chart = browser.find("svg.trend path.line").await;
    assert!(chart.attr("d").await.unwrap().is_some_and(|d| d.len() > 10));
    browser.screenshot("panel-en").await;

    // Switching the language keeps the page and the choice.
    browser.click("a[hreflang='ru']").await;
    browser.wait_for("html[lang='ru']", WAIT).await;
    assert!(browser.current_url().await.contains(&format!("/panel/{M}")));
    let ru = browser.html().await;
    assert!(ru.contains("Индикаторы плана МиО") && ru.contains("Доля домохозяйств с водопроводом"));
    assert!(ru.contains(r#"class="trend""#) && ru.contains(r#"class="facility-map""#));
    browser.click("a[hreflang='ky']").await;
    browser.wait_for("html[lang='ky']", WAIT).await;
    assert!(browser.html().await.contains("МжБ планынын индикаторлору"));
    browser.screenshot("panel-ky").await;
    browser.close().await;
}
