//! Relationship NPS on a cadence, against DynamoDB Local with time injected (not slept): a list
//! enrolled through Delighted's Autopilot calls is asked once per 30-day period over a simulated
//! year, its first wave spread so no day gets more than twice its share, with two dispatch runs
//! racing every day; a pause sends nothing and its missed waves are skipped, not sent on resuming;
//! a member removed, unsubscribed or erased is asked no more. `NPS_CADENCE_MEMBERS` sets the list's
//! size (1,000 by default, as the issue asks; about 4 minutes). Under the fatigue rule, a purchase's survey pushes a member's next wave
//! and a wave makes a purchase soon after wait, both answered as throttles; or only one of the two,
//! as the operator chooses (`NPS_FATIGUE_PUSHES`).

use crate::support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use lambda_http::Body;
use lambda_http::http::{Method, Request, StatusCode};
use nps_adapters::dynamo::{DynamoApiKeys, DynamoSurveys, Scope};
use nps_domain::Timestamp;
use nps_domain::mail::{MailError, Mailer, MessageId, OutgoingEmail};
use nps_domain::survey::Cadence;
use serde_json::{Value, json};
use support::{PERSON_KEY, Stack, relationship_survey, stack_with};

const LINKS: &str = "https://nps.example";
const DAY: i64 = 86_400;
const PERIOD_DAYS: i64 = 30;

/// Every email "sent", by address, with the simulated day it went on; and each one's answer link.
#[derive(Clone, Default)]
struct Inbox {
    today: Arc<AtomicI64>,
    sent: Arc<Mutex<BTreeMap<String, Vec<i64>>>>,
    /// (address, the path of its answer link), in the order sent.
    links: Arc<Mutex<Vec<(String, String)>>>,
}

impl Mailer for Inbox {
    async fn send(&self, email: &OutgoingEmail) -> Result<MessageId, MailError> {
        let day = self.today.load(Ordering::SeqCst);
        self.sent.lock().unwrap().entry(email.to.as_str().to_owned()).or_default().push(day);
        let link = email.text.split_whitespace().find(|w| w.starts_with(&format!("{LINKS}/r/")));
        let path = link.map(|l| l.trim_start_matches(LINKS).split('?').next().unwrap_or_default().to_owned());
        self.links.lock().unwrap().push((email.to.as_str().to_owned(), path.unwrap_or_default()));
        Ok(MessageId(format!("m-{day}")))
    }
}

async fn outbox(s: &Stack, inbox: &Inbox) -> nps_sending::Outbox<Inbox> {
    outbox_with(s, inbox, "0", "both").await
}

/// The dispatch function's work with the fatigue rule of `fatigue_days`, pushing `pushes`.
async fn outbox_with(s: &Stack, inbox: &Inbox, fatigue_days: &str, pushes: &str) -> nps_sending::Outbox<Inbox> {
    let vars = BTreeMap::from([
        ("NPS_PERSON_KEY", PERSON_KEY.to_owned()),
        ("NPS_TOKEN_KEYS", support::TOKEN_KEYS.to_owned()),
        ("NPS_CAPTURE_BASE_URL", LINKS.to_owned()),
        ("NPS_FATIGUE_DAYS", fatigue_days.to_owned()),
        ("NPS_FATIGUE_PUSHES", pushes.to_owned()),
    ]);
    let config = nps_sending::SendingConfig::from_lookup(&|k: &str| vars.get(k).cloned()).unwrap();
    nps_sending::Outbox::new(s.table.clone(), inbox.clone(), config)
}

async fn delighted(s: &Stack, key: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    delighted_at(s, key, method, path, body, Timestamp::now()).await
}

/// The Delighted-shaped API called as if at `at`.
async fn delighted_at(
    s: &Stack,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    at: Timestamp,
) -> (StatusCode, Value) {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
    let req = Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1{path}"))
        .header("authorization", format!("Basic {auth}"))
        .header("content-type", "application/json")
        .body(body.map_or(Body::Empty, |b| Body::from(b.to_string())))
        .unwrap();
    let answer = s.api().handle_at(req, at).await;
    (answer.status(), serde_json::from_slice(answer.body().as_ref()).unwrap_or(Value::Null))
}

