//! A survey's list through our own API (one and a hundred at a time) and `nps-cli members` (CSV
//! files, bad rows by line, a rerun adding nobody twice), a signed webhook that adds a person to a
//! list instead of surveying them, and dispatch at SES's pace, against DynamoDB Local and the
//! local SES.

use crate::support;

use std::time::{Duration, Instant};

use lambda_http::http::{Method, StatusCode};
use nps_adapters::dynamo::{DynamoApiKeys, DynamoSurveys, Scope};
use nps_domain::Timestamp;
use nps_domain::survey::{Cadence, SurveyId};
use nps_sending::SendRate;
use serde_json::{Value, json};
use support::{PERSON_KEY, Stack, deliver, emails_to, purchase_at, relationship_survey, stack_with, unique};

const LINKS: &str = "https://nps.example";
const PERIOD_DAYS: u32 = 30;

async fn with_cadence(s: &Stack, id: &str) {
    relationship_survey(s, id, &["plan"]).await;
    let surveys = DynamoSurveys::new(s.table.clone());
    let mut survey = surveys.get(&SurveyId::parse(id).unwrap()).await.unwrap().unwrap();
    survey.cadence = Some(Cadence { frequency_days: PERIOD_DAYS, paused: false });
    surveys.put(&survey).await.unwrap();
}

async fn call(
    s: &Stack,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    now: Timestamp,
) -> (StatusCode, Value) {
    support::api_call_at(&s.api(), method, path, key, body, now).await
}

/// Every member, following `next_cursor` `limit` at a time.
async fn everyone(s: &Stack, key: &str, limit: usize, now: Timestamp) -> Vec<Value> {
    let (mut all, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/surveys/relationship/members?limit={limit}&cursor={c}"),
            None => format!("/v1/surveys/relationship/members?limit={limit}"),
        };
        let (status, page) = call(s, key, Method::GET, &path, None, now).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let members = page["members"].as_array().unwrap();
        assert!(members.len() <= limit);
        all.extend(members.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return all,
        }
    }
}

#[test]
fn a_list_is_kept_through_the_api_one_and_a_hundred_at_a_time() {
    support::on_lambda_stack(api);
}

