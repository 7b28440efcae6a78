//! `GET /v1/themes` against DynamoDB Local: twenty days of answers with three reasons planted on
//! each side (written to the table as the demo's history is, folded from the stream like any
//! answer) and one answered today through the real trigger and capture. The planted reasons are
//! the top three of their side, with comments that give them; each past day is counted once and
//! cached, counted again when one of its comments changes, and forgotten when an erasure takes a
//! comment out; eNPS themes keep the k rule; bad calls get a 400 naming the parameter.

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::Body;
use lambda_http::http::{Request, StatusCode};
use nps_adapters::dynamo::{
    DynamoApiKeys, DynamoErasure, DynamoRequests, DynamoResponses, DynamoRollups, Saved, Scope,
};
use nps_aggregation::Aggregator;
use nps_domain::Timestamp;
use nps_domain::fixtures;
use nps_domain::request::SurveyRequest;
use nps_domain::response::{Comment, Response};
use nps_domain::survey::SurveyKind;
use nps_scoring::Score;
use nps_themes::{Language, terms};
use serde_json::{Value, json};
use support::{Stack, answer_at, enps_survey, stack};

const LINKS: &str = "https://nps.example";
const DAY: i64 = 86_400;
const FILLER: [&str; 12] = [
    "ordered", "bought", "week", "package", "product", "colour", "size", "gift", "online", "camping", "trip", "family",
];
const DETRACTORS: [&str; 3] =
    ["the stove arrived broken", "delivery was very late", "support never answered my emails"];
const PROMOTERS: [&str; 3] = ["great quality tent", "fast friendly checkout", "helpful staff in store"];

fn midnight(now: Timestamp) -> i64 {
    now.unix() / DAY * DAY
}

/// A comment: everyday words, and each reason of `reasons` with its chance (50, 40, 30%).
fn comment(rng: &mut fastrand::Rng, reasons: &[&str]) -> String {
    let mut parts: Vec<String> = (0..rng.usize(2..6)).map(|_| FILLER[rng.usize(..FILLER.len())].to_owned()).collect();
    for (i, reason) in reasons.iter().enumerate() {
        if rng.u8(..100) < 50 - 10 * i as u8 {
            parts.push(format!(". {reason}."));
        }
    }
    parts.join(" ")
}

/// A survey request sent at `at` and its answer, confirmed a few minutes later, written as the
/// demo's history is (the stream then folds them like any other).
async fn answered(s: &Stack, n: usize, survey: &str, at: Timestamp, score: u8, text: &str) -> SurveyRequest {
    let request = fixtures::sent_request(n, survey, &[("product", "stove")], at);
    let expires = at.plus(Duration::from_secs(730 * DAY as u64));
    DynamoRequests::new(s.table.clone()).create(&request, None, expires, at).await.unwrap();
    let kind = if survey == "staff" { SurveyKind::Enps } else { SurveyKind::Transactional };
    let mut response = Response::new(&request, kind, at.plus(Duration::from_secs(60)));
    let comment = Comment::parse(text).unwrap();
    response
        .confirm(
            Score::try_from(score).unwrap(),
            comment,
            at.plus(Duration::from_secs(120)),
            Duration::from_secs(7 * DAY as u64),
        )
        .unwrap();
    assert_eq!(DynamoResponses::new(s.table.clone()).save(&mut response, expires).await.unwrap(), Saved::Done);
    request
}

struct Api {
    app: api::App,
    key: String,
    now: Timestamp,
}

impl Api {
    async fn get(&self, query: &str) -> (StatusCode, Value) {
        let req = Request::builder()
            .uri(format!("http://127.0.0.1/v1/themes?{query}"))
            .header("authorization", format!("Bearer {}", self.key))
            .body(Body::Empty)
            .unwrap();
        let answer = self.app.handle_at(req, self.now).await;
        (answer.status(), serde_json::from_slice(answer.body().as_ref()).unwrap())
    }

    async fn ok(&self, query: &str) -> Value {
        let (status, body) = self.get(query).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        body
    }
}

