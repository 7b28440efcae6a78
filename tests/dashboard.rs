//! `GET /dashboard` against DynamoDB Local, on a month of answers given through the real trigger
//! and capture functions and folded by the real aggregator: staff sign in with an API key in
//! headless Chromium the size of a phone, filter, and read the same numbers as `/v1/metrics`;
//! markup in comments and segment values shows as text. Screenshots go to `target/browser/`.
//! The handler-level test pins the sign-in rules and the 4xx answers.

use crate::support;

use fantoccini::{Client, Locator};
use lambda_http::Body;
use lambda_http::http::{Method, Request, StatusCode};
use nps_adapters::dynamo::{DynamoApiKeys, DynamoRollups, Scope};
use nps_aggregation::Aggregator;
use nps_domain::Timestamp;
use serde_json::{Value, json};
use support::browser::{Driver, assert_accessible, screenshot, serve};
use support::{Stack, answer_at, enps_survey, stack};
use tokio::net::TcpListener;

const LINKS: &str = "https://nps.example";
const DAY: i64 = 86_400;
const PRODUCTS: [&str; 3] = ["boots", "tents", "<i>stoves</i>"];
const MARKUP: &str = "<img src=x onerror=alert(1)><b>Loud</b> & \"clear\"";

/// Today at noon (UTC): every seeded answer falls on the day meant, whatever the time of the run.
fn noon_today() -> Timestamp {
    let now = Timestamp::now().unix();
    Timestamp::from_unix(now - now % DAY + DAY / 2)
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn fold(s: &Stack) {
    support::aggregate(&s.table, &Aggregator::new(DynamoRollups::new(s.table.clone())), Timestamp::now()).await;
}

/// A call to the api function at `now`, as API Gateway hands it over.
fn call(method: Method, uri: &str, headers: &[(&str, &str)], body: &str) -> Request<Body> {
    let mut req = Request::builder().method(method).uri(format!("http://127.0.0.1{uri}"));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.body(Body::from(body.to_owned())).unwrap()
}

async fn metrics(app: &api::App, key: &str, query: &str, now: Timestamp) -> Value {
    let auth = format!("Bearer {key}");
    let answer =
        app.handle_at(call(Method::GET, &format!("/v1/metrics?{query}"), &[("authorization", &auth)], ""), now).await;
    assert_eq!(answer.status(), StatusCode::OK);
    serde_json::from_slice(answer.body().as_ref()).unwrap()
}

async fn text(browser: &Client, css: &str) -> String {
    browser.find(Locator::Css(css)).await.unwrap().text().await.unwrap()
}

async fn count(browser: &Client, css: &str) -> usize {
    browser.find_all(Locator::Css(css)).await.unwrap().len()
}

async fn apply(browser: &Client, filters: &[(&str, &str)]) {
    for (name, value) in filters {
        let select = browser.find(Locator::Css(&format!("form.filters select[name={name}]"))).await.unwrap();
        select.select_by_value(value).await.unwrap();
    }
    let before = browser.current_url().await.unwrap();
    browser.find(Locator::Css("form.filters button[type=submit]")).await.unwrap().click().await.unwrap();
    for _ in 0..200 {
        if browser.current_url().await.unwrap() != before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    browser.wait().for_element(Locator::Css("svg.trend")).await.unwrap();
}

#[tokio::test]
async fn staff_sign_in_on_a_phone_and_read_the_numbers_of_the_metrics_api() {
    let now = noon_today();
    let s = stack("dashboard", LINKS, &["product"]).await;
    // An answer a day for 31 days (two on every fifth), over three products, most with a comment.
    let scores = [10, 9, 3, 8, 10, 6, 9, 0, 7, 10, 9];
    for d in 0..31 {
        for extra in 0..(1 + usize::from(d % 5 == 0)) {
            let i = d as usize * 2 + extra;
            let at = Timestamp::from_unix(now.unix() - d * DAY - 3 * 3600 + extra as i64 * 60);
            let score = scores[i % scores.len()];
            let comment = if i == 4 { MARKUP.to_owned() } else { format!("Answer number {i}") };
            let form = format!("score={score}&comment={}", encode(&comment));
            let fields =
                json!({"properties": {"product": PRODUCTS[i % 3], "amount": format!("{i}.50"), "currency": "USD"}});
            answer_at(&s, &format!("dash{i}"), fields, at, &form).await;
        }
    }
    fold(&s).await;
    let keys = DynamoApiKeys::new(s.table.clone());
    let (_, key) = keys.create(Scope::Read, "dashboard test", now).await.unwrap();
    let app = std::sync::Arc::new(s.api());

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let served = app.clone();
    tokio::spawn(serve(
        move |req| {
            let app = served.clone();
            async move { app.handle_at(req, now).await }
        },
        listener,
    ));
    let driver = Driver::start().await;
    let browser = driver.browser().await;

    // Signed out: the sign-in form. A wrong key is refused; the right one opens the page.
    browser.goto(&format!("{base}/dashboard")).await.unwrap();
    let field = browser.find(Locator::Css("input[name=key]")).await.unwrap();
    field.send_keys("nps_0123456789abcdef_0123456789abcdef0123456789abcdef").await.unwrap();
    browser.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    let refusal = browser.wait().for_element(Locator::Css("[role=alert]")).await.unwrap();
    assert_eq!(refusal.text().await.unwrap(), "Unknown or revoked API key.");
    screenshot(&browser, "dashboard-sign-in.png").await;
    browser.find(Locator::Css("input[name=key]")).await.unwrap().send_keys(&key).await.unwrap();
    browser.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    browser.wait().for_element(Locator::Css("svg.trend")).await.unwrap();
    let cookies = browser.get_all_cookies().await.unwrap();
    let session = cookies.iter().find(|c| c.name() == "nps_session").expect("a session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(format!("{:?}", session.same_site()), "Some(Strict)");
    assert_ne!(session.secure(), Some(true), "plain HTTP on loopback");
    assert!(!session.value().contains(&key[21..]), "the cookie does not hold the key's secret");

    // The last 30 days by day, broken down by product.
    apply(&browser, &[("range", "30"), ("group_by", "product")]).await;
    assert!(browser.current_url().await.unwrap().query().unwrap().contains("range=30"));
    let range = format!("survey=default&since={}&until={}", day(now, 29), day(now, 0));
    let want = metrics(&app, &key, &format!("{range}&granularity=day"), now).await;
    assert_eq!(want["series"].as_array().unwrap().len(), 30);
    assert!(want["series"].as_array().unwrap().iter().all(|b| b["n"].as_u64().unwrap() > 0), "an answer every day");
    assert_eq!(count(&browser, "svg.trend circle.point").await, 30, "a point per bucket");
    assert_eq!(count(&browser, "svg.trend path.band").await, 1, "one band over the whole range");
    assert_eq!(count(&browser, "svg.trend path.line").await, 1);
    assert_eq!(text(&browser, ".score").await, want["nps_rounded"].to_string());
    assert_eq!(text(&browser, ".answers").await, want["n"].to_string());
    let band = browser.find(Locator::Css("svg.trend path.band")).await.unwrap().attr("d").await.unwrap().unwrap();
    assert_eq!(band.matches('L').count(), 59, "the band runs along 30 upper and back along 30 lower ends");

    // The breakdown equals /v1/metrics' groups; the value with markup is text.
    let groups = metrics(&app, &key, &format!("{range}&group_by=product"), now).await;
    let rows = browser.find_all(Locator::Css("section.breakdown tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 3);
    for (row, group) in rows.iter().zip(groups["groups"].as_array().unwrap()) {
        let cells = row.find_all(Locator::Css("td")).await.unwrap();
        assert_eq!(cells[0].text().await.unwrap(), group["value"].as_str().unwrap());
        assert_eq!(cells[2].text().await.unwrap(), group["nps_rounded"].to_string());
    }
    assert_eq!(count(&browser, "section.breakdown i").await, 0, "<i>stoves</i> is a name, not markup");

    // What the answers are worth, beside the score and in each group: /v1/metrics?weight=amount.
    let worth = metrics(&app, &key, &format!("{range}&weight=amount&group_by=product"), now).await;
    let usd = &worth["weighted"][0];
    assert_eq!((usd["currency"].as_str(), worth["weighted"].as_array().unwrap().len()), (Some("usd"), 1));
    let cells = futures_text(&browser.find_all(Locator::Css(".worth tbody td")).await.unwrap()).await;
    assert_eq!(cells[0], "USD");
    assert_eq!(cells[1], usd["nps_rounded"].to_string());
    assert_eq!(cells[3], money(usd["revenue_at_risk"].as_f64().unwrap()));
    assert_eq!(cells[4], money(usd["revenue_promoting"].as_f64().unwrap()));
    assert!(usd["revenue_at_risk"].as_f64().unwrap() > 0.0, "{usd}");
    let risks = futures_text(&browser.find_all(Locator::Css("section.breakdown td.at-risk")).await.unwrap()).await;
    let want: Vec<String> = worth["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| format!("{} USD", money(g["weighted"][0]["revenue_at_risk"].as_f64().unwrap())))
        .collect();
    assert_eq!(risks, want);

    // The latest comments, newest first; markup shows as text and runs nothing.
    let comments = browser.find_all(Locator::Css("ul.comments li .comment")).await.unwrap();
    assert_eq!(comments.len(), 10);
    assert_eq!(comments[0].text().await.unwrap(), "Answer number 1", "today's answer first");
    let all: Vec<String> = futures_text(&comments).await;
    assert!(all.contains(&MARKUP.to_owned()), "{all:?}");
    assert_eq!(count(&browser, "ul.comments img, ul.comments b").await, 0);

    // Usable on a phone: nothing wider than the screen.
    let fits =
        browser.execute("return document.documentElement.scrollWidth <= window.innerWidth;", vec![]).await.unwrap();
    assert_eq!(fits, json!(true), "no horizontal scrolling at 412 px");
    let height = browser.execute("return document.documentElement.scrollHeight;", vec![]).await.unwrap();
    browser.set_window_size(412, height.as_u64().unwrap() as u32 + 100).await.unwrap();
    screenshot(&browser, "dashboard.png").await;
    browser.set_window_size(412, 915).await.unwrap();
    assert_accessible(&browser, "the dashboard").await;

    // A segment: the headline follows it, its row is marked, comments are of that product only.
    apply(&browser, &[("segment", "product:boots")]).await;
    let boots = metrics(&app, &key, &format!("{range}&segment.product=boots&compare=previous_period"), now).await;
    assert_eq!(text(&browser, ".score").await, boots["nps_rounded"].to_string());
    assert_eq!(text(&browser, "tr[aria-current] td").await, "boots");
    let headline = text(&browser, "section.headline").await;
    assert_eq!(boots["comparison"]["significant"], json!(true), "the z test alone, on 2 earlier answers");
    assert!(headline.contains("too few answers to judge the change"), "{headline}");
    for context in futures_text(&browser.find_all(Locator::Css("ul.comments li .muted")).await.unwrap()).await {
        assert!(context.ends_with("product: boots"), "{context}");
    }
    screenshot(&browser, "dashboard-segment.png").await;
    assert_accessible(&browser, "the dashboard with a segment").await;

    // Signing out ends the session.
    browser.find(Locator::Css("header button[type=submit]")).await.unwrap().click().await.unwrap();
    browser.wait().for_element(Locator::Css("input[name=key]")).await.unwrap();
    assert_accessible(&browser, "the sign-in page").await;
    assert!(browser.get_all_cookies().await.unwrap().iter().all(|c| c.name() != "nps_session"));
    browser.close().await.unwrap();
}

/// `YYYY-MM-DD`, `days` before `now`.
/// `1,234.50`, as the dashboard writes amounts.
fn money(v: f64) -> String {
    let text = format!("{v:.2}");
    let (whole, cents) = text.split_once('.').unwrap();
    let digits: Vec<char> = whole.chars().collect();
    let groups: Vec<String> = digits.rchunks(3).rev().map(|c| c.iter().collect()).collect();
    format!("{}.{cents}", groups.join(","))
}

fn day(now: Timestamp, days: i64) -> String {
    Timestamp::from_unix(now.unix() - days * DAY).to_rfc3339()[..10].to_owned()
}

async fn futures_text(elements: &[fantoccini::elements::Element]) -> Vec<String> {
    let mut out = Vec::new();
    for e in elements {
        out.push(e.text().await.unwrap());
    }
    out
}

fn header<'a>(answer: &'a lambda_http::Response<Body>, name: &str) -> &'a str {
    answer.headers().get(name).map_or("", |v| v.to_str().unwrap())
}

fn body(answer: &lambda_http::Response<Body>) -> String {
    String::from_utf8(answer.body().to_vec()).unwrap()
}

#[tokio::test]
async fn sign_in_is_checked_sessions_end_and_bad_filters_get_a_4xx() {
    let now = noon_today();
    let s = stack("dashboard-rules", LINKS, &["product"]).await;
    enps_survey(&s, "staff", &["team"]).await;
    // Five eNPS answers: three from a team too small to show on its own.
    for i in 0..5 {
        let team = if i < 3 { "tiny" } else { "big" };
        let fields = json!({"survey": "staff", "properties": {"team": team}});
        let form = format!("score=3&comment={}", encode(&format!("The on-call rota is unfair, says {team}")));
        answer_at(&s, &format!("staff{i}"), fields, Timestamp::from_unix(now.unix() - DAY - i * 60), &form).await;
    }
    fold(&s).await;
    let keys = DynamoApiKeys::new(s.table.clone());
    let (_, key) = keys.create(Scope::Read, "rules", now).await.unwrap();
    let app = s.api();
    let form = "application/x-www-form-urlencoded";
    let deployed = [("host", "abc.execute-api.eu-west-1.amazonaws.com"), ("content-type", form)];

    let signed_out = app.handle_at(call(Method::GET, "/dashboard?range=7", &[], ""), now).await;
    assert_eq!(signed_out.status(), StatusCode::OK);
    assert!(body(&signed_out).contains("name=\"key\""));
    assert!(header(&signed_out, "content-security-policy").starts_with("default-src 'none'"));
    assert_eq!(header(&signed_out, "content-type"), "text/html; charset=utf-8");

    // Sign in: behind API Gateway the cookie is Secure; back to the page with its filters.
    let sign_in = format!("action=sign-in&key={key}");
    // Login CSRF: another site's page posting our form (with the attacker's key) is refused.
    let evil = [("host", deployed[0].1), ("content-type", form), ("origin", "https://evil.example")];
    let refused = app.handle_at(call(Method::POST, "/Prod/dashboard", &evil, &sign_in), now).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(&refused, "set-cookie"), "", "no session for a cross-site form");
    let answer = app.handle_at(call(Method::POST, "/Prod/dashboard?range=7", &deployed, &sign_in), now).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&answer, "location"), "dashboard?range=7", "relative: /Prod/dashboard?range=7 in a browser");
    let cookie = header(&answer, "set-cookie");
    assert!(
        cookie.starts_with("nps_session=") && cookie.ends_with("; Max-Age=43200; HttpOnly; SameSite=Strict; Secure"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_owned();
    let with_session = |uri: &str| call(Method::GET, uri, &[("cookie", session.as_str())], "");

    let page = app.handle_at(with_session("/dashboard?survey=staff&range=7"), now).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = body(&page);
    assert!(html.contains("svg class=\"trend\""));
    // eNPS: this month has not settled, so nothing of it is shown, nor its comments (the rules are
    // tried in tests/enps_anonymity.rs).
    for uri in ["/dashboard?survey=staff&range=7", "/dashboard?survey=staff&range=7&segment=team%3Atiny"] {
        let html = body(&app.handle_at(with_session(uri), now).await);
        assert!(html.contains("Withheld: eNPS figures count settled months"), "{html}");
        assert!(!html.contains("The on-call rota is unfair"), "{html}");
        assert!(!html.contains("data-nps="));
    }

    // Bad filters: a 4xx page naming the parameter.
    for (uri, status, says) in [
        ("/dashboard?range=14", StatusCode::BAD_REQUEST, "range:"),
        ("/dashboard?survey=nope", StatusCode::BAD_REQUEST, "survey: no such survey"),
        ("/dashboard?segment=product", StatusCode::BAD_REQUEST, "segment:"),
        ("/dashboard?key=x", StatusCode::BAD_REQUEST, "key: is not a filter"),
    ] {
        let answer = app.handle_at(with_session(uri), now).await;
        assert_eq!(answer.status(), status, "{uri}");
        assert!(body(&answer).contains(says), "{uri}: {}", body(&answer));
        assert_eq!(header(&answer, "content-type"), "text/html; charset=utf-8");
    }
    // A segment another survey has is dropped, and said.
    let note = body(&app.handle_at(with_session("/dashboard?survey=default&segment=team%3Atiny"), now).await);
    assert!(note.contains("Survey default has no segment team: showing all answers."));

    // Bad sign-ins.
    let local = [("host", "127.0.0.1:9000"), ("content-type", form)];
    for (headers, body_text, status) in [
        (
            &local[..],
            "action=sign-in&key=nps_0123456789abcdef_0123456789abcdef0123456789abcdef",
            StatusCode::UNAUTHORIZED,
        ),
        (&local[..], "key=x", StatusCode::BAD_REQUEST),
        (&local[..], "action=sign-out&theme=dark", StatusCode::BAD_REQUEST),
        (&local[..], "action=sign-out&action=sign-in", StatusCode::BAD_REQUEST),
        (&local[..], &format!("action=sign-out&key={}", "k".repeat(201)), StatusCode::BAD_REQUEST),
        (&local[..], &"action=sign-in&key=".repeat(1000), StatusCode::PAYLOAD_TOO_LARGE),
        (&[("content-type", "application/json")][..], "{}", StatusCode::UNSUPPORTED_MEDIA_TYPE),
    ] {
        let answer = app.handle_at(call(Method::POST, "/dashboard", headers, body_text), now).await;
        assert_eq!(answer.status(), status, "{body_text}");
        assert!(header(&answer, "set-cookie").is_empty());
    }
    let put = app.handle_at(call(Method::PUT, "/dashboard", &[], ""), now).await;
    assert_eq!((put.status(), header(&put, "allow")), (StatusCode::METHOD_NOT_ALLOWED, "GET, POST"));

    // Sessions end after 12 hours, and at once when the key is revoked; signing out clears the cookie.
    let later = Timestamp::from_unix(now.unix() + 12 * 3600);
    let ended = app.handle_at(with_session("/dashboard"), later).await;
    assert!(body(&ended).contains("Your session has ended"));
    assert!(header(&ended, "set-cookie").contains("Max-Age=0"));
    let out = app.handle_at(call(Method::POST, "/dashboard", &local, "action=sign-out"), now).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(header(&out, "set-cookie").starts_with("nps_session=; Max-Age=0"));
    let key_id = &key[4..20];
    assert!(keys.revoke(key_id, now).await.unwrap());
    assert!(body(&app.handle_at(with_session("/dashboard"), now).await).contains("Your session has ended"));
}

#[tokio::test]
async fn a_sign_in_link_opens_a_session_once_valid_and_nothing_else() {
    let now = noon_today();
    let s = stack("dashboard-link", LINKS, &["product"]).await;
    let keys = DynamoApiKeys::new(s.table.clone());
    let (_, key) = keys.create(Scope::Read, "link", now).await.unwrap();
    let app = s.api();
    let local = [("host", "127.0.0.1:9000")];
    let get = |uri: String, cookie: Option<&str>| {
        let mut headers = local.to_vec();
        if let Some(cookie) = cookie {
            headers.push(("cookie", cookie));
        }
        call(Method::GET, &uri, &headers, "")
    };
    let link = keys.open_link(&key, Timestamp::from_unix(now.unix() + 600)).await.unwrap().unwrap();

    // The link is traded for the session cookie, and the page is reloaded without it.
    let answer = app.handle_at(get(format!("/dashboard?range=7&signin={link}"), None), now).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER, "{}", body(&answer));
    assert_eq!(header(&answer, "location"), "dashboard");
    assert_eq!(header(&answer, "referrer-policy"), "no-referrer");
    let cookie = header(&answer, "set-cookie");
    assert!(cookie.starts_with("nps_session=") && cookie.contains("Max-Age=43200; HttpOnly; SameSite=Strict"));
    let session = cookie.split(';').next().unwrap().to_owned();
    let page = app.handle_at(get("/dashboard".into(), Some(&session)), now).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(body(&page).contains("svg class=\"trend\"") && !body(&page).contains("name=\"key\""));

    // Refused, with the sign-in form and no cookie: the link used again (it works once), an ended
    // link, a forged one, a session token used as a link, a link used as the cookie, and any link
    // once its key is revoked.
    let session_token = session.trim_start_matches("nps_session=").to_owned();
    let last = if link.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &link[..link.len() - 1]);
    for (uri, at) in [
        (format!("/dashboard?signin={link}"), now),
        (format!("/dashboard?signin={link}"), Timestamp::from_unix(now.unix() + 600)),
        (format!("/dashboard?signin={forged}"), now),
        (format!("/dashboard?signin={session_token}"), now),
        ("/dashboard?signin=x".to_owned(), now),
    ] {
        let answer = app.handle_at(get(uri.clone(), None), at).await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{uri}");
        assert!(body(&answer).contains("This sign-in link has ended or is not valid"), "{uri}");
        assert!(header(&answer, "set-cookie").is_empty(), "{uri}");
    }
    let as_cookie = app.handle_at(get("/dashboard".into(), Some(&format!("nps_session={link}"))), now).await;
    assert!(body(&as_cookie).contains("Your session has ended"), "a link is not a session");
    let unused = keys.open_link(&key, Timestamp::from_unix(now.unix() + 600)).await.unwrap().unwrap();
    assert!(keys.revoke(&key[4..20], now).await.unwrap());
    let revoked = app.handle_at(get(format!("/dashboard?signin={unused}"), None), now).await;
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);
}