async fn set_cadence(s: &Stack, paused: bool) {
    let surveys = DynamoSurveys::new(s.table.clone());
    let id = nps_domain::survey::SurveyId::parse("relationship").unwrap();
    let mut survey = surveys.get(&id).await.unwrap().unwrap();
    survey.cadence = Some(Cadence { frequency_days: PERIOD_DAYS as u32, paused });
    surveys.put(&survey).await.unwrap();
}

#[test]
fn a_list_is_asked_once_per_period_spread_paused_and_left() {
    support::on_lambda_stack(year);
}

async fn year() {
    let members: usize = std::env::var("NPS_CADENCE_MEMBERS").ok().and_then(|n| n.parse().ok()).unwrap_or(1000);
    // No stream: nothing here aggregates, and a year of waves would slow other tests' stream reads.
    let s = stack_with("cadence", LINKS, &[], false).await;
    relationship_survey(&s, "relationship", &["plan"]).await;
    set_cadence(&s, false).await;
    let (_, key) = DynamoApiKeys::new(s.table.clone()).create(Scope::Write, "cadence", Timestamp::now()).await.unwrap();
    let (status, config) = delighted(&s, &key, Method::GET, "/v1/autopilot/email", None).await;
    assert_eq!((status, config["frequency"].as_i64()), (StatusCode::OK, Some(PERIOD_DAYS * DAY)), "{config}");

    // The list, enrolled at the start of day 0 through Delighted's calls (not at the clock's now:
    // run after noon, the last places' first wave fell after day 30's dispatch); addresses fixed,
    // so the spread is.
    let start = Timestamp::now().unix() / DAY * DAY;
    let email = |i: usize| format!("member-{i}@cadence.example");
    for i in 0..members {
        let body = json!({"person_email": email(i), "properties": {"plan": if i % 2 == 0 { "pro" } else { "free" }}});
        let path = "/v1/autopilot/email/memberships";
        let (status, m) = delighted_at(&s, &key, Method::POST, path, Some(body), Timestamp::from_unix(start)).await;
        assert_eq!(status, StatusCode::OK, "{m}");
        let due = m["next_survey_request"]["survey_scheduled_at"].as_i64().unwrap();
        assert!(due >= start && due < start + PERIOD_DAYS * DAY, "first wave within a period: {due}");
    }
    let (_, page) = delighted(&s, &key, Method::GET, "/v1/autopilot/email/memberships?per_page=100", None).await;
    assert_eq!(page.as_array().unwrap().len(), members.min(100));

    let inbox = Inbox::default();
    let (first, second) = (outbox(&s, &inbox).await, outbox(&s, &inbox).await);
    let (removed, unsubscribed, erased) = (email(0), email(1), email(2));
    let (pause_from, pause_until) = (150, 215);
    for day in 0..=365i64 {
        inbox.today.store(day, Ordering::SeqCst);
        match day {
            40 => {
                let body = json!({"person_email": removed});
                let (status, _) =
                    delighted(&s, &key, Method::DELETE, "/v1/autopilot/email/memberships", Some(body)).await;
                assert_eq!(status, StatusCode::OK);
                let body = json!({"person_email": unsubscribed});
                assert_eq!(delighted(&s, &key, Method::POST, "/v1/unsubscribes", Some(body)).await.0, StatusCode::OK);
                let path = format!("/v1/people/email%3A{}", erased.replace('@', "%40"));
                assert_eq!(delighted(&s, &key, Method::DELETE, &path, None).await.0, StatusCode::ACCEPTED);
            }
            d if d == pause_from => set_cadence(&s, true).await,
            d if d == pause_until => set_cadence(&s, false).await,
            _ => {}
        }
        let now = Timestamp::from_unix(start + day * DAY + 12 * 3600);
        // Two runs at once, every day: one survey per member and wave all the same.
        loop {
            let (a, b) = tokio::join!(first.dispatch(now), second.dispatch(now));
            let (a, b) = (a.unwrap(), b.unwrap());
            if a.waves + b.waves + a.waves_skipped + b.waves_skipped == 0 {
                break;
            }
        }
    }

    let sent = inbox.sent.lock().unwrap().clone();
    let mut per_day: BTreeMap<i64, usize> = BTreeMap::new();
    for (address, days) in &sent {
        for d in days {
            *per_day.entry(*d).or_default() += 1;
        }
        if [&removed, &unsubscribed, &erased].contains(&address) {
            assert!(days.iter().all(|d| *d < 40), "{address} was asked after leaving: {days:?}");
            continue;
        }
        assert!(days.iter().all(|d| !(pause_from..pause_until).contains(d)), "{address}: sent while paused: {days:?}");
        // Once per period: 30 days apart, or a whole number of periods across the pause.
        for pair in days.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap >= PERIOD_DAYS - 1 && (gap % PERIOD_DAYS <= 1 || gap % PERIOD_DAYS == PERIOD_DAYS - 1),
                "{address}: {days:?}"
            );
        }
        assert!(days[0] <= PERIOD_DAYS, "{address}: first asked on day {}", days[0]);
        assert!(days.len() >= 9, "{address}: {} surveys in a year with a 2-month pause", days.len());
    }
    assert_eq!(sent.len(), members, "every member was asked");
    let share = members as f64 / PERIOD_DAYS as f64;
    let busiest = per_day.values().max().copied().unwrap_or(0);
    assert!((busiest as f64) <= 2.0 * share, "no day gets more than twice its share ({share:.1}): {per_day:?}");
    let resumed = per_day.get(&pause_until).copied().unwrap_or(0);
    assert!((resumed as f64) <= 2.0 * share, "resuming does not send the missed waves at once: {resumed}");
}

