//! `/v1/responses/{id}` against DynamoDB Local: a detractor answers through the real trigger and
//! capture; support reads the answer, marks it contacted with an owner, tags and a note, and every
//! change is kept with the key's name and the time; two changes at once are both kept. A read key
//! cannot change it, an eNPS answer has no follow-up, bad bodies get a 400 naming the field, and
//! an erasure takes the follow-up (its notes may name the person) with it.

use crate::support;

use lambda_http::Body;
use lambda_http::http::{Method, Request, StatusCode};
use nps_adapters::dynamo::{DynamoApiKeys, Scope};
use nps_domain::Timestamp;
use serde_json::json;
use support::{Stack, answer_at, api_call_at as call, enps_survey, stack};

const LINKS: &str = "https://nps.example";

/// The id of the one answer of `survey`, from the responses list.
async fn answer_id(app: &api::App, key: &str, survey: &str, now: Timestamp) -> String {
    let (status, page) = call(app, Method::GET, &format!("/v1/responses?survey={survey}"), key, None, now).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["responses"][0]["id"].as_str().unwrap().to_owned()
}

async fn raw_follow_up(s: &Stack, id: &str) -> bool {
    let key = nps_adapters::dynamo::keys::ItemKey::follow_up(nps_domain::request::RequestId::parse(id).unwrap());
    let out = s
        .table
        .client()
        .get_item()
        .table_name(s.table.name())
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(key.pk))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(key.sk))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    out.item.is_some()
}

#[test]
fn a_detractor_is_followed_up_with_its_history_and_erased_with_it() {
    support::on_lambda_stack(follow_up);
}

