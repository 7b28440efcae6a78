//! eNPS anonymity against a key holder who tries to break it (docs/enps.md): months of eNPS
//! answers go through the real trigger, capture and aggregator on DynamoDB Local; then every call
//! an attacker with read and write keys can make (listings, exports, overlapping ranges, segments,
//! breakdowns, kinds, changing an answer after the fact, erasures, the dashboard) is tried, and
//! none may show one answer, an answer's id, or any figure of fewer than 5 answers.

use crate::support;

use std::collections::BTreeMap;

use lambda_http::Body;
use lambda_http::http::{Method, Request, StatusCode};
use nps_adapters::dynamo::{DynamoApiKeys, DynamoResponses, DynamoRollups, Scope};
use nps_aggregation::Aggregator;
use nps_domain::Timestamp;
use nps_domain::request::RequestId;
use serde_json::{Value, json};
use support::{Stack, capture_call, emailed_links, enps_survey, purchase_at, stack, unique};
use time::macros::{date, datetime};
use time::{Date, Duration};

const LINKS: &str = "https://nps.example";
const K: u64 = 5;
const PERSON: &str = "Mozilla/5.0 (employee)";
/// The attacker's clock: October has settled (it ended over 8 days ago), November has not.
const NOW: Timestamp = Timestamp::from_unix(datetime!(2026-11-29 12:00 UTC).unix_timestamp());
const FIRST: Date = date!(2026 - 08 - 01);
const LAST: Date = date!(2026 - 11 - 29);

struct Employee {
    request: String,
    email: String,
    path: String,
}

/// Surveys an employee of `team` on `day` (at 09:00), as a purchase-style event names the eNPS survey.
async fn survey(s: &Stack, id: &str, team: &str, day: Date) -> Employee {
    let at = Timestamp::from_unix(day.with_hms(9, 0, 0).unwrap().assume_utc().unix_timestamp());
    let email = unique("employee");
    let fields = json!({"survey": id, "properties": {"team": team}});
    let answer = purchase_at(s, &email, &format!("wave-{email}"), fields, at).await;
    assert_eq!(answer["status"], "sent", "{answer}");
    let (link, _) = emailed_links(s, &email, 0).await;
    let path = link.replace(LINKS, "").split('?').next().unwrap().to_owned();
    Employee { request: answer["survey_request_id"].as_str().unwrap().to_owned(), email, path }
}

/// The employee's answer `form` an hour after 09:00 on `day`; only a click when `form` is empty.
async fn answer(s: &Stack, e: &Employee, day: Date, form: &str) {
    let at = Timestamp::from_unix(day.with_hms(10, 0, 0).unwrap().assume_utc().unix_timestamp());
    let (method, path) =
        if form.is_empty() { (Method::GET, format!("{}?score=8", e.path)) } else { (Method::POST, e.path.clone()) };
    let page = s.capture.handle_at(capture_call(method, &path, PERSON, form), at).await;
    assert_eq!(page.status(), StatusCode::OK);
}

struct Attacker {
    app: api::App,
    read: String,
    write: String,
    /// Every answer body seen, to look for ids in.
    seen: std::sync::Mutex<String>,
}

impl Attacker {
    async fn call(&self, method: Method, uri: &str, auth: &str) -> (StatusCode, String) {
        let req = Request::builder()
            .method(method)
            .uri(format!("http://127.0.0.1{uri}"))
            .header("authorization", format!("Bearer {auth}"))
            .header("cookie", auth.strip_prefix("session=").map_or(String::new(), |t| format!("nps_session={t}")))
            .body(Body::Empty)
            .unwrap();
        let answer = self.app.handle_at(req, NOW).await;
        let body = String::from_utf8(answer.body().to_vec()).unwrap();
        self.seen.lock().unwrap().push_str(&body);
        (answer.status(), body)
    }

    async fn metrics(&self, query: &str) -> Value {
        let (status, body) = self.call(Method::GET, &format!("/v1/metrics?{query}"), &self.read).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        let value: Value = serde_json::from_str(&body).unwrap();
        assert_k(query, &value);
        value
    }
}