/// The dashboard page at `uri`, signed in with the API's key.
async fn dashboard(api: &Api, uri: &str) -> String {
    let form = "application/x-www-form-urlencoded";
    let sign_in = Request::builder()
        .method("POST")
        .uri(format!("http://127.0.0.1{uri}"))
        .header("content-type", form)
        .body(Body::from(format!("action=sign-in&key={}", api.key)))
        .unwrap();
    let answer = api.app.handle_at(sign_in, api.now).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let cookie = answer.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let page =
        Request::builder().uri(format!("http://127.0.0.1{uri}")).header("cookie", cookie).body(Body::Empty).unwrap();
    let page = api.app.handle_at(page, api.now).await;
    assert_eq!(page.status(), StatusCode::OK);
    String::from_utf8(page.body().to_vec()).unwrap()
}

/// The themes' cached days of a partition: day → (fingerprint, counts).
async fn cached(s: &Stack, pk: &str) -> BTreeMap<String, (String, String)> {
    let out = s
        .table
        .client()
        .query()
        .table_name(s.table.name())
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    out.items()
        .iter()
        .map(|i| {
            let s = |name: &str| match &i[name] {
                AttributeValue::S(v) | AttributeValue::N(v) => v.clone(),
                other => panic!("{other:?}"),
            };
            (s("sk"), (s("fingerprint"), s("counts")))
        })
        .collect()
}

/// Which planted reason (by index) a reason's term comes from.
fn reason_of(reasons: &[&str], term: &str) -> Option<usize> {
    reasons.iter().position(|r| {
        let keys: Vec<String> = terms(r, Language::En).into_iter().map(|t| t.key).collect();
        term.split(' ').all(|w| keys.iter().any(|k| k == w))
    })
}

#[track_caller]
fn assert_planted(side: &str, got: &Value, reasons: &[&str]) {
    let listed = got[side].as_array().unwrap();
    let mut found: Vec<usize> = listed.iter().filter_map(|r| reason_of(reasons, r["term"].as_str().unwrap())).collect();
    found.sort();
    assert_eq!(found, [0, 1, 2], "{side}: {listed:#?}");
    for r in listed {
        assert_eq!(r["significant"], json!(true), "{side}: {r}");
        let examples = r["examples"].as_array().unwrap();
        assert!((1..=3).contains(&examples.len()), "{side}: {r}");
        let words: Vec<&str> = r["term"].as_str().unwrap().split(' ').collect();
        for e in examples {
            let score = e["score"].as_u64().unwrap();
            assert!(if side == "detractors" { score <= 6 } else { score >= 9 }, "{side}: {e}");
            let said: Vec<String> =
                terms(e["text"].as_str().unwrap(), Language::En).into_iter().map(|t| t.key).collect();
            assert!(words.iter().all(|w| said.iter().any(|k| k == w)), "an example gives its reason: {e} for {r}");
        }
    }
}

#[test]
fn the_planted_reasons_lead_each_side_and_each_day_is_counted_once() {
    support::on_lambda_stack(reasons);
}

