//! A person in a real browser: Debian's headless Chromium, driven through chromedriver, opens
//! the link of an email read back from the local inbox. The capture function answers over real
//! HTTP on loopback (`support::browser`). Screenshots go to `target/browser/`.
//!
//! Needs `chromium` and `chromedriver` (`make test` installs Debian's packages when missing); it
//! fails, never skips, without them.

use crate::support;

use std::time::Duration;

use fantoccini::{Client, Locator};
use nps_adapters::dynamo::DynamoResponses;
use nps_domain::request::RequestId;
use nps_domain::response::Response as SurveyResponse;
use serde_json::json;
use support::browser::{Driver, assert_accessible, property, screenshot, serve};
use support::{Stack, emailed_links, purchase, stack, unique};
use tokio::net::TcpListener;

struct Setup {
    stack: Stack,
    driver: Driver,
    browser: Client,
}

async fn setup(purpose: &str) -> Setup {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let links = format!("http://{}", listener.local_addr().unwrap());
    let stack = stack(purpose, &links, &[]).await;
    let capture = stack.capture.clone();
    tokio::spawn(serve(
        move |req| {
            let capture = capture.clone();
            async move { capture.handle(req).await }
        },
        listener,
    ));
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    Setup { stack, driver, browser }
}

/// A purchase for a new customer; the request id, the email's link for `score` and its
/// unsubscribe link.
async fn emailed_with_unsubscribe(s: &Stack, label: &str, score: u8) -> (RequestId, String, String) {
    let email = unique(label);
    let answer = purchase(s, &email, &format!("order-{email}"), json!({})).await;
    assert_eq!(answer["status"], "sent", "{answer}");
    let id = RequestId::parse(answer["survey_request_id"].as_str().unwrap()).unwrap();
    let (link, unsubscribe) = emailed_links(s, &email, score).await;
    (id, link, unsubscribe)
}

/// A purchase for a new customer; the request id and the email's link for `score`.
async fn emailed(s: &Stack, label: &str, score: u8) -> (RequestId, String) {
    let (id, link, _) = emailed_with_unsubscribe(s, label, score).await;
    (id, link)
}

async fn stored(s: &Stack, id: RequestId) -> Option<SurveyResponse> {
    DynamoResponses::new(s.table.clone()).get(id).await.unwrap()
}

#[tokio::test]
async fn a_person_picks_a_score_types_a_reason_and_sends_it() {
    let Setup { stack: s, driver: _driver, browser } = setup("browser-form").await;
    let (id, link, unsubscribe) = emailed_with_unsubscribe(&s, "browser-form", 6).await;

    browser.goto(&link).await.unwrap();
    assert_eq!(property(&browser, "input[name=score]:checked", "value").await, "6", "the emailed score is selected");
    assert_accessible(&browser, "the response page").await;
    browser.find(Locator::XPath("//label[input[@value='9']]")).await.unwrap().click().await.unwrap();
    let reason = "Quick delivery & friendly <b>staff</b>";
    browser.find(Locator::Id("comment")).await.unwrap().send_keys(reason).await.unwrap();
    screenshot(&browser, "answer-filled-in.png").await;
    browser.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    let thanks = browser.wait().for_element(Locator::Css("[role=status]")).await.unwrap();
    assert!(thanks.text().await.unwrap().starts_with("Thank you!"));
    screenshot(&browser, "answer-thanks.png").await;
    assert_accessible(&browser, "the thank-you page").await;

    let answer = stored(&s, id).await.expect("a response");
    assert!(answer.confirmed());
    assert_eq!((answer.score.map(u8::from), answer.version), (Some(9), 1));
    assert_eq!(answer.comment.as_ref().map(|c| c.as_str()), Some(reason));

    // The unsubscribe page asks first; it too is read by every kind of reader.
    browser.goto(&unsubscribe).await.unwrap();
    browser.wait().for_element(Locator::Css("form button")).await.unwrap();
    assert_accessible(&browser, "the unsubscribe page").await;
    browser.close().await.unwrap();
}

#[tokio::test]
async fn a_score_seen_for_two_seconds_is_kept_on_leaving_and_a_glimpse_is_not() {
    let Setup { stack: s, driver: _driver, browser } = setup("browser-leave").await;
    let (glimpsed, glimpse_link) = emailed(&s, "browser-glimpse", 4).await;
    let (rendered, rendered_link) = emailed(&s, "browser-rendered", 3).await;
    let (seen, seen_link) = emailed(&s, "browser-seen", 8).await;

    // Open and leave at once, as a scanner that fetches pages would: a click, not an answer.
    browser.goto(&glimpse_link).await.unwrap();
    browser.goto("about:blank").await.unwrap();
    // Rendered for seconds, untouched, as a scanner's sandboxed browser would: not an answer either.
    browser.goto(&rendered_link).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    browser.goto("about:blank").await.unwrap();

    // A person reads the page (the script ran: its hint is shown, so the CSP allowed it), touches
    // it, and closes it.
    browser.goto(&seen_link).await.unwrap();
    assert_eq!(property(&browser, "#kept", "hidden").await, false, "the keep-on-leave script ran");
    screenshot(&browser, "answer-clicked.png").await;
    browser.find(Locator::Css("h1")).await.unwrap().click().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    browser.goto("about:blank").await.unwrap();

    let mut kept = None;
    for _ in 0..50 {
        kept = stored(&s, seen).await.filter(SurveyResponse::confirmed);
        if kept.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let kept = kept.expect("the seen score is kept when the person leaves");
    assert_eq!((kept.score.map(u8::from), kept.version, kept.comment), (Some(8), 1, None));

    let glimpse = stored(&s, glimpsed).await.expect("the click is kept as evidence");
    assert!(!glimpse.confirmed(), "a page left at once is not an answer");
    assert_eq!(glimpse.clicks.len(), 1);
    let untouched = stored(&s, rendered).await.expect("the click is kept as evidence");
    assert!(!untouched.confirmed(), "a page rendered but never touched is not an answer");
    browser.close().await.unwrap();
}
