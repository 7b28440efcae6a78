//! `GET /v1/metrics` against DynamoDB Local: a random history of purchases and answers spread over
//! four months goes through the real trigger and capture functions and the aggregator; every
//! figure the API answers (a range, a segment, a group-by, each granularity, a comparison) must
//! equal the scoring crate's summary of the raw scores, and eNPS groups under 5 answers are withheld.
//!
//! The seed is printed; `NPS_SEED=<seed>` replays a failure.

use crate::support;

use std::collections::BTreeMap;

use lambda_http::Body;
use lambda_http::http::{Method, Request, StatusCode};
use nps_adapters::dynamo::{Counted, DynamoApiKeys, DynamoRollups, Scope};
use nps_aggregation::Aggregator;
use nps_domain::Timestamp;
use nps_domain::request::SurveyRequest;
use nps_domain::response::Response;
use nps_scoring::{Histogram, Summary, WeightSums, WeightedSummary, compare};
use serde_json::{Value, json};
use support::{Stack, capture_call, emailed_links, enps_survey, purchase_at, stack, unique};
use time::{Date, Duration, OffsetDateTime, Weekday};

const LINKS: &str = "https://nps.example";
const PRODUCTS: [&str; 3] = ["boots", "hats", "socks"];
const REGIONS: [&str; 2] = ["north", "south"];
const TEAMS: [&str; 2] = ["big", "small"];
/// 2026-07-01T00:00:00Z: the history runs from here for 120 days.
const START: i64 = 1_782_864_000;
const DAYS: i64 = 120;
const PERSON: &str = "Mozilla/5.0 (person)";

fn day_of(t: Timestamp) -> Date {
    OffsetDateTime::from_unix_timestamp(t.unix()).unwrap().date()
}

struct Api {
    app: api::App,
    key: String,
}

impl Api {
    async fn get(&self, query: &str) -> (StatusCode, Value) {
        let req = Request::builder()
            .uri(format!("http://127.0.0.1/v1/metrics?{query}"))
            .header("authorization", format!("Bearer {}", self.key))
            .body(Body::Empty)
            .unwrap();
        let response = self.app.handle_at(req, Timestamp::from_unix(START + DAYS * 86_400)).await;
        (response.status(), serde_json::from_slice(response.body().as_ref()).unwrap())
    }

    async fn ok(&self, query: &str) -> Value {
        let (status, body) = self.get(query).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        body
    }
}

/// Every response of the table, raw, and the survey requests sent.
async fn raw_items(s: &Stack) -> (Vec<Response>, Vec<SurveyRequest>) {
    let (mut responses, mut requests) = (Vec::new(), Vec::new());
    let mut start = None;
    loop {
        let out =
            s.table.client().scan().table_name(s.table.name()).set_exclusive_start_key(start).send().await.unwrap();
        for item in out.items() {
            match Counted::parse(item).unwrap() {
                Some(Counted::Response(r)) => responses.push(r),
                Some(Counted::Request(r)) if r.sent_at.is_some() => requests.push(r),
                _ => {}
            }
        }
        match out.last_evaluated_key {
            Some(key) => start = Some(key),
            None => return (responses, requests),
        }
    }
}

/// What the scoring crate says of the raw responses that `keep` selects.
fn expected(responses: &[Response], keep: impl Fn(&Response) -> bool) -> (Summary, u64) {
    let mut histogram = Histogram::EMPTY;
    let mut unconfirmed = 0;
    for r in responses.iter().filter(|r| keep(r)) {
        match r.score {
            Some(score) => histogram.insert(score),
            None => unconfirmed += 1,
        }
    }
    (Summary::of(&histogram), unconfirmed)
}

