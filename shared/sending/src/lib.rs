//! Getting a survey out, for the `trigger` and `dispatch` functions.
//!
//! - [`Outbox::accept`]: one event in, one outcome out: idempotency on (source, event id), then
//!   the rules in order (`rules::decide`, a pure function): dedupe on (survey, transaction),
//!   suppression, throttle, fatigue, then scheduling.
//! - [`Outbox::send`]: sends one waiting email at most once: claim, render, send, record.
//! - [`Outbox::dispatch`]: sends what is due, retries with backoff, and sends reminders.

pub mod config;
mod dispatch;
mod intake;
mod rules;
mod send;

use std::time::Duration;

use nps_adapters::dynamo::{DynamoEventRecords, DynamoMembers, DynamoPeople, DynamoRequests, DynamoSurveys, Table};
use nps_domain::mail::Mailer;
use nps_domain::person::PersonKey;
use nps_domain::survey::SurveyId;
use nps_domain::token::TokenKeys;

pub use dispatch::DispatchReport;
pub use intake::{Accepted, IntakeError};
pub use send::{SendError, Sent};

/// Settings shared by intake and dispatch (parsed once, in each function's config).
#[derive(Debug, Clone)]
pub struct SendingConfig {
    pub person_key: PersonKey,
    pub token_keys: TokenKeys,
    /// Public base URL of the capture function: the survey links start with it.
    pub links_base: String,
    /// How long a survey link works.
    pub token_ttl: Duration,
    /// How long requests and their markers are kept (their TTL).
    pub retention: Duration,
    /// The survey for events that name none.
    pub default_survey: SurveyId,
    /// The fatigue rule (`NPS_FATIGUE_DAYS`, `NPS_FATIGUE_PUSHES`); `None`: each survey's own
    /// throttle only.
    pub fatigue: Option<Fatigue>,
    /// How long a cadence's day lasts (a day, except in `make dev`).
    pub cadence_day: Duration,
}

/// Nobody gets more than one survey of any kind within `window`: a survey inside another's
/// window is pushed (skipped as throttled, a list's wave waits), as `pushes` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fatigue {
    pub window: Duration,
    pub pushes: Pushes,
}

/// Which surveys the fatigue rule pushes when they fall in another's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushes {
    /// Whichever comes second (the default).
    Both,
    /// Only a list's waves: event surveys (a purchase) always go and push the next wave.
    Relationship,
    /// Only event surveys: a list's wave always goes and pushes the purchase survey.
    Transactional,
}

impl Pushes {
    /// Whether the rule holds back a survey of this kind (`wave`: a list's wave).
    pub fn holds(self, wave: bool) -> bool {
        match self {
            Pushes::Both => true,
            Pushes::Relationship => wave,
            Pushes::Transactional => !wave,
        }
    }
}

impl SendingConfig {
    pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(60 * 86_400);
    pub const DEFAULT_RETENTION: Duration = Duration::from_secs(730 * 86_400);
}

/// The source of the events a list's waves make (dispatch's): these survey the member, where an
/// event from anywhere else for a survey with a cadence adds the person to its list.
pub const CADENCE_SOURCE: &str = "cadence";

/// How long a sender holds a claim; one that dies is noticed after this.
const SEND_LEASE: Duration = Duration::from_secs(60);
/// Attempts at one email before it is given up as failed (backoff 1 min doubling to 1 h: ~8 h).
const MAX_ATTEMPTS: u32 = 12;

/// How fast dispatch may send: SES's maximum send rate for the account (per second), and how
/// long one run may spend sending; what does not fit waits for the next runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SendRate {
    pub per_second: f64,
    pub window: Duration,
}

impl SendRate {
    /// Most emails one run sends: what the rate allows in the window, at least one.
    pub fn per_run(&self) -> usize {
        (self.per_second * self.window.as_secs_f64()).floor().max(1.0) as usize
    }
}

pub struct Outbox<M> {
    surveys: DynamoSurveys,
    people: DynamoPeople,
    requests: DynamoRequests,
    members: DynamoMembers,
    events: DynamoEventRecords,
    mailer: M,
    config: SendingConfig,
    /// Dispatch's pace; `None`: as fast as the outbox gives (the trigger's inline sends, tests).
    send_rate: Option<SendRate>,
}

impl<M: Mailer + Sync> Outbox<M> {
    pub fn new(table: Table, mailer: M, config: SendingConfig) -> Self {
        Outbox {
            surveys: DynamoSurveys::new(table.clone()),
            people: DynamoPeople::new(table.clone()),
            requests: DynamoRequests::new(table.clone()),
            members: DynamoMembers::new(table.clone()),
            events: DynamoEventRecords::new(table),
            mailer,
            config,
            send_rate: None,
        }
    }

    /// Dispatch sends no faster than `rate`.
    pub fn with_send_rate(mut self, rate: SendRate) -> Self {
        self.send_rate = Some(rate);
        self
    }

    pub fn config(&self) -> &SendingConfig {
        &self.config
    }
}

/// Retry delay after `attempts` failed sends: 1 min, doubling, at most 1 h.
fn backoff(attempts: u32) -> Duration {
    let exponent = attempts.saturating_sub(1).min(6);
    Duration::from_secs((60u64 << exponent).min(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_an_hour() {
        let secs: Vec<u64> = (1..=9).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(secs, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        let total: u64 = (1..MAX_ATTEMPTS).map(|a| backoff(a).as_secs()).sum();
        assert!((6 * 3600..12 * 3600).contains(&total), "{total}");
    }
}
