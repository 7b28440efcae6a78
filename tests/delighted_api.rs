//! Delighted's API against DynamoDB Local, where its official clients (smoke.sh) cannot look:
//! both Basic credentials and a Bearer key reach it, refusals are Delighted's `422`, a pending
//! survey is cancelled in the table and never sent, an eNPS survey is never listed, an answer
//! cannot be rewritten, and an erasure leaves no listed profile or address behind, nor properties
//! beyond the survey's segments.

use crate::support;

use base64::Engine;
use lambda_http::Body;
use lambda_http::http::{Method, Request, StatusCode};
use nps_adapters::dynamo::{DynamoApiKeys, Scope};
use nps_domain::Timestamp;
use serde_json::{Value, json};
use support::{Stack, enps_survey, items, stack, unique};

const LINKS: &str = "https://nps.example";

enum Auth<'a> {
    /// Python: `Basic base64(<key>)`.
    BasicKey(&'a str),
    /// Node and Ruby: `Basic base64(<key>:)`.
    BasicKeyColon(&'a str),
}

fn request(method: Method, path: &str, auth: &Auth, body: Option<Value>) -> Request<Body> {
    let credential = match auth {
        Auth::BasicKey(k) => k.to_string(),
        Auth::BasicKeyColon(k) => format!("{k}:"),
    };
    let encoded = base64::engine::general_purpose::STANDARD.encode(credential);
    Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1{path}"))
        .header("authorization", format!("Basic {encoded}"))
        .header("host", "nps.example")
        .header("content-type", "application/json")
        .body(body.map_or(Body::Empty, |b| Body::from(b.to_string())))
        .unwrap()
}

async fn api(s: &Stack, method: Method, path: &str, auth: &Auth<'_>, body: Option<Value>) -> (StatusCode, Value) {
    let response = s.api().handle(request(method, path, auth, body)).await;
    (response.status(), serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null))
}

async fn trigger(s: &Stack, auth: &Auth<'_>, body: Value) -> (StatusCode, Value) {
    let response = s.trigger.handle(request(Method::POST, "/v1/people.json", auth, Some(body))).await;
    (response.status(), serde_json::from_slice(response.body().as_ref()).unwrap())
}

#[test]
fn delighted_calls_reach_the_same_data_and_refuse_as_delighted_did() {
    // On a thread with Lambda's stack (8 MB): unoptimised, the calls need more than a test
    // thread's 2 MB.
    let calls = || tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(calls());
    std::thread::Builder::new().stack_size(8 << 20).spawn(calls).unwrap().join().unwrap();
}