async fn reasons() {
    let s = stack("themes", LINKS, &["product"]).await;
    // Today's answer is confirmed an hour after `now` and the api asked an hour after that.
    let now = support::day_clock();
    let mut rng = fastrand::Rng::with_seed(20);
    // Twenty days before today: 3 detractors, 2 passives, 6 promoters a day.
    let mut n = 0;
    let mut first_of_day = Vec::new();
    for days_back in 1..=20 {
        let day = midnight(now) - days_back * DAY;
        for (count, scores, reasons) in
            [(3, [2, 5], &DETRACTORS[..]), (2, [7, 8], &[][..]), (6, [9, 10], &PROMOTERS[..])]
        {
            for _ in 0..count {
                n += 1;
                let at = Timestamp::from_unix(day + 3600 + rng.i64(0..20 * 3600));
                let text = comment(&mut rng, reasons);
                let request = answered(&s, n, "default", at, scores[rng.usize(..2)], &text).await;
                if first_of_day.len() < days_back as usize {
                    first_of_day.push(request);
                }
            }
        }
    }
    // Today, through the trigger and the emailed link.
    answer_at(
        &s,
        "themes-today",
        json!({"properties": {"product": "stove"}}),
        now,
        "score=1&comment=the%20stove%20arrived%20broken",
    )
    .await;
    let aggregator = Aggregator::new(DynamoRollups::new(s.table.clone()));
    support::aggregate(&s.table, &aggregator, now).await;

    let (_, key) = DynamoApiKeys::new(s.table.clone()).create(Scope::Read, "themes test", now).await.unwrap();
    let api = Api { app: api::App::new(s.table.clone()), key, now: now.plus(Duration::from_secs(7200)) };
    let range = "survey=default&since=2000-01-01&until=2099-12-31";
    let (status, body) = api.get(range).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "over 1,096 days: {body}");
    let since = Timestamp::from_unix(midnight(now) - 30 * DAY).to_rfc3339()[..10].to_owned();
    let query = format!("survey=default&since={since}&limit=3");
    let got = api.ok(&query).await;
    assert_planted("detractors", &got, &DETRACTORS);
    assert_planted("promoters", &got, &PROMOTERS);
    assert_eq!(
        got["comments"],
        json!({"detractors": 61, "passives": 40, "promoters": 120}),
        "today's answer counts too"
    );
    assert_eq!(got["language"], "en");

    // Each past day is cached once, at its rollup's fingerprint; today is not cached.
    let pk = "THEMES#default#all=all";
    let days = cached(&s, pk).await;
    assert_eq!(days.len(), 20, "{:?}", days.keys());
    let today = now.to_rfc3339()[..10].to_owned();
    assert!(!days.contains_key(&today));
    let again = api.ok(&query).await;
    assert_eq!(again, got, "the same answer from the cache");
    assert_eq!(cached(&s, pk).await, days, "nothing counted again");

    // A changed comment moves its day's fingerprint: that day alone is counted again.
    let changed = &first_of_day[4];
    let mut response = DynamoResponses::new(s.table.clone()).get(changed.id).await.unwrap().unwrap();
    let (score, at) = (response.score.unwrap(), response.created_at.plus(Duration::from_secs(300)));
    response
        .confirm(score, Comment::parse("zanzibar zanzibar").unwrap(), at, Duration::from_secs(7 * DAY as u64))
        .unwrap();
    let expires = at.plus(Duration::from_secs(730 * DAY as u64));
    assert_eq!(DynamoResponses::new(s.table.clone()).save(&mut response, expires).await.unwrap(), Saved::Done);
    support::aggregate(&s.table, &aggregator, now).await;
    api.ok(&query).await;
    let after = cached(&s, pk).await;
    let changed_day = changed.created_at.to_rfc3339()[..10].to_owned();
    for (day, entry) in &after {
        assert_eq!(entry == &days[day], *day != changed_day, "{day}: only the changed day is counted again");
    }
    assert!(after[&changed_day].1.contains("zanzibar"));

    // Erasing its author takes the comment's words out of the cache at once.
    DynamoErasure::new(s.table.clone()).erase(&changed.person_id, now).await.unwrap();
    let erased = cached(&s, pk).await;
    assert!(erased.values().all(|(_, counts)| !counts.contains("zanzibar")), "no word of an erased comment is kept");
    assert!(!cached(&s, "THEMES#default#product=stove").await.values().any(|(_, c)| c.contains("zanzibar")));
    support::aggregate(&s.table, &aggregator, now).await;
    api.ok(&query).await;
    assert!(cached(&s, pk).await.values().all(|(_, counts)| !counts.contains("zanzibar")));

    // A segment: the same reasons among stoves (every answer here is about one).
    let stoves = api.ok(&format!("{query}&segment.product=stove")).await;
    assert_planted("detractors", &stoves, &DETRACTORS);
    assert_eq!(stoves["segment"], json!({"dimension": "product", "value": "stove"}));

    // The dashboard shows them as "Top reasons", with a comment that gives each.
    let html = dashboard(&api, "/dashboard?survey=default&range=30").await;
    let reasons = &html[html.find("section class=\"wide reasons\"").expect("the reasons panel")..];
    let reasons = &reasons[..reasons.find("</section>").unwrap()];
    assert!(reasons.contains("Why detractors don"), "{reasons}");
    for r in got["detractors"].as_array().unwrap().iter().chain(got["promoters"].as_array().unwrap()) {
        assert!(
            reasons.contains(&format!("<strong class=\"reason\">{}</strong>", r["label"].as_str().unwrap())),
            "{r} in {reasons}"
        );
    }
    assert!(reasons.contains("<blockquote class=\"example\">"));

    // Bad calls: a 400 naming the parameter.
    for (bad, parameter) in [
        ("since=2026-01-01", "survey"),
        ("survey=nope", "survey"),
        ("survey=default&limit=0", "limit"),
        ("survey=default&segment.colour=red", "segment.colour"),
        ("survey=default&weight=amount", "weight"),
        ("survey=default&since=2026-02-30", "since"),
    ] {
        let (status, body) = api.get(bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().starts_with(&format!("{parameter}:")), "{bad}: {body}");
    }
}

