//! `/v1/surveys` against DynamoDB Local: create, read, list, replace, validated; and a survey
//! created through the API is one a purchase can be surveyed with.

use crate::support;

use lambda_http::Body;
use lambda_http::http::{Method, Request, StatusCode};
use nps_adapters::dynamo::{DynamoApiKeys, Scope};
use nps_domain::Timestamp;
use serde_json::{Value, json};
use support::{purchase_at, stack, unique};

const LINKS: &str = "https://nps.example";

async fn call(
    app: &api::App,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(format!("http://127.0.0.1{path}"));
    if let Some(key) = key {
        req = req.header("authorization", format!("Bearer {key}"));
    }
    let req = match body {
        Some(body) => req.header("content-type", "application/json").body(Body::from(body.to_string())),
        None => req.body(Body::Empty),
    };
    let response = app.handle(req.unwrap()).await;
    let status = response.status();
    (status, serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null))
}

#[test]
fn surveys_are_created_read_listed_and_replaced_with_validation() {
    support::on_lambda_stack(surveys);
}

async fn surveys() {
    let s = stack("surveys-api", LINKS, &["product"]).await;
    let keys = DynamoApiKeys::new(s.table.clone());
    let (_, write) = keys.create(Scope::Write, "surveys", Timestamp::now()).await.unwrap();
    let (_, read) = keys.create(Scope::Read, "surveys-read", Timestamp::now()).await.unwrap();
    // As deployed: surveys may send only from the operator's domain (and its subdomains).
    let app = api::App::new(s.table.clone()).with_sender_domain("spring.example".into());
    let (w, r) = (Some(write.as_str()), Some(read.as_str()));
    let spring = json!({
        "id": "spring",
        "kind": "transactional",
        "product_name": "Spring Shop",
        "sender": "Spring Shop <surveys@spring.example>",
        "reminder_after_days": 3,
        "segment_properties": ["product", "region"]
    });

    let (status, created) = call(&app, Method::POST, "/v1/surveys", w, Some(spring.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        (created["throttle_days"].clone(), created["default_locale"].clone(), created["weight_properties"].clone()),
        (json!(90), json!("en"), json!(["amount"])),
        "defaults: purchases' amounts weigh the answers"
    );
    let (status, got) = call(&app, Method::GET, "/v1/surveys/spring", r, None).await;
    assert_eq!((status, &got), (StatusCode::OK, &created));
    let (_, list) = call(&app, Method::GET, "/v1/surveys", r, None).await;
    let ids: Vec<&str> = list["surveys"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["default", "spring"]);
    let (status, body) = call(&app, Method::POST, "/v1/surveys", w, Some(spring.clone())).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("exists")));

    // Replace: the settings change; the kind does not; the id comes from the path.
    let mut changed = spring.clone();
    changed.as_object_mut().unwrap().remove("id");
    changed["throttle_days"] = json!(30);
    changed["segment_properties"] = json!(["product"]);
    let (status, replaced) = call(&app, Method::PUT, "/v1/surveys/spring", w, Some(changed.clone())).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    let (_, got) = call(&app, Method::GET, "/v1/surveys/spring", r, None).await;
    assert_eq!((got["throttle_days"].clone(), got["segment_properties"].clone()), (json!(30), json!(["product"])));
    let mut spoofed = changed.clone();
    spoofed["sender"] = json!("Your Bank <security@bank.example>");
    let (status, body) = call(&app, Method::PUT, "/v1/surveys/spring", w, Some(spoofed)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a write key cannot send as someone else: {body}");
    let mut other_kind = changed.clone();
    other_kind["kind"] = json!("enps");
    let (status, body) = call(&app, Method::PUT, "/v1/surveys/spring", w, Some(other_kind)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"].as_str().unwrap().starts_with("kind:"), "{body}");
    let (status, _) = call(&app, Method::PUT, "/v1/surveys/autumn", w, Some(changed.clone())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&app, Method::GET, "/v1/surveys/autumn", r, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Validation: each refusal says what is wrong.
    for (patch, says) in [
        (json!({"sender": "not an address"}), "sender"),
        (json!({"sender": "Spring Shop <ceo@bank.example>"}), "sender: must be an address at spring.example"),
        (json!({"sender": "surveys@spring.example.evil"}), "sender: must be an address at spring.example"),
        (json!({"segment_properties": ["Product Name"]}), "at most 10 segment properties"),
        (json!({"reminder_after_days": 0}), "reminder_after_days"),
        (json!({"colour": "blue"}), "unknown field"),
        (json!({"id": "Bad Id"}), "id:"),
        (json!({"weight_properties": ["currency"]}), "at most 3 weight properties"),
        (json!({"weight_properties": ["a", "b", "c", "d"]}), "at most 3 weight properties"),
        (json!({"kind": "enps", "weight_properties": ["amount"]}), "none for an eNPS survey"),
    ] {
        let mut bad = spring.clone();
        bad["id"] = json!(format!("s{}", fastrand::u32(..)));
        bad.as_object_mut().unwrap().extend(patch.as_object().unwrap().clone());
        let (status, body) = call(&app, Method::POST, "/v1/surveys", w, Some(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{patch}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(says), "{patch}: {body}");
    }
    let mut staff = spring.clone();
    (staff["id"], staff["kind"]) = (json!("staff"), json!("enps"));
    let (status, body) = call(&app, Method::POST, "/v1/surveys", w, Some(staff)).await;
    assert_eq!((status, &body["weight_properties"]), (StatusCode::CREATED, &json!([])), "eNPS weighs nothing");
    let (status, _) = call(&app, Method::POST, "/v1/surveys", r, Some(spring.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a read key cannot write");
    let (status, _) = call(&app, Method::GET, "/v1/surveys", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&app, Method::DELETE, "/v1/surveys/spring", w, None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);

    // A survey created through the API surveys a purchase.
    let email = unique("spring");
    let answer =
        purchase_at(&s, &email, &format!("order-{email}"), json!({"survey": "spring"}), Timestamp::now()).await;
    assert_eq!(answer["status"], "sent", "{answer}");
}
