//! The scanner-safe capture protocol against DynamoDB Local: HEAD writes nothing, clicks are
//! evidence, a sweep is flagged, a person's confirmation is the one answer, and bad links reveal
//! nothing.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use base64::Engine;
use capture::{App, Config};
use lambda_http::http::{Method, Request, StatusCode};
use lambda_http::{Body, Response};
use nps_adapters::dynamo::{DynamoRequests, DynamoResponses, DynamoSurveys, Table};
use nps_domain::person::PersonId;
use nps_domain::request::{RequestId, RequestState, SurveyRequest};
use nps_domain::response::BotReason;
use nps_domain::survey::{Locale, Survey, SurveyId, SurveyKind};
use nps_domain::token::{self, TokenKeys};
use nps_domain::{EmailAddress, Timestamp};
use nps_local_stack::testing::{dynamodb, fresh_table};
use nps_scoring::Score;
use sha2::Digest;

const KEYS: &str = "1:capture-test-token-key-long-enough-123";
const DAY: Duration = Duration::from_secs(86_400);
const BROWSER: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36";

struct Harness {
    app: App,
    table: Table,
    request: SurveyRequest,
    token: String,
}

async fn harness(purpose: &str) -> Harness {
    let client = dynamodb().await;
    let name = fresh_table(&client, purpose).await;
    let table = Table::new(client, name.clone());
    let survey = Survey {
        id: SurveyId::parse("default").unwrap(),
        kind: SurveyKind::Transactional,
        product_name: "Demo <Shop>".into(),
        sender: "Demo Shop <surveys@demo.example>".into(),
        default_locale: Locale::En,
        throttle_days: 90,
        delay_seconds: 0,
        reminder_after_days: None,
        segment_properties: vec![],
        weight_properties: vec![],
        cadence: None,
    };
    DynamoSurveys::new(table.clone()).put(&survey).await.unwrap();
    let sent = Timestamp::from_unix(Timestamp::now().unix() - 3600);
    let request = SurveyRequest {
        id: RequestId::new(sent),
        survey_id: survey.id.clone(),
        person_id: PersonId::from_stored("0123456789abcdef0123456789abcdef").unwrap(),
        email: EmailAddress::parse("a@example.com").unwrap(),
        name: None,
        locale: Locale::En,
        properties: BTreeMap::new(),
        person_properties: BTreeMap::new(),
        weights: Default::default(),
        source: "generic".into(),
        event_id: format!("e-{purpose}"),
        transaction_id: None,
        created_at: sent,
        due_at: sent,
        state: RequestState::Scheduled,
        attempts: 0,
        lease_until: None,
        sent_at: None,
    };
    DynamoRequests::new(table.clone()).create(&request, None, sent.plus(30 * DAY), sent).await.unwrap();
    let keys = TokenKeys::parse(KEYS).unwrap();
    let token = token::sign(&keys, request.id, sent.plus(60 * DAY));
    let vars: HashMap<&str, String> = HashMap::from([("NPS_TABLE", name), ("NPS_TOKEN_KEYS", KEYS.into())]);
    let config = Config::from_lookup(&|k: &str| vars.get(k).cloned()).unwrap();
    Harness { app: App::new(config, table.clone()), table, request, token }
}

fn get(path: &str, agent: &str) -> Request<Body> {
    Request::builder()
        .method(Method::GET)
        .uri(format!("http://127.0.0.1{path}"))
        .header("user-agent", agent)
        .body(Body::Empty)
        .unwrap()
}

fn post(path: &str, form: &str) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri(format!("http://127.0.0.1{path}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("user-agent", BROWSER)
        .body(Body::from(form.to_owned()))
        .unwrap()
}

fn html(response: &Response<Body>) -> String {
    String::from_utf8(response.body().as_ref().to_vec()).unwrap()
}

async fn item_count(table: &Table) -> i32 {
    table
        .client()
        .scan()
        .table_name(table.name())
        .select(aws_sdk_dynamodb::types::Select::Count)
        .send()
        .await
        .unwrap()
        .count()
}

fn score(v: u8) -> Score {
    Score::try_from(v).unwrap()
}

#[tokio::test]
async fn head_answers_and_writes_nothing() {
    let h = harness("cap-head").await;
    let before = item_count(&h.table).await;
    for s in 0..=10 {
        let req = Request::builder()
            .method(Method::HEAD)
            .uri(format!("http://127.0.0.1/r/{}?score={s}", h.token))
            .body(Body::Empty)
            .unwrap();
        let response = h.app.handle(req).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.body().as_ref().is_empty());
    }
    assert_eq!(item_count(&h.table).await, before);
}

