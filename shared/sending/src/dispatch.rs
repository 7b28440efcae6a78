use std::time::Duration;

use nps_adapters::dynamo::{Transition, Transitioned};
use nps_domain::intake::{SkipReason, TriggerEvent};
use nps_domain::mail::Mailer;
use nps_domain::member::{Member, next_due};
use nps_domain::request::RequestState;
use nps_domain::{StoreError, Timestamp};

use crate::send::Sent;
use crate::{CADENCE_SOURCE, Outbox, SendRate};

/// Most due requests one dispatch run takes on (the next run, a minute later, takes the rest),
/// fewer when SES's send rate allows fewer in the run's window.
const BATCH: i32 = 200;
/// Most list members one run asks (each becomes a survey request through the intake's rules).
const WAVE_BATCH: i32 = 200;

/// What one dispatch run did: the function's answer, its log line, and what tests check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DispatchReport {
    pub due: usize,
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
    pub skipped: usize,
    pub answered: usize,
    pub uncertain: usize,
    pub not_mine: usize,
    pub errors: usize,
    /// List members whose wave came: asked (a survey request through the intake's rules).
    pub waves: usize,
    /// List members whose wave was skipped: their survey is paused, or has no cadence any more.
    pub waves_skipped: usize,
}

impl DispatchReport {
    /// The run's business metrics (CloudWatch Embedded Metric Format, `nps_adapters::emf`).
    pub fn counts(&self) -> nps_adapters::emf::Counts {
        let mut counts = nps_adapters::emf::Counts::default();
        counts
            .add("SurveysSent", self.sent)
            .add("SendsRetrying", self.retrying)
            .add("SendsFailed", self.failed)
            .add("SendsUncertain", self.uncertain)
            .add("SurveysSkipped", self.skipped)
            .add("WavesAsked", self.waves)
            .add("WavesSkipped", self.waves_skipped)
            .add("DispatchErrors", self.errors);
        counts
    }
}

impl<M: Mailer + Sync> Outbox<M> {
    /// Sends every email due by `now`: first surveys, retries and reminders. A storage failure on
    /// one request is counted and the run goes on; the request stays due for the next run.
    pub async fn dispatch(&self, now: Timestamp) -> Result<DispatchReport, StoreError> {
        let mut report = DispatchReport::default();
        self.waves(now, &mut report).await?;
        let batch = self.send_rate.map_or(BATCH, |r| i32::try_from(r.per_run()).unwrap_or(BATCH).min(BATCH));
        let due = self.requests.due(now, batch).await?;
        report.due = due.len();
        let mut pace = Pace::new(self.send_rate);
        for id in due {
            pace.next().await;
            let request = match self.requests.get(id).await {
                Ok(Some(request)) => request,
                Ok(None) => continue,
                Err(e) => {
                    report.errors += 1;
                    tracing::warn!(request = %id, error = %e, "could not read a due request; it stays due");
                    continue;
                }
            };
            let result = match request.state {
                RequestState::Scheduled | RequestState::ReminderScheduled => self.send(request, now).await,
                // A sender claimed it and died (or is still at it, until its lease lapses). The
                // email may have gone out: mark it uncertain rather than risk sending it twice.
                RequestState::Sending | RequestState::ReminderSending
                    if request.lease_until.is_none_or(|lease| lease < now) =>
                {
                    let t = Transition {
                        id,
                        from: request.state,
                        attempt_id: None,
                        to: RequestState::Uncertain,
                        due_at: None,
                        reset_attempts: false,
                        sent_at: None,
                        message_id: None,
                        note: Some("lease_lapsed"),
                    };
                    tracing::error!(request = %id, "a sender died mid-send; marked uncertain");
                    self.requests
                        .transition(t)
                        .await
                        .map(|done| if done == Transitioned::Done { Sent::Uncertain } else { Sent::NotMine })
                        .map_err(Into::into)
                }
                _ => Ok(Sent::NotMine),
            };
            match result {
                Ok(Sent::Sent) => report.sent += 1,
                Ok(Sent::RetryAt(_)) => report.retrying += 1,
                Ok(Sent::Failed) => report.failed += 1,
                Ok(Sent::Skipped) => report.skipped += 1,
                Ok(Sent::Answered) => report.answered += 1,
                Ok(Sent::Uncertain) => report.uncertain += 1,
                Ok(Sent::NotMine) => report.not_mine += 1,
                Err(e) => {
                    report.errors += 1;
                    tracing::warn!(request = %id, error = %e, "dispatch of one request failed; it stays due");
                }
            }
        }
        Ok(report)
    }
}

