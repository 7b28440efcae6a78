//! Relationship NPS on a cadence, against DynamoDB Local with time injected (not slept): a list
//! enrolled through Delighted's Autopilot calls is asked once per 30-day period over a simulated
//! year, its first wave spread so no day gets more than twice its share, with two dispatch runs
//! racing every day; a pause sends nothing and its missed waves are skipped, not sent on resuming;
//! a member removed, unsubscribed or erased is asked no more. `NPS_CADENCE_MEMBERS` sets the list's
//! size (100 by default). Under the fatigue rule, a purchase's survey pushes a member's next wave
//! and a wave makes a purchase soon after wait, both answered as throttles; or only one of the two,
//! as the operator chooses (`NPS_FATIGUE_PUSHES`).

mod support;

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

/// Every email "sent", by address, with the simulated day it went on.
#[derive(Clone, Default)]
struct Inbox {
    today: Arc<AtomicI64>,
    sent: Arc<Mutex<BTreeMap<String, Vec<i64>>>>,
}

impl Mailer for Inbox {
    async fn send(&self, email: &OutgoingEmail) -> Result<MessageId, MailError> {
        let day = self.today.load(Ordering::SeqCst);
        self.sent.lock().unwrap().entry(email.to.as_str().to_owned()).or_default().push(day);
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
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
    let req = Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1{path}"))
        .header("authorization", format!("Basic {auth}"))
        .header("content-type", "application/json")
        .body(body.map_or(Body::Empty, |b| Body::from(b.to_string())))
        .unwrap();
    let answer = s.api().handle(req).await;
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
    // On a thread with Lambda's stack (8 MB): unoptimised, the calls need more than 2 MB.
    let run = || tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(year());
    std::thread::Builder::new().stack_size(8 << 20).spawn(run).unwrap().join().unwrap();
}

async fn year() {
    let members: usize = std::env::var("NPS_CADENCE_MEMBERS").ok().and_then(|n| n.parse().ok()).unwrap_or(100);
    // No stream: nothing here aggregates, and a year of waves would slow other tests' stream reads.
    let s = stack_with("cadence", LINKS, &[], false).await;
    relationship_survey(&s, "relationship", &["plan"]).await;
    set_cadence(&s, false).await;
    let (_, key) = DynamoApiKeys::new(s.table.clone()).create(Scope::Write, "cadence", Timestamp::now()).await.unwrap();
    let (status, config) = delighted(&s, &key, Method::GET, "/v1/autopilot/email", None).await;
    assert_eq!((status, config["frequency"].as_i64()), (StatusCode::OK, Some(PERIOD_DAYS * DAY)), "{config}");

    // The list, enrolled now (day 0) through Delighted's calls; addresses fixed, so the spread is.
    let start = Timestamp::now().unix() / DAY * DAY;
    let email = |i: usize| format!("member-{i}@cadence.example");
    for i in 0..members {
        let body = json!({"person_email": email(i), "properties": {"plan": if i % 2 == 0 { "pro" } else { "free" }}});
        let (status, m) = delighted(&s, &key, Method::POST, "/v1/autopilot/email/memberships", Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{m}");
        let due = m["next_survey_request"]["survey_scheduled_at"].as_i64().unwrap();
        assert!(
            due >= Timestamp::now().unix() - 5 && due <= start + (PERIOD_DAYS + 1) * DAY,
            "first wave within a period"
        );
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
    let run = || tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(fatigue());
    std::thread::Builder::new().stack_size(8 << 20).spawn(run).unwrap().join().unwrap();
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
    // The list's first member: first asked as soon as they join (place 0).
    let (status, _) =
        delighted(&s, &key, Method::POST, "/v1/autopilot/email/memberships", Some(json!({"person_email": email})))
            .await;
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
    let (status, _) = delighted(&s, &key, Method::POST, "/v1/autopilot/email/memberships", Some(body)).await;
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