/// The API's figures equal the scoring crate's: counts exactly, NPS to 0.001, the interval to 0.01.
#[track_caller]
fn assert_figures(what: &str, got: &Value, (want, unconfirmed): &(Summary, u64)) {
    let close = |field: &str, value: Option<f64>, tolerance: f64| match (got[field].as_f64(), value) {
        (Some(a), Some(b)) => assert!((a - b).abs() <= tolerance, "{what}: {field} {a} != {b}"),
        (None, None) => assert!(got[field].is_null(), "{what}: {field}"),
        (a, b) => panic!("{what}: {field} {a:?} != {b:?}"),
    };
    assert_eq!(got["n"], json!(want.n), "{what}: n");
    assert_eq!(got["response_count"], json!(want.n), "{what}: response_count");
    assert_eq!(got["promoter_count"], json!(want.promoter_count), "{what}");
    assert_eq!(got["passive_count"], json!(want.passive_count), "{what}");
    assert_eq!(got["detractor_count"], json!(want.detractor_count), "{what}");
    assert_eq!(got["unconfirmed_count"], json!(unconfirmed), "{what}: unconfirmed");
    assert_eq!(got["nps_rounded"], json!(want.nps_rounded), "{what}");
    assert_eq!(got["min_n_met"], json!(want.min_n_met), "{what}");
    close("nps", want.nps, 0.001);
    close("mean_score", want.mean_score, 0.001);
    close("promoter_percent", want.promoter_percent, 0.001);
    close("detractor_percent", want.detractor_percent, 0.001);
    let interval = want.adjusted_wald;
    close("ci_low", interval.map(|i| i.low), 0.01);
    close("ci_high", interval.map(|i| i.high), 0.01);
    close("margin", interval.map(|i| i.margin), 0.01);
}

/// The `weighted` figures of `got` equal a direct computation on the confirmed answers `keep`
/// selects, from the raw `amount` and `currency` each purchase sent: per currency, Σ amount by
/// category, 100 · (Σ promoters − Σ detractors) / Σ all, and the scoring crate's interval.
#[track_caller]
fn assert_weighted(what: &str, got: &Value, responses: &[Response], keep: impl Fn(&Response) -> bool) {
    // currency → (n, [Σ detractors, passives, promoters], the scoring crate's sums)
    let mut want: BTreeMap<Option<String>, (u64, [f64; 3], WeightSums)> = BTreeMap::new();
    for r in responses.iter().filter(|r| keep(r)) {
        let (Some(score), Some(amount)) = (r.score, r.person_properties.get("amount")) else { continue };
        let amount: f64 = amount.parse().unwrap();
        let currency = r.person_properties.get("currency").map(|c| c.to_lowercase());
        let entry = want.entry(currency).or_insert((0, [0.0; 3], WeightSums::EMPTY));
        entry.0 += 1;
        entry.1[score.category() as usize] += amount;
        entry.2.add(score, amount).unwrap();
    }
    let listed = got["weighted"].as_array().unwrap_or_else(|| panic!("{what}: no weighted figures: {got}"));
    assert_eq!(listed.len(), want.len(), "{what}: one per currency: {listed:?}");
    for w in listed {
        let currency = w["currency"].as_str().map(str::to_owned);
        let (n, sums, scoring) = &want[&currency];
        let close = |field: &str, value: f64| {
            let got = w[field].as_f64().unwrap();
            assert!(
                (got - value).abs() <= 1e-6 * value.abs().max(1.0),
                "{what} {currency:?}: {field} {got} != {value}"
            );
        };
        assert_eq!((w["property"].as_str(), w["n"].as_u64()), (Some("amount"), Some(*n)), "{what}");
        close("revenue_at_risk", sums[0]);
        close("revenue_passive", sums[1]);
        close("revenue_promoting", sums[2]);
        let total: f64 = sums.iter().sum();
        close("total", total);
        if total > 0.0 {
            close("nps", 100.0 * (sums[2] - sums[0]) / total);
            let summary = WeightedSummary::with_min_n(scoring, 30);
            close("margin", summary.interval.unwrap().margin);
            close("effective_n", summary.effective_n.unwrap());
            assert_eq!(w["min_n_met"], json!(summary.min_n_met), "{what}");
        } else {
            assert!(w["nps"].is_null(), "{what}: no weight, no NPS");
        }
    }
}

fn day(value: &Value) -> Date {
    Date::parse(value.as_str().unwrap(), time::macros::format_description!("[year]-[month]-[day]")).unwrap()
}

#[test]
fn metrics_equal_the_scoring_crate_on_the_raw_scores() {
    support::on_lambda_stack(equal_the_scoring_crate);
}

