//! The intake's rules as one pure function: what an event gets, decided from what was read about
//! it in one round trip. The writes that follow re-check dedupe and throttle under conditions, so
//! that concurrent events cannot both pass.

use std::time::Duration;

use nps_adapters::dynamo::{Eligibility, SuppressionReason, Windows};
use nps_domain::Timestamp;
use nps_domain::intake::{Outcome, SkipReason, Status, TriggerEvent};
use nps_domain::person::PersonId;
use nps_domain::request::{RequestId, RequestState, SurveyRequest};
use nps_domain::survey::Survey;
use nps_domain::weight::Weights;

use crate::{CADENCE_SOURCE, SendingConfig};

/// What was read about one event.
pub(crate) struct Intake<'a> {
    pub source: &'a str,
    pub event: &'a TriggerEvent,
    pub survey: &'a Survey,
    pub person: &'a PersonId,
    pub known: &'a Eligibility,
    pub now: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decision {
    /// Nothing to write but the outcome.
    Skip(Outcome),
    /// The survey has a list: the person joins it (its waves ask them, under the rules of the day).
    Enrol { period: Duration },
    /// A new request, written with the windows it opens.
    Create { request: Box<SurveyRequest>, windows: Windows, outcome: Outcome },
}

/// The rules, in order: dedupe on (survey, transaction), suppression, throttle, fatigue, then
/// scheduling.
pub(crate) fn decide(i: &Intake<'_>, config: &SendingConfig) -> Decision {
    let (event, survey, known, now) = (i.event, i.survey, i.known, i.now);
    let wave = i.source == CADENCE_SOURCE;
    if let Some(cadence) = survey.cadence.filter(|_| !wave) {
        return match known.suppression {
            Some(reason) => Decision::Skip(Outcome::skipped(suppression_reason(reason))),
            None => Decision::Enrol { period: cadence.period(config.cadence_day) },
        };
    }
    if let Some(existing) = &known.transaction {
        return Decision::Skip(Outcome::skipped(SkipReason::DuplicateTransaction).with_request(existing.clone()));
    }
    if let Some(reason) = known.suppression {
        return Decision::Skip(Outcome::skipped(suppression_reason(reason)));
    }
    if let Some(until) = known.throttled_until.filter(|&until| until > now) {
        return Decision::Skip(Outcome::skipped(SkipReason::Throttled).eligible_again_at(until));
    }
    // The fatigue rule: any survey of any kind within the window, answered as a throttle, unless
    // the operator lets this kind go first (it then pushes the other kind).
    let fatigue_overrides = config.fatigue.is_some_and(|f| !f.pushes.holds(wave));
    let fatigued = known.fatigued_until.filter(|&until| config.fatigue.is_some() && until > now);
    if let Some(until) = fatigued.filter(|_| !fatigue_overrides) {
        return Decision::Skip(Outcome::skipped(SkipReason::Throttled).eligible_again_at(until));
    }

    // Scheduling: an explicit time, else a delay from the event's own time (or from now).
    let due_at = match (event.send_at, event.delay) {
        (Some(at), _) => at,
        (None, Some(delay)) => event.occurred_at.unwrap_or(now).plus(delay),
        (None, None) => now.plus(survey.delay()),
    }
    .max(now);
    let throttle_until = (survey.throttle_days > 0).then(|| due_at.plus(survey.throttle()));
    let fatigue_until = config.fatigue.map(|f| due_at.plus(f.window));
    let (segment, person): (Vec<_>, Vec<_>) =
        event.properties.iter().partition(|(k, _)| survey.segment_properties.contains(k));
    let request = SurveyRequest {
        id: RequestId::new(now),
        survey_id: survey.id.clone(),
        person_id: i.person.clone(),
        email: event.email.clone(),
        name: event.name.clone(),
        locale: event.locale.unwrap_or(survey.default_locale),
        properties: segment.into_iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        person_properties: person.into_iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        weights: Weights::from_properties(&survey.weight_properties, &event.properties),
        source: i.source.to_owned(),
        event_id: event.event_id.clone(),
        transaction_id: event.transaction_id.clone(),
        created_at: now,
        due_at,
        state: RequestState::Scheduled,
        attempts: 0,
        lease_until: None,
        sent_at: None,
    };
    let write_profile = known.profile_stale(&request.email, request.name.as_deref(), now, config.retention);
    let outcome = Outcome {
        status: Status::Scheduled,
        reason: None,
        survey_request_id: Some(request.id.to_string()),
        next_eligible_at: throttle_until.max(fatigue_until).map(Timestamp::to_rfc3339),
    };
    let windows = Windows { throttle_until, fatigue_until, fatigue_overrides, write_profile };
    Decision::Create { request: Box::new(request), windows, outcome }
}