async fn api() {
    let s = stack_with("lists-api", LINKS, &[], false).await;
    with_cadence(&s, "relationship").await;
    let keys = DynamoApiKeys::new(s.table.clone());
    let (_, write) = keys.create(Scope::Write, "lists", Timestamp::now()).await.unwrap();
    let (_, read) = keys.create(Scope::Read, "lists-read", Timestamp::now()).await.unwrap();
    let now = Timestamp::now();
    let path = "/v1/surveys/relationship/members";
    let member = |i: usize| {
        json!({"email": format!("member-{i}@lists.example"), "name": format!("Member {i}"),
                                   "locale": "de", "properties": {"plan": if i.is_multiple_of(2) { "pro" } else { "free" }, "seats": i}})
    };

    // A hundred at once; each first asked within the period, spread over it.
    let hundred: Vec<Value> = (0..100).map(member).collect();
    let (status, added) = call(&s, &write, Method::POST, path, Some(json!({"members": hundred})), now).await;
    assert_eq!(status, StatusCode::OK, "{added}");
    let added = added["members"].as_array().unwrap();
    assert_eq!(added.len(), 100);
    let mut days = std::collections::BTreeSet::new();
    for m in added {
        let next = Timestamp::parse_rfc3339(m["next_survey_at"].as_str().unwrap()).unwrap();
        assert!(next >= now && next.unix() < now.unix() + i64::from(PERIOD_DAYS) * 86_400, "{m}");
        days.insert((next.unix() - now.unix()) / 86_400);
        assert_eq!((m["locale"].as_str(), m["waves"].as_u64()), (Some("de"), Some(0)));
    }
    assert_eq!(days.len(), PERIOD_DAYS as usize, "a hundred members touch every day of the period");
    assert_eq!(added[7]["properties"], json!({"plan": "free", "seats": "7"}));

    // All validated before any is added: one bad member refuses the call, named by its place.
    let mut bad: Vec<Value> = (100..150).map(member).collect();
    bad[37]["email"] = json!("not an address");
    let (status, refused) = call(&s, &write, Method::POST, path, Some(json!({"members": bad})), now).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused["error"]["message"].as_str().unwrap().starts_with("members[37].email"), "{refused}");
    for (body, field) in [
        (json!({"members": (0..101).map(member).collect::<Vec<_>>()}), "members"),
        (json!({"members": []}), "members"),
        (json!({"members": [{"email": "a@lists.example", "locale": "xx"}]}), "members[0].locale"),
        (
            json!({"members": [{"email": "a@lists.example", "properties": {"nested": {"a": 1}}}]}),
            "members[0].properties",
        ),
        (
            json!({"members": [{"email": "a@lists.example", "properties": (0..21).map(|i| (format!("p{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}]}),
            "members[0].properties",
        ),
        (json!({"members": [{"email": "a@lists.example", "name": "x".repeat(101)}]}), "members[0].name"),
        (json!({"members": [{"email": "a@lists.example", "colour": "red"}]}), "body"),
    ] {
        let (status, refused) = call(&s, &write, Method::POST, path, Some(body), now).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        assert!(refused["error"]["message"].as_str().unwrap().starts_with(field), "{field}: {refused}");
    }
    assert_eq!(everyone(&s, &read, 1000, now).await.len(), 100, "nothing of a refused call was added");

    // One more, later; adding someone again changes their details and keeps their schedule.
    let later = now.plus(Duration::from_secs(86_400));
    let again = json!({"members": [{"email": "MEMBER-3@lists.example", "name": "Renamed"}, member(100)]});
    let (status, answer) = call(&s, &write, Method::POST, path, Some(again), later).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["members"][0]["next_survey_at"], added[3]["next_survey_at"]);
    assert_eq!(
        (answer["members"][0]["name"].as_str(), answer["members"][0]["locale"].as_str()),
        (Some("Renamed"), None)
    );
    assert_eq!(answer["members"][1]["added_at"].as_str(), Some(later.to_rfc3339().as_str()));

    // Listed page by page: every member once.
    let listed = everyone(&s, &read, 30, later).await;
    let ids: std::collections::BTreeSet<&str> = listed.iter().map(|m| m["person_id"].as_str().unwrap()).collect();
    assert_eq!((listed.len(), ids.len()), (101, 101));

    // Removed one by address, one by id, and eleven at once.
    let one = format!("{path}/member-0%40lists.example");
    let (status, removed) = call(&s, &write, Method::DELETE, &one, None, later).await;
    assert_eq!((status, removed["members"][0]["removed"].as_bool()), (StatusCode::OK, Some(true)), "{removed}");
    let (_, removed) = call(&s, &write, Method::DELETE, &one, None, later).await;
    assert_eq!(removed["members"][0]["removed"].as_bool(), Some(false), "already gone");
    let by_id = format!("{path}/{}", added[1]["person_id"].as_str().unwrap());
    let (status, removed) = call(&s, &write, Method::DELETE, &by_id, None, later).await;
    assert_eq!((status, removed["members"][0]["removed"].as_bool()), (StatusCode::OK, Some(true)), "{removed}");
    let eleven: Vec<Value> = (10..21).map(|i| json!({"email": format!("member-{i}@lists.example")})).collect();
    let (status, removed) = call(&s, &write, Method::DELETE, path, Some(json!({"members": eleven})), later).await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    assert!(removed["members"].as_array().unwrap().iter().all(|r| r["removed"] == json!(true)));
    let left = everyone(&s, &read, 1000, later).await;
    assert_eq!(left.len(), 101 - 13);
    assert!(!left.iter().any(|m| m["email"] == json!("member-15@lists.example")));

    // Refusals: a read key cannot change the list; a survey without a cadence keeps none.
    let (status, _) = call(&s, &read, Method::POST, path, Some(json!({"members": [member(5)]})), later).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, answer) = call(&s, &write, Method::GET, "/v1/surveys/default/members", None, later).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("no_cadence")), "{answer}");
    let (status, _) = call(&s, &write, Method::GET, "/v1/surveys/nothing/members", None, later).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&s, &write, Method::GET, &format!("{path}?limit=1001"), None, later).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(&s, &write, Method::GET, &format!("{path}?cursor=%00"), None, later).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[test]
fn a_webhook_adds_a_person_to_a_list_instead_of_surveying_them() {
    support::on_lambda_stack(webhook);
}

async fn webhook() {
    let s = stack_with("lists-webhook", LINKS, &[], false).await;
    with_cadence(&s, "relationship").await;
    let (_, key) = DynamoApiKeys::new(s.table.clone()).create(Scope::Read, "lists", Timestamp::now()).await.unwrap();
    let now = Timestamp::now();
    let email = unique("enrolled");
    let fields = json!({"survey": "relationship", "name": "Ada", "properties": {"plan": "pro"}});
    let answer = purchase_at(&s, &email, "account-1", fields.clone(), now).await;
    assert_eq!((answer["status"].as_str(), answer["survey_request_id"].as_str()), (Some("enrolled"), None), "{answer}");
    let next = Timestamp::parse_rfc3339(answer["next_eligible_at"].as_str().unwrap()).unwrap();
    assert!(next >= now && next.unix() < now.unix() + i64::from(PERIOD_DAYS) * 86_400);
    // The sender's retry is answered alike and adds nothing.
    let (status, repeat) = deliver(&s, &email, "account-1", fields, now).await;
    assert_eq!((status, &repeat), (StatusCode::OK, &answer));
    let members = everyone(&s, &key, 100, now).await;
    assert_eq!(members.len(), 1);
    assert_eq!((members[0]["name"].as_str(), members[0]["properties"]["plan"].as_str()), (Some("Ada"), Some("pro")));
    assert!(emails_to(&s, &email).await.is_empty(), "added to the list, not surveyed now");

    // Its wave comes: dispatch asks the member, through the local SES, once.
    let outbox = s.outbox().await;
    for _ in 0..2 {
        outbox.dispatch(next.plus(Duration::from_secs(60))).await.unwrap();
    }
    let sent = emails_to(&s, &email).await;
    assert_eq!(sent.len(), 1, "one survey for the wave");

    // A suppressed person is not added.
    let unsubscribed = unique("unsubscribed");
    let (_, write) = DynamoApiKeys::new(s.table.clone()).create(Scope::Write, "w", Timestamp::now()).await.unwrap();
    let (status, _) =
        call(&s, &write, Method::POST, "/v1/unsubscribes", Some(json!({"person_email": unsubscribed})), now).await;
    assert!(status.is_success());
    let answer = purchase_at(&s, &unsubscribed, "account-2", json!({"survey": "relationship"}), now).await;
    assert_eq!((answer["status"].as_str(), answer["reason"].as_str()), (Some("skipped"), Some("unsubscribed")));
    assert_eq!(everyone(&s, &key, 100, now).await.len(), 1);
}

#[test]
fn dispatch_sends_no_faster_than_the_send_rate_and_leaves_the_rest_for_the_next_run() {
    support::on_lambda_stack(pace);
}

async fn pace() {
    let s = stack_with("lists-pace", LINKS, &[], false).await;
    let now = Timestamp::now();
    // History written as already sent (as make demo writes it, more than a run's batch) is not in
    // dispatch's way: the due requests behind it are found.
    let requests = nps_adapters::dynamo::DynamoRequests::new(s.table.clone());
    for i in 0..250 {
        let sent = Timestamp::from_unix(now.unix() - 86_400 - i64::try_from(i).unwrap());
        let request = nps_domain::fixtures::sent_request(i, "default", &[], sent);
        requests.create(&request, None, sent.plus(Duration::from_secs(86_400 * 30)), sent).await.unwrap();
    }
    let due = now.plus(Duration::from_secs(3600));
    for i in 0..30 {
        let answer =
            purchase_at(&s, &unique("paced"), &format!("order-{i}"), json!({"send_at": due.to_rfc3339()}), now).await;
        assert_eq!(answer["status"].as_str(), Some("scheduled"));
    }
    // 20 a second, one second per run: 20 in the first run, no faster, the other 10 in the next.
    let rate = SendRate { per_second: 20.0, window: Duration::from_secs(1) };
    let outbox = s.outbox().await.with_send_rate(rate);
    let started = Instant::now();
    let first = outbox.dispatch(due).await.unwrap();
    let took = started.elapsed();
    assert_eq!((first.due, first.sent), (20, 20), "{first:?}");
    assert!(took >= Duration::from_millis(950), "20 sends at 20 a second take at least 0.95 s: {took:?}");
    let second = outbox.dispatch(due.plus(Duration::from_secs(60))).await.unwrap();
    assert_eq!((second.due, second.sent), (10, 10), "{second:?}");
}

#[test]
fn a_csv_file_fills_a_list_once_with_bad_rows_reported_by_line() {
    support::on_lambda_stack(csv_import);
}

async fn csv_import() {
    let s = stack_with("lists-csv", LINKS, &[], false).await;
    with_cadence(&s, "relationship").await;
    let (_, key) = DynamoApiKeys::new(s.table.clone()).create(Scope::Read, "csv", Timestamp::now()).await.unwrap();
    let dir = std::env::temp_dir().join(format!("nps-lists-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // 300 rows, a quoted name with a comma, a property column, and three bad rows.
    let mut rows = vec!["Email Address,Full Name,language,plan,region".to_owned()];
    for i in 0..300 {
        rows.push(match i {
            41 => "not-an-address,Nobody,en,pro,eu".to_owned(),
            142 => format!("row-{i}@csv.example,Someone,klingon,pro,eu"),
            243 => format!("row-{i}@csv.example,\"{}\",en,pro,eu", "x".repeat(101)),
            _ => format!("row-{i}@csv.example,\"Row, {i}\",{},{},eu", ["en", "de"][i % 2], ["pro", "free"][i % 2]),
        });
    }
    let file = dir.join("members.csv");
    std::fs::write(&file, rows.join("\n")).unwrap();
    let path = file.to_str().unwrap();
    let columns = ["--column", "email=Email Address", "--column", "name=Full Name"];

    let dry = support::cli(&s, &[&["members", "import", "--dry-run"], &columns[..], &[path]].concat()).await;
    assert_eq!(dry.trim(), "dry run: would add 297 people from 300 rows; 3 bad rows skipped");
    assert!(everyone(&s, &key, 1000, Timestamp::now()).await.is_empty(), "a dry run writes nothing");

    let first =
        support::cli(&s, &[&["members", "import", "--survey", "relationship"], &columns[..], &[path]].concat()).await;
    assert_eq!(
        first.trim(),
        "added 297 members (0 already on the list, details updated) from 300 rows; 3 bad rows skipped"
    );
    let options = nps_cli::members::Options {
        survey: SurveyId::parse("relationship").unwrap(),
        remove: false,
        dry_run: false,
        columns: [("email", "Email Address"), ("name", "Full Name")].map(|(f, h)| (f.to_owned(), h.to_owned())).into(),
        person_key: nps_domain::person::PersonKey::new(PERSON_KEY).unwrap(),
        progress: false,
        cadence_day: nps_domain::survey::CADENCE_DAY,
    };
    let again = nps_cli::members::run(&s.table, &[path.to_owned()], &options, &mut Vec::new()).await.unwrap();
    assert_eq!((again.added, again.already, again.rows), (0, 297, 300), "a rerun adds nobody twice");
    // Lines count from the header (line 1): rows 41, 142 and 243 are lines 43, 144 and 245.
    let lines: Vec<String> =
        again.bad.iter().map(|b| b.strip_prefix(&format!("{path}:")).unwrap().to_owned()).collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("43: email"), "{lines:?}");
    assert!(lines[1].starts_with("144: locale"), "{lines:?}");
    assert!(lines[2].starts_with("245: name"), "{lines:?}");

    let listed = everyone(&s, &key, 1000, Timestamp::now()).await;
    assert_eq!(listed.len(), 297);
    let row_7 = listed.iter().find(|m| m["email"] == json!("row-7@csv.example")).unwrap();
    assert_eq!(row_7["name"], json!("Row, 7"));
    assert_eq!(
        (row_7["locale"].as_str(), row_7["properties"].clone()),
        (Some("de"), json!({"plan": "free", "region": "eu"}))
    );

    // Taken off the list from a file of addresses; one of them was never on it.
    let leaving = dir.join("leaving.csv");
    let mut gone: Vec<String> = (0..10).map(|i| format!("row-{i}@csv.example")).collect();
    gone.push("stranger@csv.example".to_owned());
    std::fs::write(&leaving, format!("email\n{}\n", gone.join("\n"))).unwrap();
    let removed = support::cli(&s, &["members", "remove", leaving.to_str().unwrap()]).await;
    assert_eq!(removed.trim(), "removed 10 members (1 not on the list) from 11 rows; 0 bad rows skipped");
    assert_eq!(everyone(&s, &key, 1000, Timestamp::now()).await.len(), 287);
    std::fs::remove_dir_all(&dir).unwrap();
}