#[test]
fn enps_themes_keep_the_k_rule_and_quote_nobody() {
    support::on_lambda_stack(enps);
}

async fn enps() {
    let s = stack("themes-enps", LINKS, &["team"]).await;
    enps_survey(&s, "staff", &["team"]).await;
    let now = Timestamp::now();
    let mut rng = fastrand::Rng::with_seed(21);
    // Two months ago (settled): 30 detractors and 60 promoters with planted reasons; this month
    // (not settled): more of them, which must not count.
    let settled_day = midnight(now) - 60 * DAY;
    let mut n = 0;
    for day in [settled_day, midnight(now) - DAY] {
        for (k, scores, reasons) in [(30, [1, 4], &DETRACTORS[..]), (60, [9, 10], &PROMOTERS[..])] {
            for _ in 0..k {
                n += 1;
                let at = Timestamp::from_unix(day + rng.i64(0..20 * 3600));
                answered(&s, n, "staff", at, scores[rng.usize(..2)], &comment(&mut rng, reasons)).await;
            }
        }
    }
    support::aggregate(&s.table, &Aggregator::new(DynamoRollups::new(s.table.clone())), now).await;
    let (_, key) = DynamoApiKeys::new(s.table.clone()).create(Scope::Read, "themes test", now).await.unwrap();
    let api = Api { app: api::App::new(s.table.clone()), key, now };
    let since = Timestamp::from_unix(settled_day - 40 * DAY).to_rfc3339()[..10].to_owned();
    let got = api.ok(&format!("survey=staff&since={since}")).await;
    let month = Timestamp::from_unix(settled_day).to_rfc3339()[..7].to_owned();
    assert_eq!(got["months"], json!([month]), "the settled month only: {got}");
    assert_eq!(got["comments"], json!({"detractors": 30, "passives": 0, "promoters": 60}));
    assert_eq!(got["min_comments"], json!(5));
    assert_planted_enps(&got);
    let (status, body) = api.get(&format!("survey=staff&since={since}&segment.team=ops")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("segment.team:"), "{body}");
}

#[track_caller]
fn assert_planted_enps(got: &Value) {
    for (side, reasons, category) in [("detractors", &DETRACTORS, "detractors"), ("promoters", &PROMOTERS, "promoters")]
    {
        let listed = got[side].as_array().unwrap();
        assert!(listed.iter().any(|r| r["significant"] == json!(true)), "{side}: {got}");
        for r in listed {
            if r["significant"] == json!(true) {
                assert!(reason_of(reasons, r["term"].as_str().unwrap()).is_some(), "{side}: {r}");
            }
            assert_eq!(r["examples"], json!([]), "no eNPS comment is quoted");
            assert!(r["mentions"][category].as_u64().unwrap() >= 5, "a reason stands for 5 people at least: {r}");
        }
    }
}