async fn follow_up() {
    let s = stack("follow-up", LINKS, &["product"]).await;
    let now = support::day_clock();
    let email =
        answer_at(&s, "followed", json!({"properties": {"product": "stove"}}), now, "score=2&comment=Broken%20stove")
            .await;
    let keys = DynamoApiKeys::new(s.table.clone());
    let (_, write) = keys.create(Scope::Write, "support desk", now).await.unwrap();
    let (_, read) = keys.create(Scope::Read, "analyst", now).await.unwrap();
    let app = s.api();
    let id = answer_id(&app, &read, "default", now).await;
    let path = format!("/v1/responses/{id}");

    let (status, got) = call(&app, Method::GET, &path, &read, None, now).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(
        (got["response"]["score"].clone(), got["response"]["comment"].clone()),
        (json!(2), json!("Broken stove"))
    );
    assert_eq!(got["follow_up"], json!({"status": "open", "owner": null, "tags": [], "notes": [], "history": []}));

    // Support marks it contacted, with an owner, tags and a note: each change kept, by the key's name.
    let edit = json!({"status": "contacted", "owner": "Dana", "tags": ["stove", "Refund"], "note": "Called: a new burner ships today."});
    let later = now.plus(std::time::Duration::from_secs(60));
    let (status, got) = call(&app, Method::PATCH, &path, &write, Some(edit), later).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    let f = &got["follow_up"];
    assert_eq!(
        (f["status"].clone(), f["owner"].clone(), f["tags"].clone()),
        (json!("contacted"), json!("Dana"), json!(["refund", "stove"]))
    );
    assert_eq!(
        f["notes"][0],
        json!({"text": "Called: a new burner ships today.", "by": "API key support desk", "at": later.unix()})
    );
    let what: Vec<&str> = f["history"].as_array().unwrap().iter().map(|c| c["what"].as_str().unwrap()).collect();
    assert_eq!(what, ["status: open → contacted", "owner: Dana", "tags: refund, stove", "note added"]);
    assert!(
        f["history"].as_array().unwrap().iter().all(|c| c["by"] == "API key support desk" && c["at"] == later.unix())
    );

    // Two changes at once: both kept, neither overwriting the other.
    let (a, b) = tokio::join!(
        call(&app, Method::PATCH, &path, &write, Some(json!({"note": "Refund approved."})), later),
        call(&app, Method::PATCH, &path, &write, Some(json!({"status": "resolved"})), later),
    );
    assert_eq!((a.0, b.0), (StatusCode::OK, StatusCode::OK), "{a:?} {b:?}");
    let (_, got) = call(&app, Method::GET, &path, &read, None, later).await;
    assert_eq!(
        (got["follow_up"]["status"].clone(), got["follow_up"]["notes"].as_array().unwrap().len()),
        (json!("resolved"), 2)
    );
    assert_eq!(got["follow_up"]["history"].as_array().unwrap().len(), 6);

    // What may not be done, each refused with what is wrong.
    let (status, body) = call(&app, Method::PATCH, &path, &read, Some(json!({"status": "open"})), later).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a read key cannot change a follow-up: {body}");
    for (bad, says) in [
        (json!({"status": "done"}), "body: unknown variant"),
        (json!({"colour": "red"}), "body: unknown field"),
        (json!({"tags": ["two words"]}), "tags:"),
        (json!({"owner": "a\u{1b}[31m"}), "owner:"),
        (json!({"note": "x".repeat(2001)}), "note:"),
        (json!({"note": " "}), "note:"),
    ] {
        let (status, body) = call(&app, Method::PATCH, &path, &write, Some(bad.clone()), later).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().starts_with(says), "{bad}: {body}");
    }
    for missing in ["/v1/responses/nope", "/v1/responses/01ARZ3NDEKTSV4RRFFQ69G5FAV"] {
        let (status, _) = call(&app, Method::GET, missing, &read, None, later).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    }
    let (status, _) = call(&app, Method::DELETE, &path, &write, None, later).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);

    // An eNPS answer has no follow-up: nobody may be contacted about an anonymous answer.
    enps_survey(&s, "staff", &[]).await;
    answer_at(&s, "staffer", json!({"survey": "staff"}), now, "score=1&comment=Too%20many%20meetings").await;
    let staff_answer = {
        let out = s.table.client().scan().table_name(s.table.name()).send().await.unwrap();
        out.items()
            .iter()
            .find(|i| {
                i.get("sk").and_then(|v| v.as_s().ok()).is_some_and(|s| s == "RESPONSE")
                    && i.get("kind").and_then(|v| v.as_s().ok()).is_some_and(|k| k == "enps")
            })
            .map(|i| i["pk"].as_s().unwrap().trim_start_matches("REQUEST#").to_owned())
            .expect("the eNPS answer")
    };
    for (method, body) in [(Method::GET, None), (Method::PATCH, Some(json!({"status": "contacted"})))] {
        let (status, body) = call(&app, method, &format!("/v1/responses/{staff_answer}"), &write, body, later).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("anonymous_survey")),
            "{body}"
        );
    }
    assert!(!raw_follow_up(&s, &staff_answer).await);

    // From the dashboard: a read key's session may not change it, nor may another site's form.
    let form = |body: String, cookie: Option<&str>, origin: Option<&str>| {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri("http://127.0.0.1/dashboard")
            .header("host", "127.0.0.1")
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(cookie) = cookie {
            req = req.header("cookie", cookie);
        }
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        req.body(Body::from(body)).unwrap()
    };
    let signed_in = app.handle_at(form(format!("action=sign-in&key={read}"), None, None), later).await;
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let change = format!("action=follow-up&response={id}&status=open&note=from+a+read+key");
    let refused = app.handle_at(form(change.clone(), Some(&cookie), None), later).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "a read key's session");
    let forged = app.handle_at(form(change, Some(&cookie), Some("https://evil.example")), later).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN, "another site's form");
    let (_, got) = call(&app, Method::GET, &path, &read, None, later).await;
    assert_eq!(got["follow_up"]["history"].as_array().unwrap().len(), 6, "nothing changed");

    // Erasing the person takes the follow-up, notes and history with it.
    assert!(raw_follow_up(&s, &id).await);
    let erase = format!("/v1/people/{}", email.replace('@', "%40"));
    let (status, body) = call(&app, Method::DELETE, &erase, &write, None, later).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(!raw_follow_up(&s, &id).await, "no note of an erased person is kept");
    let (_, got) = call(&app, Method::GET, &path, &read, None, later).await;
    assert_eq!(got["follow_up"]["notes"], json!([]));
    assert_eq!(got["response"]["score"], json!(2), "the answer itself stays, counted");
}

