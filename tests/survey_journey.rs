//! One customer's journey across the functions, on one table and the local inbox: a purchase
//! sends a survey, the emailed link takes the answer, unsubscribing stops the next survey; a
//! complaint does the same for another customer.

use crate::support;

use lambda_http::Body;
use lambda_http::http::{Method, Request, StatusCode};
use nps_adapters::dynamo::DynamoResponses;
use nps_domain::Timestamp;
use nps_domain::request::RequestId;
use serde_json::json;
use support::{capture_call, emailed_links, purchase, stack, unique};

const LINKS: &str = "https://nps.example";

fn browser(method: Method, path: &str, form: &str) -> Request<Body> {
    capture_call(method, path, "Mozilla/5.0 (journey test)", form)
}

#[tokio::test]
async fn purchase_answer_unsubscribe_and_no_second_survey() {
    let s = stack("journey", LINKS, &[]).await;
    let email = unique("journey");
    let first = purchase(&s, &email, &format!("o1-{email}"), json!({})).await;
    assert_eq!(first["status"], "sent");
    let (score_link, unsubscribe_link) = emailed_links(&s, &email, 9).await;
    let (score_path, unsubscribe_path) = (score_link.replace(LINKS, ""), unsubscribe_link.replace(LINKS, ""));

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
    let second = purchase(&s, &email, &format!("o2-{email}"), json!({})).await;
    assert_eq!((second["status"].as_str(), second["reason"].as_str()), (Some("skipped"), Some("unsubscribed")));
}

#[tokio::test]
async fn a_complaint_stops_the_next_survey() {
    let s = stack("complaint", LINKS, &[]).await;
    let email = unique("complainer");
    assert_eq!(purchase(&s, &email, &format!("c1-{email}"), json!({})).await["status"], "sent");
    let message =
        json!({"notificationType": "Complaint", "complaint": {"complainedRecipients": [{"emailAddress": email}]}});
    let sns = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Type": "Notification", "Message": message.to_string()}}]});
    assert_eq!(s.ses_events.handle(sns, Timestamp::now()).await.unwrap().suppressed, 1);
    let next = purchase(&s, &email, &format!("c2-{email}"), json!({})).await;
    assert_eq!((next["status"].as_str(), next["reason"].as_str()), (Some("skipped"), Some("complained")));
}