async fn calls() {
    let s = stack("delighted-api", LINKS, &["product"]).await;
    let keys = DynamoApiKeys::new(s.table.clone());
    let (_, key) = keys.create(Scope::Write, "delighted", Timestamp::now()).await.unwrap();
    let (_, read_key) = keys.create(Scope::Read, "delighted read", Timestamp::now()).await.unwrap();
    assert!(key.len() < 45, "a Basic credential <key>: fits Ruby's pack('m') line: {key}");
    let (python, node) = (Auth::BasicKey(&key), Auth::BasicKeyColon(&key));

    // A delayed survey, then its cancellation: the request is skipped in the table.
    let later = unique("delighted-later");
    let (status, person) =
        trigger(&s, &node, json!({"email": later, "delay": 3600, "properties": {"product": "Stove"}})).await;
    assert_eq!(status, StatusCode::CREATED, "{person}");
    assert!(person["survey_scheduled_at"].as_i64().unwrap() > Timestamp::now().unix() + 3500);
    let pending = format!("/v1/people/{}/survey_requests/pending", later.replace('@', "%40"));
    assert_eq!(api(&s, Method::DELETE, &pending, &python, None).await, (StatusCode::OK, json!({"ok": true})));
    let requests = items(&s.table, "REQUEST").await;
    let cancelled: Vec<_> = requests.values().filter(|r| r["email"].as_s().unwrap() == &later).collect();
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0]["state"].as_s().unwrap(), "skipped");
    assert!(!cancelled[0].contains_key("outbox_pk"), "no longer waiting in the outbox");
    let sent = s.outbox().await.dispatch(Timestamp::now().plus(std::time::Duration::from_secs(7200))).await.unwrap();
    assert_eq!(sent.sent, 0, "a cancelled survey is never sent");

    // Refusals: Delighted's 422 naming the parameter; unknown keys and read keys as ours.
    for path in [
        "/v1/people?per_page=0",
        "/v1/people?colour=red",
        "/v1/survey_responses?order=sideways",
        "/v1/survey_responses?since=yesterday",
        "/v1/bounces?page=0",
        "/v1/metrics.json?until=-5",
    ] {
        let (status, body) = api(&s, Method::GET, path, &python, None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
    }
    let (status, _) =
        api(&s, Method::GET, "/v1/people", &Auth::BasicKey("nps_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAA"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) =
        api(&s, Method::POST, "/v1/unsubscribes", &Auth::BasicKey(&read_key), Some(json!({"person_email": later})))
            .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a read key does not write");
    let (status, body) = trigger(&s, &python, json!({"email": "not an address"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let sms = json!({"email": unique("delighted-sms"), "channel": "sms", "phone_number": "+15555550100", "last_sent_at": 1, "email_update": true});
    let (status, body) = trigger(&s, &python, sms).await;
    assert_eq!(
        (status, body["survey_scheduled_at"].clone()),
        (StatusCode::CREATED, Value::Null),
        "kept, not surveyed: {body}"
    );

    // History, read back; the answer itself cannot be rewritten.
    let (_, ada) = trigger(&s, &python, json!({"email": unique("delighted-ada"), "send": false})).await;
    let past = Timestamp::now().unix() - 20 * 86_400;
    let (status, answer) = api(&s, Method::POST, "/v1/survey_responses.json", &python,
        Some(json!({"person": ada["id"], "score": 3, "comment": "cold", "created_at": past, "person_properties": {"product": "Stove", "secret": "x"}}))).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(
        answer["person_properties"],
        json!({"product": "Stove", "secret": "x"}),
        "segments and the rest are kept"
    );
    let path = format!("/v1/survey_responses/{}", answer["id"].as_str().unwrap());
    let (status, _) = api(&s, Method::PUT, &path, &python, Some(json!({"score": 10}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a score is the person's own");
    let (status, same) = api(&s, Method::PUT, &path, &python, Some(answer.clone())).await;
    assert_eq!((status, same["score"].clone()), (StatusCode::OK, json!(3)));
    // Tags and notes follow it up: a note is added, never removed, and only with its own text.
    let mut followed = answer.clone();
    (followed["tags"], followed["notes"]) = (json!(["Stove"]), json!(["Called back."]));
    let (status, body) = api(&s, Method::PUT, &path, &python, Some(followed)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["tags"].clone(), body["notes"][0]["text"].clone()), (json!(["stove"]), json!("Called back.")));
    let kept = body["notes"].clone();
    for (notes, why) in [
        (json!([]), "a note cannot be removed"),
        (json!([{"id": "1", "text": "Rewritten."}]), "nor rewritten"),
        (json!([{"id": "9", "text": "Called back."}]), "nor named by another id"),
        (json!([{"nope": 1}]), "a note has its text"),
        (json!("Called back."), "notes are an array"),
    ] {
        let (status, body) = api(&s, Method::PUT, &path, &python, Some(json!({ "notes": notes }))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{why}: {body}");
    }
    let (status, body) = api(&s, Method::PUT, &path, &python, Some(json!({"notes": kept}))).await;
    assert_eq!(
        (status, body["notes"].as_array().unwrap().len()),
        (StatusCode::OK, 1),
        "the notes as read change nothing"
    );
    // New tags and two new notes at once: all of them kept, the notes in the order given.
    let mut more = body.clone();
    more["tags"] = json!(["stove", "warranty"]);
    more["notes"].as_array_mut().unwrap().extend([json!("Sent a part."), json!("Fixed.")]);
    let (status, body) = api(&s, Method::PUT, &path, &python, Some(more)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let texts: Vec<&str> = body["notes"].as_array().unwrap().iter().map(|n| n["text"].as_str().unwrap()).collect();
    assert_eq!(
        (texts, body["tags"].clone()),
        (vec!["Called back.", "Sent a part.", "Fixed."], json!(["stove", "warranty"]))
    );
    for bad in [
        json!({"person": ada["id"], "score": 11}),
        json!({"person": ada["id"], "score": 5, "created_at": past + 86_400 * 40}),
        json!({"person": "nobody", "score": 5}),
    ] {
        let (status, body) = api(&s, Method::POST, "/v1/survey_responses", &python, Some(bad)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }

    // `since=0` reads from where the survey's history starts (the imported answer's day), not
    // every month back to 1970.
    let meter = std::sync::Arc::new(nps_adapters::dynamo::CapacityMeter::default());
    let metered = api::App::new(s.table.clone().metered(meter.clone()))
        .with_person_key(nps_domain::person::PersonKey::new(support::PERSON_KEY).unwrap());
    let listed = metered.handle(request(Method::GET, "/v1/survey_responses?since=0", &python, None)).await;
    let listed: Value = serde_json::from_slice(listed.body().as_ref()).unwrap();
    assert!(listed.as_array().unwrap().iter().any(|r| r["id"] == answer["id"]), "{listed}");
    assert!(meter.read_units() < 20.0, "since=0 cost {} read units", meter.read_units());

    // eNPS answers are never listed, whatever the trend.
    enps_survey(&s, "pulse", &[]).await;
    let (status, body) = api(&s, Method::GET, "/v1/survey_responses?trend=pulse", &python, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // Erasure by id: the profile and the unsubscribed address are gone from every list.
    let (status, _) =
        api(&s, Method::POST, "/v1/unsubscribes", &python, Some(json!({"person_email": ada["email"]}))).await;
    assert_eq!(status, StatusCode::OK);
    let (_, listed) = api(&s, Method::GET, "/v1/unsubscribes", &python, None).await;
    assert!(listed.as_array().unwrap().iter().any(|u| u["email"] == ada["email"]));
    let (status, _) =
        api(&s, Method::DELETE, &format!("/v1/people/{}", ada["id"].as_str().unwrap()), &node, None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, listed) = api(&s, Method::GET, "/v1/unsubscribes", &python, None).await;
    assert!(!listed.as_array().unwrap().iter().any(|u| u["email"] == ada["email"]), "{listed}");
    let (_, people) = api(&s, Method::GET, "/v1/people?per_page=100", &python, None).await;
    assert!(!people.as_array().unwrap().iter().any(|p| p["id"] == ada["id"]), "{people}");
    let (_, read) = api(&s, Method::GET, &path, &python, None).await;
    assert_eq!(
        (read["person"].clone(), read["comment"].clone()),
        (Value::Null, Value::Null),
        "the answer stays, anonymous"
    );
    assert_eq!(read["person_properties"], json!({"product": "Stove"}), "only its segment, which counts, is left");
}

#[test]
fn a_persons_wording_reaches_the_email_and_the_page() {
    support::on_lambda_stack(wording);
}

async fn wording() {
    let s = stack("delighted-wording", LINKS, &[]).await;
    let (_, key) = DynamoApiKeys::new(s.table.clone()).create(Scope::Write, "w", Timestamp::now()).await.unwrap();
    let email = unique("delighted-wording");
    let properties = json!({
        "locale": "de", "question_product_name": "den Herd 3000", "delighted_email_subject": "Eine kurze Frage",
        "delighted_intro_message": "Danke für Ihre Bestellung.", "thank_you_message": "Herzlichen Dank!",
        "thank_you_link_text": "Unser Blog", "thank_you_link_url": "https://blog.example/"
    });
    let (status, person) = trigger(&s, &Auth::BasicKey(&key), json!({"email": email, "properties": properties})).await;
    assert_eq!(status, StatusCode::CREATED, "{person}");
    let mail = support::emails_to(&s, &email).await.pop().expect("emailed");
    assert_eq!(mail["subject"], "Eine kurze Frage");
    let text = mail["body"]["text"].as_str().unwrap();
    assert!(text.contains("Danke für Ihre Bestellung.") && text.contains("den Herd 3000"), "{text}");

    let (link, _) = support::emailed_links(&s, &email, 9).await;
    let path = link.replace(LINKS, "");
    let agent = "Mozilla/5.0 (person)";
    let page = s.capture.handle(support::capture_call(Method::GET, &path, agent, "")).await;
    let html = String::from_utf8(page.body().to_vec()).unwrap();
    assert!(html.contains("den Herd 3000"), "the page asks about the same product");
    let form_path = path.split('?').next().unwrap();
    let thanks = s.capture.handle(support::capture_call(Method::POST, form_path, agent, "score=9")).await;
    let html = String::from_utf8(thanks.body().to_vec()).unwrap();
    assert!(
        html.contains("Herzlichen Dank!") && html.contains(r#"<a href="https://blog.example/">Unser Blog</a>"#),
        "{html}"
    );
}
