//! One customer's journey across the functions, on one table and the local inbox: a purchase
//! sends a survey, the emailed link takes the answer, unsubscribing stops the next survey; a
//! complaint does the same for another customer.

use std::collections::HashMap;

use lambda_http::Body;
use lambda_http::http::{Method, Request, StatusCode};
use nps_adapters::aws::load_sdk_config;
use nps_adapters::dynamo::{DynamoResponses, DynamoSurveys, Table};
use nps_adapters::ses::SesMailer;
use nps_domain::Timestamp;
use nps_domain::person::PersonKey;
use nps_domain::request::RequestId;
use nps_domain::survey::{Locale, Survey, SurveyId, SurveyKind};
use nps_local_stack::testing::{dynamodb, fresh_table, local_endpoint};
use serde_json::{Value, json};
use trigger::sources::generic;

const SECRET: &str = "journey-webhook-secret-0123456789";
const PERSON_KEY: &str = "journey-person-key-that-is-long-enough";
const TOKEN_KEYS: &str = "1:journey-token-key-that-is-long-enough-12";
const LINKS: &str = "https://nps.example";

struct Stack {
    trigger: trigger::App,
    capture: capture::App,
    ses_events: ses_events::App,
    table: Table,
    inbox: String,
}

async fn stack() -> Stack {
    let inbox = local_endpoint("NPS_INBOX_URL");
    let client = dynamodb().await;
    let name = fresh_table(&client, "journey").await;
    let table = Table::new(client, name.clone());
    DynamoSurveys::new(table.clone())
        .put(&Survey {
            id: SurveyId::parse("default").unwrap(),
            kind: SurveyKind::Transactional,
            product_name: "Journey Shop".into(),
            sender: "Journey Shop <surveys@journey.example>".into(),
            default_locale: Locale::En,
            throttle_days: 0,
            delay_seconds: 0,
            reminder_after_days: None,
            segment_properties: vec![],
        })
        .await
        .unwrap();
    let vars: HashMap<&str, String> = HashMap::from([
        ("NPS_TABLE", name),
        ("NPS_PERSON_KEY", PERSON_KEY.into()),
        ("NPS_TOKEN_KEYS", TOKEN_KEYS.into()),
        ("NPS_CAPTURE_BASE_URL", LINKS.into()),
        ("NPS_WEBHOOK_SECRET_GENERIC", SECRET.into()),
    ]);
    let lookup = |k: &str| vars.get(k).cloned();
    let mailer = SesMailer::new(SesMailer::client(&load_sdk_config().await), None);
    Stack {
        trigger: trigger::App::new(trigger::Config::from_lookup(&lookup).unwrap(), table.clone(), mailer),
        capture: capture::App::new(capture::Config::from_lookup(&lookup).unwrap(), table.clone()),
        ses_events: ses_events::App::new(table.clone(), PersonKey::new(PERSON_KEY).unwrap()),
        table,
        inbox,
    }
}

fn unique(label: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{label}-{}-{nanos}@example.com", std::process::id())
}

/// A signed purchase for `email`; the answer's JSON.
async fn purchase(s: &Stack, email: &str, order: &str) -> Value {
    let body =
        serde_json::to_vec(&json!({"event_id": format!("{order}-paid"), "email": email, "transaction_id": order}))
            .unwrap();
    let req = Request::builder()
        .method(Method::POST)
        .uri("http://127.0.0.1/v1/triggers/generic")
        .header("content-type", "application/json")
        .header(generic::HEADER, generic::sign(SECRET.as_bytes(), Timestamp::now().unix(), &body))
        .body(Body::from(body))
        .unwrap();
    let response = s.trigger.handle(req).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    serde_json::from_slice(response.body().as_ref()).unwrap()
}

/// The path of the emailed link for `score` (`/r/<token>?score=N`), and of the unsubscribe link.
async fn emailed_links(s: &Stack, email: &str, score: u8) -> (String, String) {
    let store: Value = reqwest::get(format!("{}/store", s.inbox)).await.unwrap().json().await.unwrap();
    let mail =
        store["emails"].as_array().unwrap().iter().find(|e| e["destination"]["to"][0] == email).expect("emailed");
    let text = mail["body"]["text"].as_str().unwrap();
    let find = |marker: &str| {
        let start = text.find(marker).expect("link in the email");
        text[start..].split_whitespace().next().unwrap().trim_start_matches(LINKS).to_owned()
    };
    (find(&format!("{LINKS}/r/")).replace("score=0", &format!("score={score}")), find(&format!("{LINKS}/u/")))
}

fn browser(method: Method, path: &str, form: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1{path}"))
        .header("user-agent", "Mozilla/5.0 (journey test)")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap()
}

#[tokio::test]
async fn purchase_answer_unsubscribe_and_no_second_survey() {
    let s = stack().await;
    let email = unique("journey");
    let first = purchase(&s, &email, &format!("o1-{email}")).await;
    assert_eq!(first["status"], "sent");
    let (score_path, unsubscribe_path) = emailed_links(&s, &email, 9).await;

    let page = s.capture.handle(browser(Method::GET, &score_path, "")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let confirm_path = score_path.split('?').next().unwrap();
    assert_eq!(
        s.capture.handle(browser(Method::POST, confirm_path, "score=9&comment=Great")).await.status(),
        StatusCode::OK
    );
    let request_id = RequestId::parse(first["survey_request_id"].as_str().unwrap()).unwrap();
    let answer = DynamoResponses::new(s.table.clone()).get(request_id).await.unwrap().unwrap();
    assert_eq!((answer.score.map(u8::from), answer.version), (Some(9), 1));

    let done = s.capture.handle(browser(Method::POST, &unsubscribe_path, "List-Unsubscribe=One-Click")).await;
    assert_eq!(done.status(), StatusCode::OK);
    let second = purchase(&s, &email, &format!("o2-{email}")).await;
    assert_eq!((second["status"].as_str(), second["reason"].as_str()), (Some("skipped"), Some("unsubscribed")));
}

#[tokio::test]
async fn a_complaint_stops_the_next_survey() {
    let s = stack().await;
    let email = unique("complainer");
    assert_eq!(purchase(&s, &email, &format!("c1-{email}")).await["status"], "sent");
    let message =
        json!({"notificationType": "Complaint", "complaint": {"complainedRecipients": [{"emailAddress": email}]}});
    let sns = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Type": "Notification", "Message": message.to_string()}}]});
    assert_eq!(s.ses_events.handle(sns, Timestamp::now()).await.unwrap().suppressed, 1);
    let next = purchase(&s, &email, &format!("c2-{email}")).await;
    assert_eq!((next["status"].as_str(), next["reason"].as_str()), (Some("skipped"), Some("complained")));
}