async fn equal_the_scoring_crate() {
    let seed = std::env::var("NPS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| fastrand::u64(..));
    println!("NPS_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let s = stack("metrics", LINKS, &["product", "region"]).await;
    enps_survey(&s, "staff", &["team"]).await;

    // Purchases over 120 days, each answered (or only clicked) an hour or two later; eNPS answers
    // from a big team and a small one (3 people: under k = 5).
    let mut people = Vec::new();
    for i in 0..70 {
        let at = Timestamp::from_unix(START + rng.i64(0..DAYS * 86_400));
        let email = unique(&format!("metrics{i}"));
        let fields = if i < 60 {
            let mut properties = json!({"product": PRODUCTS[rng.usize(..3)], "region": REGIONS[rng.usize(..2)]});
            // Most purchases have an amount, in dollars or euros or (a few) no currency.
            if rng.u8(..5) > 0 {
                properties["amount"] = json!(format!("{}.{:02}", rng.u32(..2000), rng.u8(..100)));
                if let Some(currency) = ["USD", "eur"].get(rng.usize(..3)) {
                    properties["currency"] = json!(currency);
                }
            }
            json!({ "properties": properties })
        } else {
            json!({"survey": "staff", "properties": {"team": if i < 67 { TEAMS[0] } else { TEAMS[1] }}})
        };
        let answer = purchase_at(&s, &email, &format!("order-{i}-{email}"), fields, at).await;
        assert_eq!(answer["status"], "sent", "{answer}");
        let (link, _) = emailed_links(&s, &email, 0).await;
        people.push((link.replace(LINKS, "").split('?').next().unwrap().to_owned(), at));
    }
    for (i, (path, at)) in people.iter().enumerate() {
        let later = at.plus(std::time::Duration::from_secs(3600 + rng.u64(..3600)));
        // Skewed towards promoters, as real answers are; every tenth only clicks.
        let score = [0, 3, 5, 6, 7, 8, 8, 9, 9, 10, 10, 10][rng.usize(..12)];
        let page =
            s.capture.handle_at(capture_call(Method::GET, &format!("{path}?score={score}"), PERSON, ""), later).await;
        assert_eq!(page.status(), StatusCode::OK);
        if i % 10 != 3 || i >= 60 {
            let page =
                s.capture.handle_at(capture_call(Method::POST, path, PERSON, &format!("score={score}")), later).await;
            assert_eq!(page.status(), StatusCode::OK);
        }
    }
    support::aggregate(&s.table, &Aggregator::new(DynamoRollups::new(s.table.clone())), Timestamp::now()).await;

    let (_, key) =
        DynamoApiKeys::new(s.table.clone()).create(Scope::Read, "metrics test", Timestamp::now()).await.unwrap();
    let api = Api { app: api::App::new(s.table.clone()), key };
    let (raw, requests) = raw_items(&s).await;
    let survey = |id: &'static str| move |r: &Response| r.survey_id.as_str() == id;
    let within = |from: Date, to: Date| move |r: &Response| (from..=to).contains(&day_of(r.created_at));
    let property = |name: &'static str, value: String| move |r: &Response| r.properties.get(name) == Some(&value);
    let (since, until) =
        (day_of(Timestamp::from_unix(START + 10 * 86_400)), day_of(Timestamp::from_unix(START + 100 * 86_400)));
    let range = format!("since={since}&until={until}");

    // A range.
    let got = api.ok(&format!("survey=default&{range}")).await;
    assert_figures("range", &got, &expected(&raw, |r| survey("default")(r) && within(since, until)(r)));
    assert!(got["n"].as_u64().unwrap() >= 20, "enough answers to mean something: {got}");
    assert_eq!((got["survey"].as_str(), got["kind"].as_str()), (Some("default"), Some("transactional")));
    let sent = requests
        .iter()
        .filter(|r| r.survey_id.as_str() == "default" && (since..=until).contains(&day_of(r.created_at)))
        .count();
    assert_eq!(got["sent_count"], json!(sent), "surveys sent in the range");

    // Weighted by the amount: one figure per currency, each equal to a direct computation on the
    // raw answers' amounts; in each group and bucket too.
    let all_default = |r: &Response| survey("default")(r) && within(since, until)(r);
    let got = api.ok(&format!("survey=default&{range}&weight=amount")).await;
    assert_weighted("weighted range", &got, &raw, all_default);
    assert!(got["weighted"].as_array().unwrap().len() >= 2, "dollars and euros apart: {got}");
    let got = api.ok(&format!("survey=default&{range}&weight=amount&group_by=product&granularity=month")).await;
    for group in got["groups"].as_array().unwrap() {
        let product = group["value"].as_str().unwrap().to_owned();
        let keep = |r: &Response| all_default(r) && property("product", product.clone())(r);
        assert_weighted(&format!("weighted group {product}"), group, &raw, keep);
    }
    for bucket in got["series"].as_array().unwrap() {
        let keep = |r: &Response| survey("default")(r) && within(day(&bucket["start"]), day(&bucket["end"]))(r);
        assert_weighted(&format!("weighted month {}", bucket["start"]), bucket, &raw, keep);
    }
    assert!(api.ok(&format!("survey=default&{range}")).await.get("weighted").is_none(), "only when asked");

    // A segment.
    let got = api.ok(&format!("survey=default&{range}&segment.product=boots")).await;
    let boots =
        |r: &Response| survey("default")(r) && within(since, until)(r) && property("product", "boots".into())(r);
    assert_figures("segment", &got, &expected(&raw, boots));

    // A group-by: one group per value, each equal to its segment.
    let got = api.ok(&format!("survey=default&{range}&group_by=region")).await;
    let groups = got["groups"].as_array().unwrap();
    assert_eq!(groups.iter().map(|g| g["value"].as_str().unwrap()).collect::<Vec<_>>(), REGIONS);
    for group in groups {
        let region = group["value"].as_str().unwrap().to_owned();
        let keep =
            |r: &Response| survey("default")(r) && within(since, until)(r) && property("region", region.clone())(r);
        assert_figures(&format!("group {region}"), group, &expected(&raw, keep));
    }
    assert_figures("grouped total", &got, &expected(&raw, |r| survey("default")(r) && within(since, until)(r)));

    // Each granularity: buckets cover the range without gaps, each inside one day, ISO week or
    // month and the next in another, and each equals the raw scores of its days.
    for granularity in ["day", "week", "month"] {
        let got = api.ok(&format!("survey=default&{range}&granularity={granularity}")).await;
        let series = got["series"].as_array().unwrap();
        let bucket_of = |d: Date| match granularity {
            "day" => (d.year(), d.ordinal() as u32),
            "week" => {
                let (year, week, _) = d.to_iso_week_date();
                (year, u32::from(week))
            }
            _ => (d.year(), d.month() as u32),
        };
        let mut next = since;
        for (i, bucket) in series.iter().enumerate() {
            let (start, end) = (day(&bucket["start"]), day(&bucket["end"]));
            assert_eq!(start, next, "{granularity}: bucket {i} starts where the last ended");
            assert_eq!(bucket_of(start), bucket_of(end), "{granularity}: bucket {i} is one {granularity}");
            if i > 0 {
                assert_ne!(
                    bucket_of(start),
                    bucket_of(start - Duration::days(1)),
                    "{granularity}: bucket {i} is whole"
                );
            }
            let keep = |r: &Response| survey("default")(r) && within(start, end)(r);
            assert_figures(&format!("{granularity} {start}"), bucket, &expected(&raw, keep));
            next = end + Duration::days(1);
        }
        assert_eq!(next, until + Duration::days(1), "{granularity}: the series ends with the range");
        if granularity == "week" {
            assert!(series.iter().skip(1).all(|b| day(&b["start"]).weekday() == Weekday::Monday));
        }
    }

    // The previous period: delta and z as the scoring crate compares the two.
    let got = api.ok(&format!("survey=default&since={since}&until={until}&compare=previous_period")).await;
    let length = (until - since).whole_days() + 1;
    let (before_since, before_until) = (since - Duration::days(length), since - Duration::days(1));
    let comparison = &got["comparison"];
    assert_eq!((day(&comparison["previous_since"]), day(&comparison["previous_until"])), (before_since, before_until));
    let previous = expected(&raw, |r| survey("default")(r) && within(before_since, before_until)(r));
    assert_figures("previous period", &comparison["previous"], &previous);
    let current = expected(&raw, |r| survey("default")(r) && within(since, until)(r));
    match compare(&current.0, &previous.0) {
        Some(c) => {
            assert!((comparison["delta"].as_f64().unwrap() - c.delta).abs() < 0.001);
            assert_eq!(comparison["z"].as_f64().map(|z| (z * 1000.0).round()), c.z.map(|z| (z * 1000.0).round()));
            assert_eq!(comparison["significant"], json!(c.significant));
        }
        None => assert!(comparison["delta"].is_null()),
    }

    // eNPS: the kind alone combines its surveys; only settled months with 5 answers or more count
    // (tests/enps_anonymity.rs tries the attacks on these rules).
    let whole = day_of(Timestamp::from_unix(START));
    let today = day_of(Timestamp::from_unix(START + DAYS * 86_400));
    let got = api.ok(&format!("kind=enps&since={whole}&until={today}")).await;
    assert_eq!(got["surveys"], json!(["staff"]));
    let month_of = |d: Date| (d.year(), d.month());
    let mut by_month: BTreeMap<(i32, time::Month), usize> = BTreeMap::new();
    for r in raw.iter().filter(|r| survey("staff")(r) && r.score.is_some()) {
        *by_month.entry(month_of(day_of(r.created_at))).or_default() += 1;
    }
    // A month settles 8 days after it ends (the change window and a day).
    let month_end = |d: Date| {
        let (year, month) =
            if d.month() == time::Month::December { (d.year() + 1, 1) } else { (d.year(), d.month() as u8 + 1) };
        Date::from_calendar_date(year, time::Month::try_from(month).unwrap(), 1).unwrap() - Duration::days(1)
    };
    let settled = |d: Date| month_end(d) + Duration::days(8) < today;
    let shown = |r: &Response| {
        survey("staff")(r) && settled(day_of(r.created_at)) && by_month[&month_of(day_of(r.created_at))] >= 5
    };
    if raw.iter().any(|r| shown(r) && r.score.is_some()) {
        let (want, _) = expected(&raw, shown);
        assert_eq!((got["n"].clone(), got["withheld"].clone()), (json!(want.n), json!(false)), "{got}");
        assert_eq!(got["nps_rounded"], json!(want.nps_rounded));
    } else {
        assert_eq!((got["withheld"].clone(), got["n"].clone()), (json!(true), Value::Null), "{got}");
    }
    assert!(got["unconfirmed_count"].is_null(), "no single act is shown");
}

#[tokio::test]
async fn bad_calls_get_a_clear_4xx_naming_the_parameter() {
    let s = stack("metrics-errors", LINKS, &["product"]).await;
    let (_, key) = DynamoApiKeys::new(s.table.clone()).create(Scope::Read, "errors", Timestamp::now()).await.unwrap();
    let api = Api { app: api::App::new(s.table.clone()), key };
    for (query, status, parameter) in [
        ("", StatusCode::BAD_REQUEST, "survey"),
        ("survey=nope", StatusCode::BAD_REQUEST, "survey"),
        ("survey=default&kind=enps", StatusCode::BAD_REQUEST, "kind"),
        ("survey=default&segment.colour=red", StatusCode::BAD_REQUEST, "segment.colour"),
        ("survey=default&group_by=region", StatusCode::BAD_REQUEST, "group_by"),
        ("survey=default&since=2026-02-30", StatusCode::BAD_REQUEST, "since"),
        // The calendar's ends: a 400 naming the date, never a panic in the arithmetic after it.
        ("survey=default&until=9999-12-31", StatusCode::BAD_REQUEST, "until"),
        (
            "survey=default&since=-9999-01-01&until=-9999-01-31&compare=previous_period",
            StatusCode::BAD_REQUEST,
            "since",
        ),
        ("survey=default&granularity=year", StatusCode::BAD_REQUEST, "granularity"),
        ("survey=default&limit=5", StatusCode::BAD_REQUEST, "limit"),
        ("survey=default&weight=colour", StatusCode::BAD_REQUEST, "weight"),
        ("survey=default&weight=Amount%20Due", StatusCode::BAD_REQUEST, "weight"),
        ("kind=enps&weight=amount", StatusCode::BAD_REQUEST, "weight"),
    ] {
        let (got, body) = api.get(query).await;
        assert_eq!(got, status, "{query}: {body}");
        assert_eq!(body["error"]["code"], "invalid_request", "{query}");
        assert!(body["error"]["message"].as_str().unwrap().starts_with(&format!("{parameter}:")), "{query}: {body}");
    }
    let (got, body) = api.get("survey=default").await;
    assert_eq!(got, StatusCode::OK, "{body}");
    assert_eq!((body["n"].clone(), body["nps"].clone()), (json!(0), Value::Null), "no answers yet: null, not 0");
    assert_eq!(body["series"].as_array().unwrap().len(), 30, "the last 30 days by default");

    let request = |method: Method, auth: Option<&str>| {
        let builder = Request::builder().method(method).uri("http://127.0.0.1/v1/metrics?survey=default");
        let builder = match auth {
            Some(auth) => builder.header("authorization", auth),
            None => builder,
        };
        builder.body(Body::Empty).unwrap()
    };
    for (req, status, code) in [
        (request(Method::GET, None), StatusCode::UNAUTHORIZED, "unauthorized"),
        (
            request(Method::GET, Some("Bearer nps_0000000000000000_00000000000000000000000000000000")),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            request(Method::POST, Some(&format!("Bearer {}", api.key))),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ] {
        let response = api.app.handle(req).await;
        assert_eq!(response.status(), status);
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["error"]["code"], code);
    }
}