impl<M: Mailer + Sync> Outbox<M> {
    /// Asks the list members whose wave has come: each becomes a survey event (the same rules as
    /// any trigger: suppression, throttle, idempotency on survey, person and wave), then moves to
    /// its next wave. Two runs at once: the event's idempotency makes one request, and only one
    /// run moves the member on.
    async fn waves(&self, now: Timestamp, report: &mut DispatchReport) -> Result<(), StoreError> {
        for (survey_id, person) in self.members.due(now, WAVE_BATCH).await? {
            let Some(member) = self.members.get(&survey_id, &person).await? else { continue };
            if member.next_due_at > now {
                continue; // another run moved it on meanwhile
            }
            let cadence = self.surveys.get(&survey_id).await?.and_then(|s| s.cadence);
            let Some(cadence) = cadence.filter(|c| !c.paused) else {
                // Paused, or no cadence any more: this wave is skipped, and the member looks again
                // a period (or, without a cadence, a day) later.
                let day = self.config.cadence_day;
                let period = cadence.map_or(day, |c| c.period(day));
                if self.members.advance(&member, next_due(member.next_due_at, now, period)).await? {
                    report.waves_skipped += 1;
                }
                continue;
            };
            let pushed_to = match self.accept(CADENCE_SOURCE, &wave_event(&member), now).await {
                Ok(accepted) => {
                    tracing::info!(
                        survey = %survey_id,
                        wave = member.waves + 1,
                        status = ?accepted.outcome.status,
                        reason = ?accepted.outcome.reason,
                        "list member's wave"
                    );
                    // Throttled (the fatigue rule after another survey, or the survey's own
                    // throttle): the wave waits until the person may be asked, rather than lapse.
                    let o = &accepted.outcome;
                    (o.reason == Some(SkipReason::Throttled))
                        .then(|| o.next_eligible_at.as_deref().and_then(Timestamp::parse_rfc3339))
                        .flatten()
                        .filter(|&at| at > now)
                }
                Err(e) => {
                    // Left due: the next run asks again, and the event's idempotency keeps it one.
                    report.errors += 1;
                    tracing::warn!(survey = %survey_id, error = %e, "a list member's wave failed; it stays due");
                    continue;
                }
            };
            let next =
                pushed_to.unwrap_or_else(|| next_due(member.next_due_at, now, cadence.period(self.config.cadence_day)));
            if self.members.advance(&member, next).await? {
                report.waves += 1;
            }
        }
        Ok(())
    }
}

/// Spaces one run's sends `1 / rate` apart (SES refuses more per second than the account's rate).
struct Pace {
    interval: Option<Duration>,
    next_at: tokio::time::Instant,
}

impl Pace {
    fn new(rate: Option<SendRate>) -> Self {
        let interval = rate.filter(|r| r.per_second > 0.0).map(|r| Duration::from_secs_f64(1.0 / r.per_second));
        Pace { interval, next_at: tokio::time::Instant::now() }
    }

    /// Waits for the next send's turn.
    async fn next(&mut self) {
        if let Some(interval) = self.interval {
            tokio::time::sleep_until(self.next_at).await;
            self.next_at = tokio::time::Instant::now().max(self.next_at) + interval;
        }
    }
}

/// The survey event of a member's next wave: its id names the survey, the person and the wave,
/// so a retry or a second run finds the first outcome.
fn wave_event(m: &Member) -> TriggerEvent {
    TriggerEvent {
        event_id: format!("{}:{}:{}", m.survey, m.person, m.waves + 1),
        email: m.email.clone(),
        name: m.name.clone(),
        locale: m.locale,
        survey: Some(m.survey.clone()),
        transaction_id: None,
        occurred_at: None,
        send_at: None,
        delay: Some(Duration::ZERO),
        properties: m.properties.clone(),
    }
}