fn suppression_reason(reason: SuppressionReason) -> SkipReason {
    match reason {
        SuppressionReason::Unsubscribed => SkipReason::Unsubscribed,
        SuppressionReason::Bounced => SkipReason::Bounced,
        SuppressionReason::Complained => SkipReason::Complained,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use nps_domain::EmailAddress;
    use nps_domain::person::PersonKey;
    use nps_domain::survey::{Cadence, Locale, SurveyId, SurveyKind};
    use nps_domain::token::TokenKeys;

    use super::*;
    use crate::{Fatigue, Pushes};

    const DAY: Duration = Duration::from_secs(86_400);

    fn config(fatigue: Option<Fatigue>) -> SendingConfig {
        SendingConfig {
            person_key: PersonKey::new("test-person-key-that-is-long-enough").unwrap(),
            token_keys: TokenKeys::parse("1:test-token-key-that-is-long-enough-1234").unwrap(),
            links_base: "https://nps.example".into(),
            token_ttl: SendingConfig::DEFAULT_TOKEN_TTL,
            retention: SendingConfig::DEFAULT_RETENTION,
            default_survey: SurveyId::parse("default").unwrap(),
            fatigue,
            cadence_day: DAY,
        }
    }

    fn survey() -> Survey {
        Survey {
            id: SurveyId::parse("default").unwrap(),
            kind: SurveyKind::Transactional,
            product_name: "Example Shop".into(),
            sender: "Example Shop <surveys@shop.example>".into(),
            default_locale: Locale::De,
            throttle_days: 90,
            delay_seconds: 3600,
            reminder_after_days: None,
            segment_properties: vec!["product".into()],
            weight_properties: vec![],
            cadence: None,
        }
    }

    fn event() -> TriggerEvent {
        TriggerEvent {
            event_id: "evt-1".into(),
            email: EmailAddress::parse("ana@example.com").unwrap(),
            name: Some("Ana".into()),
            locale: None,
            survey: None,
            transaction_id: Some("order-1".into()),
            occurred_at: None,
            send_at: None,
            delay: None,
            properties: BTreeMap::from([("product".into(), "boots".into()), ("plan".into(), "pro".into())]),
        }
    }

    fn now() -> Timestamp {
        Timestamp::from_unix(1_800_000_000)
    }

    /// The rules for `event` from `source` on `survey`, with `known` read.
    fn run(
        source: &str,
        event: &TriggerEvent,
        survey: &Survey,
        known: &Eligibility,
        config: &SendingConfig,
    ) -> Decision {
        let person = PersonId::derive(&config.person_key, &event.email);
        decide(&Intake { source, event, survey, person: &person, known, now: now() }, config)
    }

    fn skip_reason(d: &Decision) -> Option<(SkipReason, Option<String>)> {
        match d {
            Decision::Skip(o) => Some((o.reason.unwrap(), o.next_eligible_at.clone())),
            _ => None,
        }
    }

    #[test]
    fn a_new_person_gets_a_request_after_the_surveys_delay_with_its_windows() {
        let c = config(Some(Fatigue { window: 30 * DAY, pushes: Pushes::Both }));
        let Decision::Create { request, windows, outcome } =
            run("shopify", &event(), &survey(), &Eligibility::default(), &c)
        else {
            panic!("a request")
        };
        let due = now().plus(Duration::from_secs(3600));
        assert_eq!((request.due_at, request.locale, request.state), (due, Locale::De, RequestState::Scheduled));
        assert_eq!(request.person_id, PersonId::derive(&c.person_key, &event().email));
        // Segment properties on the request, the rest kept as the person's.
        assert_eq!(request.properties, BTreeMap::from([("product".into(), "boots".into())]));
        assert_eq!(request.person_properties, BTreeMap::from([("plan".into(), "pro".into())]));
        let throttle = due.plus(90 * DAY);
        let expected = Windows {
            throttle_until: Some(throttle),
            fatigue_until: Some(due.plus(30 * DAY)),
            fatigue_overrides: false,
            write_profile: true,
        };
        assert_eq!(windows, expected);
        assert_eq!(outcome.status, Status::Scheduled);
        assert_eq!(outcome.survey_request_id, Some(request.id.to_string()));
        assert_eq!(outcome.next_eligible_at, Some(throttle.to_rfc3339()), "the later of the two windows");
    }

    #[test]
    fn scheduling_takes_send_at_then_the_events_delay_and_never_the_past() {
        let (c, s, known) = (config(None), survey(), Eligibility::default());
        let due = |e: &TriggerEvent| match run("generic", e, &s, &known, &c) {
            Decision::Create { request, .. } => request.due_at,
            other => panic!("{other:?}"),
        };
        let mut e = event();
        e.delay = Some(DAY);
        let hour_ago = Timestamp::from_unix(now().unix() - 3600);
        e.occurred_at = Some(hour_ago);
        assert_eq!(due(&e), hour_ago.plus(DAY), "a delay runs from the event's time");
        e.send_at = Some(now().plus(2 * DAY));
        assert_eq!(due(&e), now().plus(2 * DAY), "an explicit time wins");
        e.send_at = Some(Timestamp::from_unix(now().unix() - 86_400));
        assert_eq!(due(&e), now(), "a time past is now");
    }

    #[test]
    fn the_rules_apply_in_order() {
        let (c, s, e) = (config(None), survey(), event());
        let everything = Eligibility {
            transaction: Some(Some("01EARLIER".into())),
            suppression: Some(SuppressionReason::Bounced),
            throttled_until: Some(now().plus(DAY)),
            ..Eligibility::default()
        };
        let d = run("generic", &e, &s, &everything, &c);
        assert_eq!(skip_reason(&d), Some((SkipReason::DuplicateTransaction, None)));
        let Decision::Skip(o) = d else { unreachable!() };
        assert_eq!(o.survey_request_id.as_deref(), Some("01EARLIER"), "names the transaction's request");

        let suppressed = Eligibility { transaction: None, ..everything.clone() };
        assert_eq!(skip_reason(&run("generic", &e, &s, &suppressed, &c)), Some((SkipReason::Bounced, None)));

        let throttled = Eligibility { suppression: None, ..suppressed };
        let until = Some(now().plus(DAY).to_rfc3339());
        assert_eq!(skip_reason(&run("generic", &e, &s, &throttled, &c)), Some((SkipReason::Throttled, until)));

        // A window that has ended holds nothing back.
        let ended = Eligibility { throttled_until: Some(now()), ..Eligibility::default() };
        assert!(matches!(run("generic", &e, &s, &ended, &c), Decision::Create { .. }));
    }

    #[test]
    fn fatigue_holds_back_the_kind_the_operator_chose() {
        let fatigued = Eligibility { fatigued_until: Some(now().plus(DAY)), ..Eligibility::default() };
        let (s, e) = (survey(), event());
        let with = |pushes| config(Some(Fatigue { window: 30 * DAY, pushes }));
        let held = |source: &str, pushes| matches!(run(source, &e, &s, &fatigued, &with(pushes)), Decision::Skip(_));
        assert!(held("shopify", Pushes::Both) && held(CADENCE_SOURCE, Pushes::Both));
        assert!(!held("shopify", Pushes::Relationship) && held(CADENCE_SOURCE, Pushes::Relationship));
        assert!(held("shopify", Pushes::Transactional) && !held(CADENCE_SOURCE, Pushes::Transactional));
        // A survey that goes anyway writes its window over the other's.
        let Decision::Create { windows, .. } = run("shopify", &e, &s, &fatigued, &with(Pushes::Relationship)) else {
            panic!("goes")
        };
        assert!(windows.fatigue_overrides);
        // Without the rule, the window read means nothing.
        assert!(matches!(run("shopify", &e, &s, &fatigued, &config(None)), Decision::Create { .. }));
    }

    #[test]
    fn a_survey_with_a_list_enrols_unless_suppressed_and_its_waves_are_surveys() {
        let c = config(None);
        let s = Survey { cadence: Some(Cadence { frequency_days: 90, paused: false }), ..survey() };
        let e = event();
        let known = Eligibility::default();
        assert_eq!(run("hubspot", &e, &s, &known, &c), Decision::Enrol { period: 90 * DAY });
        let suppressed = Eligibility { suppression: Some(SuppressionReason::Unsubscribed), ..known.clone() };
        assert_eq!(skip_reason(&run("hubspot", &e, &s, &suppressed, &c)), Some((SkipReason::Unsubscribed, None)));
        assert!(matches!(run(CADENCE_SOURCE, &e, &s, &known, &c), Decision::Create { .. }));
    }

    #[test]
    fn a_returning_customers_profile_is_not_written_again() {
        let (c, s, e) = (config(None), survey(), event());
        let expires = Some(now().plus(c.retention));
        let known = Eligibility {
            profile: Some(("ana@example.com".into(), Some("Ana".into()), expires)),
            ..Default::default()
        };
        let Decision::Create { windows, .. } = run("generic", &e, &s, &known, &c) else { panic!("a request") };
        assert!(!windows.write_profile);
    }
}
