//! A person in a real browser: Debian's headless Chromium, driven through chromedriver, opens
//! the link of an email read back from the local inbox. The capture function answers over real
//! HTTP on loopback. Screenshots go to `target/browser/` for people to look at.
//!
//! Needs `chromium` and `chromedriver` (`make test` installs Debian's packages when missing); it
//! fails, never skips, without them.

mod support;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use nps_adapters::dynamo::DynamoResponses;
use nps_domain::request::RequestId;
use nps_domain::response::Response as SurveyResponse;
use serde_json::{Value, json};
use support::{Stack, emailed_links, purchase, stack, unique};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

/// Hands each HTTP request on `listener` to `capture`, as API Gateway would.
async fn serve(capture: Arc<capture::App>, listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { return };
        let capture = capture.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let capture = capture.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let body = body.collect().await?.to_bytes();
                    let req = lambda_http::Request::from_parts(parts, lambda_http::Body::from(body.to_vec()));
                    let (parts, body) = capture.handle(req).await.into_parts();
                    Ok::<_, hyper::Error>(hyper::Response::from_parts(parts, Full::new(Bytes::from(body.to_vec()))))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// chromedriver in its own process group; dropping it stops the driver and the browser it started.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start() -> Driver {
        let mut child = Command::new(std::env::var("NPS_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("starting chromedriver: {e}. `make test` installs Debian's chromium and chromium-driver")
            });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(port) = line.split("started successfully on port ").nth(1) {
                    return port.trim_end_matches('.').to_owned();
                }
            }
            panic!("chromedriver exited before it was ready");
        })
        .await
        .expect("chromedriver ready within 30 s");
        Driver { child, url: format!("http://127.0.0.1:{port}") }
    }

    /// A fresh headless browser the size of a phone.
    async fn browser(&self) -> Client {
        let options = json!({
            "binary": std::env::var("NPS_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=412,915", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--disable-default-apps"],
        });
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            // The whole group: chromedriver and the Chromium processes it started.
            let _ = std::process::Command::new("kill").args(["-TERM", "--", &format!("-{pid}")]).status();
        }
    }
}

struct Setup {
    stack: Stack,
    driver: Driver,
    browser: Client,
}

async fn setup(purpose: &str) -> Setup {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let links = format!("http://{}", listener.local_addr().unwrap());
    let stack = stack(purpose, &links, &[]).await;
    tokio::spawn(serve(stack.capture.clone(), listener));
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    Setup { stack, driver, browser }
}

/// A purchase for a new customer; the request id and the email's link for `score`.
async fn emailed(s: &Stack, label: &str, score: u8) -> (RequestId, String) {
    let email = unique(label);
    let answer = purchase(s, &email, &format!("order-{email}"), json!({})).await;
    assert_eq!(answer["status"], "sent", "{answer}");
    let id = RequestId::parse(answer["survey_request_id"].as_str().unwrap()).unwrap();
    (id, emailed_links(s, &email, score).await.0)
}

async fn stored(s: &Stack, id: RequestId) -> Option<SurveyResponse> {
    DynamoResponses::new(s.table.clone()).get(id).await.unwrap()
}

async fn screenshot(browser: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/browser");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), browser.screenshot().await.unwrap()).unwrap();
}

/// The value of `property` of the element at `css`, as the page's script sees it.
async fn property(browser: &Client, css: &str, property: &str) -> Value {
    let script = "return document.querySelector(arguments[0])[arguments[1]];";
    browser.execute(script, vec![json!(css), json!(property)]).await.unwrap()
}

#[tokio::test]
async fn a_person_picks_a_score_types_a_reason_and_sends_it() {
    let Setup { stack: s, driver: _driver, browser } = setup("browser-form").await;
    let (id, link) = emailed(&s, "browser-form", 6).await;

    browser.goto(&link).await.unwrap();
    assert_eq!(property(&browser, "input[name=score]:checked", "value").await, "6", "the emailed score is selected");
    browser.find(Locator::XPath("//label[input[@value='9']]")).await.unwrap().click().await.unwrap();
    let reason = "Quick delivery & friendly <b>staff</b>";
    browser.find(Locator::Id("comment")).await.unwrap().send_keys(reason).await.unwrap();
    screenshot(&browser, "answer-filled-in.png").await;
    browser.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    let thanks = browser.wait().for_element(Locator::Css("[role=status]")).await.unwrap();
    assert!(thanks.text().await.unwrap().starts_with("Thank you!"));
    screenshot(&browser, "answer-thanks.png").await;

    let answer = stored(&s, id).await.expect("a response");
    assert!(answer.confirmed());
    assert_eq!((answer.score.map(u8::from), answer.version), (Some(9), 1));
    assert_eq!(answer.comment.as_ref().map(|c| c.as_str()), Some(reason));
    browser.close().await.unwrap();
}

#[tokio::test]
async fn a_score_seen_for_two_seconds_is_kept_on_leaving_and_a_glimpse_is_not() {
    let Setup { stack: s, driver: _driver, browser } = setup("browser-leave").await;
    let (glimpsed, glimpse_link) = emailed(&s, "browser-glimpse", 4).await;
    let (seen, seen_link) = emailed(&s, "browser-seen", 8).await;

    // Open and leave at once, as a scanner that renders pages would: a click, not an answer.
    browser.goto(&glimpse_link).await.unwrap();
    browser.goto("about:blank").await.unwrap();

    // A person reads the page (the script ran: its hint is shown, so the CSP allowed it) and closes it.
    browser.goto(&seen_link).await.unwrap();
    assert_eq!(property(&browser, "#kept", "hidden").await, false, "the keep-on-leave script ran");
    screenshot(&browser, "answer-clicked.png").await;
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
    browser.close().await.unwrap();
}