/// Every figure in a metrics answer: the whole, its buckets, its groups, the previous period.
fn figures(v: &Value) -> Vec<&Value> {
    let mut all = vec![v];
    all.extend(v["series"].as_array().into_iter().flatten());
    all.extend(v["groups"].as_array().into_iter().flatten());
    if v["comparison"].is_object() {
        all.push(&v["comparison"]["previous"]);
    }
    all
}

/// No figure stands for fewer than K answers, and none shows a single act.
#[track_caller]
fn assert_k(what: &str, v: &Value) {
    for f in figures(v) {
        match f["n"].as_u64() {
            Some(n) => assert!(n >= K && f["withheld"] == json!(false), "{what}: a figure of {n} answers: {f}"),
            None => {
                assert!(f["withheld"] == json!(true) && f["nps"].is_null() && f["sent_count"].is_null(), "{what}: {f}")
            }
        }
        assert!(f["unconfirmed_count"].is_null() && f["suspected_bot_count"].is_null(), "{what}: {f}");
    }
    // What a breakdown leaves out (values withheld, answers without one) is none or K and more.
    if let (Some(groups), Some(total)) = (v["groups"].as_array(), v["n"].as_u64()) {
        let shown: u64 = groups.iter().filter_map(|g| g["n"].as_u64()).sum();
        let left_out = total - shown;
        assert!(left_out == 0 || left_out >= K, "{what}: total minus groups is {left_out} answers: {v}");
    }
    if v["groups"].is_array() && v["n"].is_null() {
        assert!(v["groups"].as_array().unwrap().iter().all(|g| g["n"].is_null()), "{what}: groups of a withheld whole");
    }
}

fn n(v: &Value) -> Option<u64> {
    v["n"].as_u64()
}

fn month_start(d: Date) -> Date {
    d.replace_day(1).unwrap()
}

#[test]
fn no_call_or_combination_of_calls_reveals_an_answer_or_a_group_under_five() {
    // On a thread with Lambda's stack (8 MB): the whole attack, unoptimised, needs more than a
    // test thread's 2 MB.
    let attack = || tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(attack());
    std::thread::Builder::new().stack_size(8 << 20).spawn(attack).unwrap().join().unwrap();
}