/// Waits until the browser has left `before` and shows `css`.
async fn arrived(browser: &fantoccini::Client, before: &str, css: &str) {
    for _ in 0..200 {
        if browser.current_url().await.unwrap().as_str() != before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    browser.wait().for_element(fantoccini::Locator::Css(css)).await.unwrap();
}

#[tokio::test]
async fn a_detractor_is_followed_up_from_the_dashboard() {
    use fantoccini::Locator;
    use support::browser::{Driver, assert_accessible, screenshot, serve};

    let s = stack("follow-up-dashboard", LINKS, &["product"]).await;
    let now = support::day_clock();
    answer_at(
        &s,
        "unhappy",
        json!({"properties": {"product": "stove"}}),
        now,
        "score=3&comment=The%20stove%20arrived%20broken",
    )
    .await;
    answer_at(&s, "happy", json!({"properties": {"product": "tent"}}), now, "score=10&comment=Great%20tent").await;
    let keys = DynamoApiKeys::new(s.table.clone());
    let (_, write) = keys.create(Scope::Write, "support desk", now).await.unwrap();
    let app = std::sync::Arc::new(s.api());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let served = app.clone();
    tokio::spawn(serve(
        move |req| {
            let app = served.clone();
            async move { app.handle(req).await }
        },
        listener,
    ));
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    browser.goto(&format!("{base}/dashboard?view=follow-up")).await.unwrap();
    browser.find(Locator::Css("input[name=key]")).await.unwrap().send_keys(&write).await.unwrap();
    browser.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    browser.wait().for_element(Locator::Css("section.follow-up")).await.unwrap();

    // The list: the detractor only (open), with a link to its page.
    let rows = browser.find_all(Locator::Css("section.follow-up tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 1, "the detractor, not the promoter");
    assert_eq!(
        rows[0].find(Locator::Css("td.comment")).await.unwrap().text().await.unwrap(),
        "The stove arrived broken"
    );
    assert_accessible(&browser, "the list to follow up").await;
    let before = browser.current_url().await.unwrap().to_string();
    rows[0].find(Locator::Css("a.open")).await.unwrap().click().await.unwrap();
    arrived(&browser, &before, "form.follow-up").await;
    assert_accessible(&browser, "an answer's page").await;

    // Support follows up from the page; the change is kept with who made it.
    browser
        .find(Locator::Css("form.follow-up select[name=status]"))
        .await
        .unwrap()
        .select_by_value("contacted")
        .await
        .unwrap();
    browser.find(Locator::Css("form.follow-up input[name=owner]")).await.unwrap().send_keys("Dana").await.unwrap();
    browser
        .find(Locator::Css("form.follow-up input[name=tags]"))
        .await
        .unwrap()
        .send_keys("stove, refund")
        .await
        .unwrap();
    browser
        .find(Locator::Css("form.follow-up textarea[name=note]"))
        .await
        .unwrap()
        .send_keys("Called: a new burner ships today.")
        .await
        .unwrap();
    browser.find(Locator::Css("form.follow-up button[type=submit]")).await.unwrap().click().await.unwrap();
    browser.wait().for_element(Locator::Css("section.history li")).await.unwrap();
    screenshot(&browser, "dashboard-follow-up.png").await;
    let history: Vec<String> = {
        let mut texts = Vec::new();
        for li in browser.find_all(Locator::Css("section.history li")).await.unwrap() {
            texts.push(li.text().await.unwrap());
        }
        texts
    };
    assert_eq!(history.len(), 4, "{history:?}");
    assert!(history[0].starts_with("status: open → contacted · dashboard (support desk) · "), "{history:?}");
    assert_eq!(browser.find(Locator::Css("strong.owner")).await.unwrap().text().await.unwrap(), "Dana");
    assert_eq!(browser.find(Locator::Css("span.tags")).await.unwrap().text().await.unwrap(), "refund, stove");

    // The API says the same; the list's open ones no longer hold it, its contacted ones do.
    let id = browser.current_url().await.unwrap().query_pairs().find(|(k, _)| k == "response").unwrap().1.into_owned();
    let (_, got) = call(&app, Method::GET, &format!("/v1/responses/{id}"), &write, None, now).await;
    assert_eq!(got["follow_up"]["notes"][0]["by"], "dashboard (support desk)");
    assert_eq!(got["follow_up"]["status"], "contacted");
    for (status, rows) in [("open", 0), ("contacted", 1)] {
        browser.goto(&format!("{base}/dashboard?view=follow-up&status={status}")).await.unwrap();
        browser.wait().for_element(Locator::Css("section.follow-up")).await.unwrap();
        assert_eq!(browser.find_all(Locator::Css("section.follow-up tbody tr")).await.unwrap().len(), rows, "{status}");
    }
}