/// Saves a page for people to look at (`target/capture-preview/`).
fn keep(name: &str, response: &Response<Body>) {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/capture-preview");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), html(response)).unwrap();
}

#[tokio::test]
async fn a_click_shows_the_page_and_the_confirmation_is_the_answer() {
    let h = harness("cap-flow").await;
    let responses = DynamoResponses::new(h.table.clone());
    let path = format!("/r/{}", h.token);

    let page = h.app.handle(get(&format!("{path}?score=9"), BROWSER)).await;
    assert_eq!(page.status(), StatusCode::OK);
    keep("clicked.html", &page);
    let body = html(&page);
    assert!(body.contains(r#"value="9" required checked"#), "9 is selected");
    assert!(body.contains("Demo &lt;Shop&gt;") && !body.contains("Demo <Shop>"), "escaped");
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'") && csp.contains("style-src 'sha256-"));
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    // A first visit carries the keep-on-leave script, allowed by its hash and nothing else.
    let script = inline_script(&body).expect("the first visit keeps the score on leaving");
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script.as_bytes()));
    assert!(csp.contains(&format!("script-src 'sha256-{hash}';")), "{csp}");
    let clicked = responses.get(h.request.id).await.unwrap().unwrap();
    assert_eq!((clicked.confirmed(), clicked.clicks.len(), clicked.suspected_bot()), (false, 1, false));

    let thanks = h.app.handle(post(&path, "score=9&comment=")).await;
    assert_eq!(thanks.status(), StatusCode::OK);
    let answer = responses.get(h.request.id).await.unwrap().unwrap();
    assert_eq!((answer.score, answer.version), (Some(score(9)), 1));

    // Changing to 10 with a comment: still one response, version 2, comment verbatim.
    let comment = "<script>alert(1)</script> =HYPERLINK(\"x\")";
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("score", "10")
        .append_pair("comment", comment)
        .finish();
    let changed = h.app.handle(post(&path, &form)).await;
    keep("thanks.html", &changed);
    let body = html(&changed);
    assert!(!body.contains("<script>alert(1)</script>") && body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_eq!(inline_script(&body), None, "an answered page keeps nothing on leaving");
    let answer = responses.get(h.request.id).await.unwrap().unwrap();
    assert_eq!((answer.score, answer.version), (Some(score(10)), 2));
    assert_eq!(answer.comment.unwrap().as_str(), comment);

    // A later visit shows the answer and offers to change it.
    let again = html(&h.app.handle(get(&path, BROWSER)).await);
    assert!(again.contains("You answered 10. Change it?") && again.contains(r#"value="10" required checked"#));
    // A glance at another score on a later visit must not change the answer on leaving.
    let glance = html(&h.app.handle(get(&format!("{path}?score=3"), BROWSER)).await);
    assert!(glance.contains(r#"value="3" required checked"#) && inline_script(&glance).is_none());
}

/// The text of the page's one inline `<script>`, if it has one.
fn inline_script(html: &str) -> Option<&str> {
    let start = html.find("<script>")? + "<script>".len();
    Some(&html[start..start + html[start..].find("</script>")?])
}

#[tokio::test]
async fn a_scanner_sweep_counts_for_nothing_until_a_person_confirms() {
    let h = harness("cap-sweep").await;
    let responses = DynamoResponses::new(h.table.clone());
    let path = format!("/r/{}", h.token);
    for s in 0..=10 {
        let page = h.app.handle(get(&format!("{path}?score={s}"), BROWSER)).await;
        assert_eq!(page.status(), StatusCode::OK);
    }
    let swept = responses.get(h.request.id).await.unwrap().unwrap();
    assert!(!swept.confirmed(), "no click is an answer");
    assert_eq!(swept.bot_reasons, vec![BotReason::ScoreBurst]);

    h.app.handle(post(&path, "score=7")).await;
    let answer = responses.get(h.request.id).await.unwrap().unwrap();
    assert_eq!((answer.score, answer.version, answer.suspected_bot()), (Some(score(7)), 1, true));
}

#[tokio::test]
async fn bad_links_reveal_nothing_and_write_nothing() {
    let h = harness("cap-bad").await;
    let before = item_count(&h.table).await;
    let keys = TokenKeys::parse(KEYS).unwrap();
    let mut tampered: Vec<char> = h.token.chars().collect();
    tampered[10] = if tampered[10] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    let expired = token::sign(&keys, h.request.id, Timestamp::from_unix(Timestamp::now().unix() - 1));
    let unknown = token::sign(&keys, RequestId::new(Timestamp::now()), Timestamp::now().plus(DAY));
    let other_key = token::sign(
        &TokenKeys::parse("1:another-token-key-that-is-long-enough-99").unwrap(),
        h.request.id,
        Timestamp::now().plus(DAY),
    );
    let pages: Vec<String> = {
        let mut pages = Vec::new();
        for t in [&tampered, &expired, &unknown, &other_key, &"short".to_owned()] {
            let response = h.app.handle(get(&format!("/r/{t}?score=9"), BROWSER)).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{t}");
            assert_eq!(h.app.handle(post(&format!("/r/{t}"), "score=9")).await.status(), StatusCode::NOT_FOUND);
            pages.push(html(&response));
        }
        pages
    };
    assert!(pages.windows(2).all(|w| w[0] == w[1]), "every bad link gets the same page");
    assert_eq!(item_count(&h.table).await, before);
}

#[tokio::test]
async fn bad_form_input_is_a_400_page_and_changes_nothing() {
    let h = harness("cap-form").await;
    let responses = DynamoResponses::new(h.table.clone());
    let path = format!("/r/{}", h.token);
    for form in ["score=11", "score=nine", "comment=only", &format!("score=5&comment={}", "x".repeat(2001))] {
        let response = h.app.handle(post(&path, form)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{form}");
        assert!(html(&response).contains("role=\"alert\""));
    }
    assert!(responses.get(h.request.id).await.unwrap().is_none());
}

#[tokio::test]
async fn unsubscribe_asks_first_then_suppresses_once_also_by_one_click() {
    use nps_adapters::dynamo::{DynamoPeople, SuppressionReason};
    let h = harness("cap-unsub").await;
    let people = DynamoPeople::new(h.table.clone());
    let path = format!("/u/{}", h.token);
    let before = item_count(&h.table).await;

    // A scanner fetching the link (GET or HEAD) unsubscribes nobody.
    let page = h.app.handle(get(&path, "Mozilla/5.0 (compatible; Barracuda Sentinel)")).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(html(&page).contains("Stop receiving survey emails from Demo &lt;Shop&gt;?"));
    let head =
        Request::builder().method(Method::HEAD).uri(format!("http://127.0.0.1{path}")).body(Body::Empty).unwrap();
    assert_eq!(h.app.handle(head).await.status(), StatusCode::OK);
    assert_eq!(item_count(&h.table).await, before);

    // A mail client's RFC 8058 one-click POST, then the page's button: the same, idempotent.
    for form in ["List-Unsubscribe=One-Click", ""] {
        let done = h.app.handle(post(&path, form)).await;
        assert_eq!(done.status(), StatusCode::OK);
        assert!(html(&done).contains("no more survey emails"));
    }
    let known = people.eligibility(&h.request.person_id, &h.request.survey_id, None, None).await.unwrap();
    assert_eq!(known.suppression, Some(SuppressionReason::Unsubscribed));
    assert_eq!(item_count(&h.table).await, before + 1, "one suppression item");

    let forged = h.app.handle(post("/u/not-a-token", "List-Unsubscribe=One-Click")).await;
    assert_eq!(forged.status(), StatusCode::NOT_FOUND);
}