#[test]
fn the_fatigue_rule_pushes_a_wave_after_a_purchase_and_the_other_way_round() {
    support::on_lambda_stack(fatigue);
}

async fn fatigue() {
    let s = stack_with("cadence-fatigue", LINKS, &[], false).await;
    relationship_survey(&s, "relationship", &[]).await;
    set_cadence(&s, false).await;
    let (_, key) = DynamoApiKeys::new(s.table.clone()).create(Scope::Write, "fatigue", Timestamp::now()).await.unwrap();
    let inbox = Inbox::default();
    let outbox = outbox_with(&s, &inbox, "14", "both").await;
    let start = Timestamp::now().unix() / DAY * DAY;
    let at = |day: i64, hour: i64| Timestamp::from_unix(start + day * DAY + hour * 3600);
    let email = "fatigued@cadence.example";
    // The list's first member, joining at the start of day 0: first asked as soon as they join
    // (place 0).
    let body = json!({"person_email": email});
    let (status, _) =
        delighted_at(&s, &key, Method::POST, "/v1/autopilot/email/memberships", Some(body), at(0, 0)).await;
    assert_eq!(status, StatusCode::OK);
    // A purchase an hour later is surveyed before the list's wave is dispatched…
    let purchase = |id: &str| purchase_event(email, id);
    inbox.today.store(0, Ordering::SeqCst);
    let bought = outbox.accept("generic", &purchase("order-1"), at(0, 1)).await.unwrap();
    assert_eq!(format!("{:?}", bought.outcome.status), "Sent");
    // …so the wave waits for the fatigue window (14 days) instead of lapsing.
    for day in 0..=50 {
        inbox.today.store(day, Ordering::SeqCst);
        outbox.dispatch(at(day, 12)).await.unwrap();
    }
    let days = inbox.sent.lock().unwrap().get(email).cloned().unwrap();
    assert_eq!(days, [0, 14, 44], "the purchase's survey, the pushed wave, the next wave a period on");
    // The other way round: a purchase the day after a wave is throttled until the window ends.
    let late = outbox.accept("generic", &purchase("order-2"), at(45, 9)).await.unwrap();
    assert_eq!(late.outcome.reason, Some(nps_domain::intake::SkipReason::Throttled), "{:?}", late.outcome);
    let until = Timestamp::parse_rfc3339(late.outcome.next_eligible_at.as_deref().unwrap()).unwrap();
    assert_eq!((until.unix() - start) / DAY, 44 + 14, "eligible again when the wave's window ends");
}

/// A purchase by `email`, order `id`, for the default (transactional) survey.
fn purchase_event(email: &str, id: &str) -> nps_domain::intake::TriggerEvent {
    nps_domain::intake::TriggerEvent {
        event_id: id.to_owned(),
        email: nps_domain::EmailAddress::parse(email).unwrap(),
        name: None,
        locale: None,
        survey: None,
        transaction_id: Some(id.to_owned()),
        occurred_at: None,
        send_at: None,
        delay: None,
        properties: BTreeMap::new(),
    }
}