async fn attack() {
    let s = stack("enps-anonymity", LINKS, &["product"]).await;
    enps_survey(&s, "staff", &["team"]).await;
    enps_survey(&s, "crew", &["team"]).await;
    let (aug, sep, oct, nov) =
        (date!(2026 - 08 - 12), date!(2026 - 09 - 15), date!(2026 - 10 - 14), date!(2026 - 11 - 20));

    // August: 2 answers. September: eng 8, legal 3 (Alice among them). October: eng 6, sales 6,
    // one lone lawyer (Omar), 7 comments; a click never confirmed; crew's 3 answers. November
    // (still open): 6 answers.
    let mut ids = Vec::new();
    for (i, day) in [aug, aug].into_iter().enumerate() {
        let e = survey(&s, "staff", "eng", day).await;
        answer(&s, &e, day, &format!("score={}", 7 + i)).await;
        ids.push(e.request);
    }
    let mut alice = None;
    for i in 0..11 {
        let (team, score) = if i < 8 { ("eng", [9, 10, 8, 9, 7, 10, 9, 6][i]) } else { ("legal", [0, 2, 9][i - 8]) };
        let e = survey(&s, "staff", team, sep).await;
        let form = if i == 8 {
            "score=0&comment=ALICE-SECRET+my+manager+ignores+me".to_owned()
        } else {
            format!("score={score}")
        };
        answer(&s, &e, sep, &form).await;
        ids.push(e.request.clone());
        if i == 8 {
            alice = Some(e);
        }
    }
    let alice = alice.unwrap();
    let mut october_comments = Vec::new();
    let mut omar = None;
    for i in 0..13 {
        let team = if i < 6 {
            "eng"
        } else if i < 12 {
            "sales"
        } else {
            "legal"
        };
        let e = survey(&s, "staff", team, oct).await;
        let score = [10, 9, 3, 8, 9, 10, 6, 9, 10, 7, 9, 2, 1][i];
        let form = if i % 2 == 0 {
            let comment = format!("October thought {i:02} from {team}");
            october_comments.push(comment.clone());
            format!("score={score}&comment={}", comment.replace(' ', "+"))
        } else {
            format!("score={score}")
        };
        answer(&s, &e, oct, &form).await;
        ids.push(e.request.clone());
        if i == 12 {
            omar = Some(e);
        }
    }
    let omar = omar.unwrap();
    let clicker = survey(&s, "staff", "eng", oct).await;
    answer(&s, &clicker, oct, "").await;
    let silent = survey(&s, "staff", "eng", oct).await;
    for _ in 0..3 {
        let e = survey(&s, "crew", "ops", oct).await;
        answer(&s, &e, oct, "score=0&comment=crew+only").await;
        ids.push(e.request);
    }
    for i in 0..6 {
        let e = survey(&s, "staff", "eng", nov).await;
        answer(&s, &e, nov, &format!("score={}", 4 + i)).await;
        ids.push(e.request);
    }
    ids.extend([clicker.request.clone(), silent.request.clone()]);

    let aggregator = Aggregator::new(DynamoRollups::new(s.table.clone()));
    support::aggregate(&s.table, &aggregator, Timestamp::now()).await;

    let keys = DynamoApiKeys::new(s.table.clone());
    let (_, read) = keys.create(Scope::Read, "curious reader", NOW).await.unwrap();
    let (_, write) = keys.create(Scope::Write, "curious writer", NOW).await.unwrap();
    let at = Attacker { app: s.api(), read, write, seen: Default::default() };

    // 1. No listing, export or filter of eNPS answers, by survey or through the all-survey list.
    for uri in [
        "/v1/responses?survey=staff",
        "/v1/responses?survey=staff&segment.team=legal&since=2026-09-01&until=2026-09-30",
        "/v1/responses.csv?survey=staff",
        "/v1/responses?survey=crew&confirmed=any",
    ] {
        for key in [&at.read, &at.write] {
            let (status, body) = at.call(Method::GET, uri, key).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{uri}: {body}");
            assert!(body.contains("\"anonymous_survey\""), "{uri}: {body}");
        }
    }
    let everything = "since=2026-08-01&until=2026-11-29&confirmed=any&per_page=100";
    let (status, body) = at.call(Method::GET, &format!("/v1/responses?{everything}&expand=person"), &at.read).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["responses"], json!([]), "no eNPS answer in the list");
    let (status, csv) = at.call(Method::GET, "/v1/responses.csv?since=2026-08-01&until=2026-11-29", &at.read).await;
    assert_eq!((status, csv.lines().count()), (StatusCode::OK, 1), "only the header: {csv}");

    // 2. Whole months only: any range answers as the months it touches, so overlapping ranges
    //    subtract to whole months, each shown only once settled and with K answers.
    let months = [date!(2026 - 08 - 01), date!(2026 - 09 - 01), date!(2026 - 10 - 01), date!(2026 - 11 - 01)];
    let mut monthly: BTreeMap<(Date, &str), Value> = BTreeMap::new();
    let variants = ["", "&segment.team=eng", "&segment.team=legal", "&segment.team=sales", "&group_by=team"];
    for month in months {
        let end = (month + Duration::days(32)).replace_day(1).unwrap() - Duration::days(1);
        for variant in variants {
            let got = at.metrics(&format!("survey=staff&since={month}&until={end}{variant}")).await;
            monthly.insert((month, variant), got);
        }
    }
    let whole = |m: Date| &monthly[&(m, "")];
    assert_eq!(n(whole(months[0])), None, "August: 2 answers");
    assert_eq!(n(whole(months[1])), Some(11), "September");
    assert_eq!(n(whole(months[2])), Some(13), "October: the click never confirmed is not an answer");
    assert_eq!(n(whole(months[3])), None, "November has 6 answers but has not settled");
    assert_eq!(whole(months[2])["sent_count"], json!(15), "whole months show who was asked");
    // September: legal (3) withheld, so eng (8) too, or the month minus eng would be legal.
    assert_eq!(monthly[&(months[1], "&group_by=team")]["groups"], json!([]));
    assert_eq!(n(&monthly[&(months[1], "&segment.team=eng")]), None);
    // October: sales shown; eng withheld, or the month minus both would be Omar alone.
    let october = &monthly[&(months[2], "&group_by=team")]["groups"];
    assert_eq!(
        october.as_array().unwrap().iter().map(|g| (g["value"].clone(), g["n"].clone())).collect::<Vec<_>>(),
        [(json!("sales"), json!(6))]
    );
    assert!(october[0]["sent_count"].is_null(), "no response rate of a part: who did not answer stays unknown");
    for m in months {
        assert_eq!(n(&monthly[&(m, "&segment.team=legal")]), None, "legal is never shown");
    }
    let mut rng = fastrand::Rng::with_seed(16);
    for _ in 0..40 {
        let (a, b) = (FIRST + Duration::days(rng.i64(0..120)), FIRST + Duration::days(rng.i64(0..120)));
        let (since, until) = (a.min(b).min(LAST), a.max(b).min(LAST));
        for variant in variants {
            let got = at.metrics(&format!("survey=staff&since={since}&until={until}{variant}")).await;
            let spanned = months.iter().filter(|m| (month_start(since)..=until).contains(m));
            let sum: u64 = spanned.clone().filter_map(|m| n(&monthly[&(*m, variant)])).sum();
            assert_eq!(n(&got).unwrap_or(0), sum, "{since}..{until}{variant}: the sum of its whole months");
            assert_eq!(got["since"], json!(month_start(since).to_string()));
        }
    }
    let all = at.metrics("survey=staff&since=2026-08-01&until=2026-11-29&group_by=team&compare=previous_period").await;
    assert_eq!(n(&all), Some(24));
    assert_eq!(all["comparison"]["previous_since"], "2026-04-01", "as many whole months before");
    for granularity in ["day", "week"] {
        let (status, body) =
            at.call(Method::GET, &format!("/v1/metrics?survey=staff&granularity={granularity}"), &at.read).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains("granularity: eNPS figures are by calendar month"), "{body}");
    }

    // 3. Kinds: crew's 3 answers are in no figure, so kind=enps minus staff is nothing.
    for variant in variants {
        let range = "since=2026-08-01&until=2026-11-29";
        let both = at.metrics(&format!("kind=enps&{range}{variant}")).await;
        let staff = at.metrics(&format!("survey=staff&{range}{variant}")).await;
        assert_eq!(both["n"], staff["n"], "{variant}");
        assert_eq!(both["groups"], staff["groups"], "{variant}");
        assert_eq!(n(&at.metrics(&format!("survey=crew&{range}{variant}")).await), None);
    }

    // 4. After a month has settled nobody can change it (and watch the figures move): neither
    //    Alice changing her answer nor the October click confirmed now.
    let before = at.metrics("survey=staff&since=2026-08-01&until=2026-11-29&group_by=team").await;
    let late = |e: &Employee, form: &str| capture_call(Method::POST, &e.path, PERSON, form);
    s.capture.handle_at(late(&alice, "score=10&comment=changed"), NOW).await;
    s.capture.handle_at(late(&clicker, "score=10"), NOW).await;
    support::aggregate(&s.table, &aggregator, Timestamp::now()).await;
    let after = at.metrics("survey=staff&since=2026-08-01&until=2026-11-29&group_by=team").await;
    assert_eq!((after["n"].clone(), after["groups"].clone()), (before["n"].clone(), before["groups"].clone()));
    let stored = DynamoResponses::new(s.table.clone());
    let alice_answer = stored.get(RequestId::parse(&alice.request).unwrap()).await.unwrap().unwrap();
    assert_eq!(alice_answer.score.map(|s| s.value()), Some(0), "the settled answer stays");

    // 5. The dashboard: October's comments as one batch, sorted, without score, day or team; the
    //    same batch whatever segment is asked for; none of September's (3 legal comments).
    let (_, session) =
        keys.open_session(&at.read, NOW.plus(std::time::Duration::from_secs(3600))).await.unwrap().unwrap();
    let cookie = format!("session={session}");
    let page = |filters: &'static str| {
        let (at, cookie) = (&at, cookie.clone());
        async move {
            let (status, html) = at.call(Method::GET, &format!("/dashboard?survey=staff{filters}"), &cookie).await;
            assert_eq!(status, StatusCode::OK, "{html}");
            html
        }
    };
    let batch = |html: &str| -> Vec<String> {
        let section =
            html.split("<h2>Comments of 2026-10</h2>").nth(1).expect("October's batch").split("</ul>").next().unwrap();
        section.split("<p class=\"comment\">").skip(1).map(|c| c.split("</p>").next().unwrap().to_owned()).collect()
    };
    let html = page("&range=90").await;
    let mut sorted = october_comments.clone();
    sorted.sort();
    assert_eq!(batch(&html), sorted);
    let comments = html.split("<h2>Comments of 2026-10</h2>").nth(1).unwrap().split("</section>").next().unwrap();
    assert!(!comments.contains("badge") && !comments.contains("2026-10-14"), "{comments}");
    assert!(!html.contains("ALICE-SECRET") && !html.contains("crew only"));
    let legal = page("&range=90&segment=team%3Alegal").await;
    assert_eq!(batch(&legal), sorted, "a segment does not split the batch");
    assert!(!legal.contains("data-nps="), "legal's figures are withheld");
    let open = page("&range=7").await;
    assert!(!open.contains("October thought") && !open.contains("data-nps="), "November has not settled");
    // The same batch through the API, and nothing that could split it.
    let (status, body) =
        at.call(Method::GET, "/v1/comments?survey=staff&since=2026-09-01&until=2026-11-29", &at.read).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let api_batch: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((api_batch["month"].clone(), api_batch["comments"].clone()), (json!("2026-10"), json!(sorted)));
    let (_, body) = at.call(Method::GET, "/v1/comments?survey=staff&since=2026-11-01", &at.read).await;
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["comments"], json!([]), "November has not settled");
    for uri in [
        "/v1/comments?survey=staff&segment.team=legal",
        "/v1/comments?survey=staff&team=legal",
        "/v1/comments?survey=default",
        "/v1/comments?survey=staff&since=2026-10-01&since=2026-09-01",
    ] {
        let (status, body) = at.call(Method::GET, uri, &at.read).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
    }

    // 6. Erasure answers alike whether the employee answered, only clicked, was only asked, or
    //    never existed; and erasing Omar does not take his comment out of October's batch (which
    //    would point at it).
    let mut answers = Vec::new();
    for email in [&omar.email, &alice.email, &clicker.email, &silent.email, &unique("nobody")] {
        let path = format!("/v1/people/{}", email.replace('@', "%40"));
        answers.push(at.call(Method::DELETE, &path, &at.write).await);
    }
    assert!(
        answers.iter().all(|a| a == &(StatusCode::ACCEPTED, r#"{"status":"erased","complete":true}"#.to_owned())),
        "{answers:?}"
    );
    support::aggregate(&s.table, &aggregator, Timestamp::now()).await;
    assert_eq!(batch(&page("&range=90").await), sorted, "the batch does not change");
    assert_eq!(
        at.metrics("survey=staff&since=2026-08-01&until=2026-11-29&group_by=team").await["groups"],
        before["groups"]
    );

    // 7. No answer ever named an eNPS answer's id (the survey_request_id the trigger answered).
    let seen = at.seen.lock().unwrap();
    for id in &ids {
        assert!(!seen.contains(id.as_str()), "an answer named {id}");
    }
}