#[test]
fn the_fatigue_rule_pushes_only_the_kind_the_operator_chose() {
    let run = || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        // Only waves pushed: purchases on days 1 and 25 both go; the second pushes the day-30 wave.
        rt.block_on(pushes("relationship", [None, None], &[0, 1, 25, 39]));
        // Only purchases pushed: the day-1 purchase waits out the wave's window; the day-30 wave
        // goes although the day-25 purchase was surveyed.
        rt.block_on(pushes("transactional", [Some(14), None], &[0, 25, 30]));
    };
    std::thread::Builder::new().stack_size(8 << 20).spawn(run).unwrap().join().unwrap();
}

/// A member first asked on day 0 of a 30-day cadence, purchases on days 1 and 25, a 14-day
/// fatigue window pushing `pushes`: each purchase throttled until the day given (or surveyed),
/// and the days the person got a survey.
async fn pushes(pushes: &str, throttled_until: [Option<i64>; 2], sent_on: &[i64]) {
    let s = stack_with(&format!("cadence-pushes-{pushes}"), LINKS, &[], false).await;
    relationship_survey(&s, "relationship", &[]).await;
    set_cadence(&s, false).await;
    let (_, key) = DynamoApiKeys::new(s.table.clone()).create(Scope::Write, "pushes", Timestamp::now()).await.unwrap();
    let inbox = Inbox::default();
    let outbox = outbox_with(&s, &inbox, "14", pushes).await;
    let start = Timestamp::now().unix() / DAY * DAY;
    let at = |day: i64, hour: i64| Timestamp::from_unix(start + day * DAY + hour * 3600);
    let email = "pushed@cadence.example";
    let body = json!({"person_email": email});
    // Enrolled at the start of day 0, not at the clock's now: run after noon, day 0's dispatch (at
    // noon) found the first wave not yet due.
    let (status, _) =
        delighted_at(&s, &key, Method::POST, "/v1/autopilot/email/memberships", Some(body), at(0, 0)).await;
    assert_eq!(status, StatusCode::OK);
    let mut purchases = [1, 25].into_iter().zip(throttled_until);
    let mut next_purchase = purchases.next();
    for day in 0..=45 {
        inbox.today.store(day, Ordering::SeqCst);
        if let Some((on, until)) = next_purchase.filter(|(on, _)| *on == day) {
            let bought = outbox.accept("generic", &purchase_event(email, &format!("order-{on}")), at(day, 1)).await;
            let outcome = bought.unwrap().outcome;
            let held = outcome.next_eligible_at.as_deref().and_then(Timestamp::parse_rfc3339);
            match until {
                Some(until) => {
                    assert_eq!(
                        outcome.reason,
                        Some(nps_domain::intake::SkipReason::Throttled),
                        "{pushes}: {outcome:?}"
                    );
                    assert_eq!(held.map(|h| (h.unix() - start) / DAY), Some(until), "{pushes}");
                }
                None => assert_eq!(format!("{:?}", outcome.status), "Sent", "{pushes}, day {day}: {outcome:?}"),
            }
            next_purchase = purchases.next();
        }
        outbox.dispatch(at(day, 12)).await.unwrap();
    }
    let days = inbox.sent.lock().unwrap().get(email).cloned().unwrap();
    assert_eq!(days, sent_on, "{pushes}: the days a survey went");
}

#[test]
fn each_wave_is_reported_with_its_response_rate_and_nps_never_merged_with_purchases() {
    support::on_lambda_stack(reporting);
}

/// Three waves of a 30-day cadence from 2026-07-01: 40 members, of whom 30, 20 and 10 answer
/// (promoters, then detractors, then a mix), with a purchase answered 0 beside them; and an eNPS
/// list whose waves are reported as the whole months that begin in them.
async fn reporting() {
    const START: i64 = 1_782_864_000; // 2026-07-01T00:00:00Z
    let s = support::stack("cadence-waves", LINKS, &[]).await;
    relationship_survey(&s, "relationship", &[]).await;
    set_cadence(&s, false).await;
    support::enps_survey(&s, "staff", &[]).await;
    let surveys = DynamoSurveys::new(s.table.clone());
    let mut staff = surveys.get(&nps_domain::survey::SurveyId::parse("staff").unwrap()).await.unwrap().unwrap();
    staff.cadence = Some(Cadence { frequency_days: PERIOD_DAYS as u32, paused: false });
    surveys.put(&staff).await.unwrap();
    let (_, key) = DynamoApiKeys::new(s.table.clone()).create(Scope::Write, "waves", Timestamp::now()).await.unwrap();
    let at = |day: i64, hour: i64| Timestamp::from_unix(START + day * DAY + hour * 3600);
    let enrol = |survey: &'static str, prefix: &'static str, count: usize| {
        let members: Vec<Value> = (0..count).map(|i| json!({"email": format!("{prefix}-{i}@waves.example")})).collect();
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("http://127.0.0.1/v1/surveys/{survey}/members"))
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(Body::from(json!({"members": members}).to_string()))
            .unwrap();
        let api = s.api();
        async move { api.handle_at(req, at(0, 0)).await.status() }
    };
    assert_eq!(enrol("relationship", "member", 40).await, StatusCode::OK);
    assert_eq!(enrol("staff", "employee", 20).await, StatusCode::OK);

    let inbox = Inbox::default();
    let outbox = outbox(&s, &inbox).await;
    let answer = |path: String, score: u8, when: Timestamp| {
        let capture = s.capture.clone();
        async move {
            let form = format!("score={score}");
            let call = support::capture_call(Method::POST, &path, "Mozilla/5.0 (person)", &form);
            assert_eq!(capture.handle_at(call, when).await.status(), StatusCode::OK);
        }
    };
    // A purchase answered 0 in the middle of the first wave: transactional, never in these figures.
    let bought = support::purchase_at(&s, "buyer@waves.example", "order-1", json!({}), at(10, 9)).await;
    assert_eq!(bought["status"], "sent", "{bought}");
    let (link, _) = support::emailed_links(&s, "buyer@waves.example", 0).await;
    answer(link.replace(LINKS, "").split('?').next().unwrap().to_owned(), 0, at(10, 10)).await;

    let mut expected: BTreeMap<i64, Vec<u8>> = BTreeMap::new();
    let mut answered = 0;
    for day in 0..90 {
        inbox.today.store(day, Ordering::SeqCst);
        outbox.dispatch(at(day, 12)).await.unwrap();
        let sent: Vec<(String, String)> = inbox.links.lock().unwrap()[answered..].to_vec();
        answered += sent.len();
        let wave = day / PERIOD_DAYS + 1;
        for (to, path) in sent {
            let i: usize = to.split(['-', '@']).nth(1).unwrap().parse().unwrap();
            if to.starts_with("employee-") {
                answer(path, [9, 10, 7, 3][i % 4], at(day, 13)).await;
                continue;
            }
            let (answers, score) = match wave {
                1 => (!i.is_multiple_of(4), [9, 10, 10, 8][i % 4]),
                2 => (i.is_multiple_of(2), [2, 6, 9, 4][i % 4]),
                _ => (i.is_multiple_of(4), [10, 0, 7, 7][i % 4 / 2 * 2 + (i / 4) % 2]),
            };
            if answers {
                answer(path, score, at(day, 13)).await;
                expected.entry(wave).or_default().push(score);
            }
        }
    }
    assert_eq!(inbox.sent.lock().unwrap().len(), 60, "40 members and 20 employees, each asked");
    fold(&s).await;

    let metrics = |query: &'static str| {
        let req = Request::builder()
            .uri(format!("http://127.0.0.1/v1/metrics?{query}"))
            .header("authorization", format!("Bearer {key}"))
            .body(Body::Empty)
            .unwrap();
        let api = s.api();
        async move {
            let answer = api.handle_at(req, at(120, 0)).await;
            let body: Value = serde_json::from_slice(answer.body().as_ref()).unwrap();
            assert_eq!(answer.status(), StatusCode::OK, "{query}: {body}");
            body
        }
    };
    let got = metrics("survey=relationship&granularity=wave&since=2026-07-01&until=2026-09-28").await;
    assert_eq!(got["granularity"], "wave");
    let series = got["series"].as_array().unwrap();
    let spans: Vec<(&str, &str, i64)> = series
        .iter()
        .map(|b| (b["start"].as_str().unwrap(), b["end"].as_str().unwrap(), b["wave"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        spans,
        [("2026-07-01", "2026-07-30", 1), ("2026-07-31", "2026-08-29", 2), ("2026-08-30", "2026-09-28", 3)]
    );
    for (bucket, (wave, scores)) in series.iter().zip(&expected) {
        let mut histogram = nps_scoring::Histogram::EMPTY;
        scores.iter().for_each(|&s| histogram.insert(nps_scoring::Score::try_from(s).unwrap()));
        let summary = nps_scoring::Summary::of(&histogram);
        assert_eq!(bucket["sent_count"], json!(40), "wave {wave}: every member asked once");
        assert_eq!(bucket["n"], json!(scores.len()), "wave {wave}");
        assert_eq!(bucket["response_rate"], json!(scores.len() as f64 / 40.0), "wave {wave}");
        assert_eq!(bucket["nps"].as_f64(), summary.nps, "wave {wave}: {bucket}");
    }
    assert_eq!(expected.values().map(Vec::len).collect::<Vec<_>>(), [30, 20, 10]);
    // The purchase's 0 is in the transactional figures only.
    let relationship = metrics("kind=relationship&since=2026-07-01&until=2026-09-28").await;
    assert_eq!(relationship["n"], json!(60));
    let transactional = metrics("kind=transactional&since=2026-07-01&until=2026-09-28").await;
    assert_eq!((transactional["n"].clone(), transactional["detractor_count"].clone()), (json!(1), json!(1)));
    // eNPS: each wave is the whole months that begin in it (July, August, September here).
    let by_wave = metrics("survey=staff&granularity=wave&since=2026-07-01&until=2026-09-30").await;
    let by_month = metrics("survey=staff&since=2026-07-01&until=2026-09-30").await;
    let figures = |b: &Value| (b["n"].clone(), b["nps"].clone(), b["sent_count"].clone());
    let waves: Vec<_> = by_wave["series"].as_array().unwrap().iter().map(figures).collect();
    let months: Vec<_> = by_month["series"].as_array().unwrap().iter().map(figures).collect();
    // The range widens to whole months (to 30 September): wave 4 begins on 29 September, no month in it.
    assert_eq!(waves.len(), 4);
    assert_eq!(waves[..3], months, "an eNPS wave is a sum of whole months");
    assert!(matches!(waves[3].0.as_u64(), None | Some(0)), "{:?}", waves[3]);
    assert!(by_wave["series"][0]["n"].as_u64() >= Some(20), "every employee answered in July");
    // The dashboard's trend marks where each wave begins.
    let form = "application/x-www-form-urlencoded";
    let sign_in = Request::builder()
        .method(Method::POST)
        .uri("http://127.0.0.1/dashboard")
        .header("host", "127.0.0.1")
        .header("content-type", form)
        .body(Body::from(format!("action=sign-in&key={key}")))
        .unwrap();
    let signed_in = s.api().handle_at(sign_in, at(80, 0)).await;
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let page = Request::builder()
        .uri("http://127.0.0.1/dashboard?survey=relationship&range=90")
        .header("host", "127.0.0.1")
        .header("cookie", cookie)
        .body(Body::Empty)
        .unwrap();
    let page = s.api().handle_at(page, at(80, 0)).await;
    let html = String::from_utf8(page.body().to_vec()).unwrap();
    assert_eq!(html.matches(r#"<line class="wave""#).count(), 3, "waves 1 to 3 begin in the last 90 days");
    for (wave, day) in [(1, "2026-07-01"), (2, "2026-07-31"), (3, "2026-08-30")] {
        assert!(html.contains(&format!("Wave {wave} begins {day}")), "wave {wave}");
    }
    // Waves need one survey with a list.
    let req = Request::builder()
        .uri("http://127.0.0.1/v1/metrics?survey=default&granularity=wave")
        .header("authorization", format!("Bearer {key}"))
        .body(Body::Empty)
        .unwrap();
    assert_eq!(s.api().handle_at(req, at(120, 0)).await.status(), StatusCode::BAD_REQUEST);
}

/// Folds everything the table's stream holds into the rollups.
async fn fold(s: &Stack) {
    let aggregator = nps_aggregation::Aggregator::new(nps_adapters::dynamo::DynamoRollups::new(s.table.clone()));
    support::aggregate(&s.table, &aggregator, Timestamp::now()).await;
}
