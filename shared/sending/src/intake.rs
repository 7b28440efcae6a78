use std::time::Duration;

use nps_adapters::dynamo::{CreateOutcome, EVENT_RECORD_RETENTION, EventRecord, Windows};
use nps_domain::idempotency::{IdempotencyKey, IdempotencyKeyError};
use nps_domain::intake::{Outcome, SkipReason, Status, TriggerEvent};
use nps_domain::mail::Mailer;
use nps_domain::member::{Contact, Member};
use nps_domain::person::PersonId;
use nps_domain::request::{RequestId, SurveyRequest};
use nps_domain::survey::{Survey, SurveyId};
use nps_domain::{StoreError, Timestamp};

use crate::rules::{Decision, Intake, decide};
use crate::send::Sent;
use crate::{CADENCE_SOURCE, Outbox};

/// An accepted event: its outcome, and whether this was a repeat of an earlier delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub outcome: Outcome,
    pub repeat: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("unknown survey {0}")]
    UnknownSurvey(SurveyId),
    #[error(transparent)]
    InvalidKey(#[from] IdempotencyKeyError),
    /// Storage failed; nothing was decided. Retry.
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

impl<M: Mailer + Sync> Outbox<M> {
    /// Applies the rules to `event` from `source` and answers with the outcome. A repeat of an
    /// event (a retry, or a delivery concurrent with the first) gets the first outcome and changes
    /// nothing.
    ///
    /// An accepted survey costs at most four sequential calls: one read round (the survey beside
    /// one `BatchGetItem` of the person, the event and its transaction), the request's
    /// transaction (which records the outcome), and the send's claim and record around SES.
    pub async fn accept(&self, source: &str, event: &TriggerEvent, now: Timestamp) -> Result<Accepted, IntakeError> {
        let key = IdempotencyKey::new(source, &event.event_id)?;
        let survey_id = event.survey.clone().unwrap_or_else(|| self.config.default_survey.clone());
        let person = PersonId::derive(&self.config.person_key, &event.email);
        let transaction = event.transaction_id.as_deref();
        let (survey, known) = tokio::try_join!(
            self.surveys.get(&survey_id),
            self.people.eligibility(&person, &survey_id, transaction, Some(&key)),
        )?;
        if let Some(earlier) = &known.earlier {
            return self.repeat(earlier).await;
        }
        let survey = survey.ok_or(IntakeError::UnknownSurvey(survey_id))?;
        let intake = Intake { source, event, survey: &survey, person: &person, known: &known, now };
        let outcome = match decide(&intake, &self.config) {
            Decision::Skip(outcome) => outcome,
            Decision::Enrol { period } => self.enrol(&survey.id, person, event, period, now).await?,
            Decision::Create { request, windows, outcome } => {
                return self.create(&key, *request, windows, outcome, &survey, now).await;
            }
        };
        let transaction = event.transaction_id.as_deref().map(|t| (&survey.id, t));
        self.record(&key, outcome, transaction, now).await
    }

    /// Writes the request with the event's outcome, then sends it at once when it is due now (a
    /// list's wave is sent by dispatch, at SES's pace). A failed send leaves it scheduled:
    /// dispatch retries it.
    async fn create(
        &self,
        key: &IdempotencyKey,
        request: SurveyRequest,
        windows: Windows,
        mut outcome: Outcome,
        survey: &Survey,
        now: Timestamp,
    ) -> Result<Accepted, IntakeError> {
        let json = to_json(&outcome)?;
        let event = EventRecord { key, outcome: &json, keep_until: now.plus(EVENT_RECORD_RETENTION) };
        let transaction = request.transaction_id.as_deref().map(|t| (&request.survey_id, t));
        let expires_at = now.plus(self.config.retention);
        match self.requests.create_recording(&request, windows, expires_at, now, Some(event)).await? {
            CreateOutcome::Created => {}
            CreateOutcome::Repeat { outcome } => return self.repeat(&outcome).await,
            CreateOutcome::DuplicateTransaction { request_id } => {
                let outcome = Outcome::skipped(SkipReason::DuplicateTransaction).with_request(request_id);
                return self.record(key, outcome, transaction, now).await;
            }
            CreateOutcome::Throttled { until } => {
                return self
                    .record(key, Outcome::skipped(SkipReason::Throttled).eligible_again_at(until), transaction, now)
                    .await;
            }
        }
        // The record keeps `scheduled`; a repeat reads the request to tell it was sent.
        if request.due_at <= now && request.source != CADENCE_SOURCE {
            let id = request.id;
            match self.send_with(request, Some(survey), now).await {
                Ok(Sent::Sent) => outcome.status = Status::Sent,
                Ok(other) => tracing::info!(request = %id, result = ?other, "inline send did not send"),
                Err(e) => tracing::warn!(request = %id, error = %e, "inline send failed; dispatch will retry"),
            }
        }
        Ok(Accepted { outcome, repeat: false })
    }

    /// Records an outcome that wrote nothing else; a concurrent delivery's record (or the request
    /// it made for the event's transaction) wins.
    async fn record(
        &self,
        key: &IdempotencyKey,
        outcome: Outcome,
        transaction: Option<(&SurveyId, &str)>,
        now: Timestamp,
    ) -> Result<Accepted, IntakeError> {
        let keep_until = now.plus(EVENT_RECORD_RETENTION);
        match self.events.record(key, &to_json(&outcome)?, keep_until, transaction).await? {
            None => Ok(Accepted { outcome, repeat: false }),
            Some(earlier) => self.repeat(&earlier).await,
        }
    }

    /// The first outcome, as recorded; a survey scheduled then and sent since is told as sent.
    async fn repeat(&self, earlier: &str) -> Result<Accepted, IntakeError> {
        let outcome = Outcome::from_stored(earlier)?;
        // Only a scheduled survey's request says more.
        let sent = match outcome.survey_request_id.as_deref().and_then(RequestId::parse) {
            Some(id) if outcome.status == Status::Scheduled => {
                self.requests.get(id).await?.is_some_and(|r| r.sent_at.is_some())
            }
            _ => false,
        };
        Ok(Accepted { outcome: outcome.as_of(sent), repeat: true })
    }

    /// Adds the person to the survey's list instead of surveying them now.
    async fn enrol(
        &self,
        survey: &SurveyId,
        person: PersonId,
        event: &TriggerEvent,
        period: Duration,
        now: Timestamp,
    ) -> Result<Outcome, IntakeError> {
        let contact = Contact {
            email: event.email.clone(),
            name: event.name.clone(),
            locale: event.locale,
            properties: event.properties.clone(),
        };
        let (member, _) = self.members.enrol(&Member::joining(survey.clone(), person, contact, now), period).await?;
        Ok(Outcome {
            status: Status::Enrolled,
            reason: None,
            survey_request_id: None,
            next_eligible_at: Some(member.next_due_at.to_rfc3339()),
        })
    }
}

fn to_json(outcome: &Outcome) -> Result<String, StoreError> {
    serde_json::to_string(outcome).map_err(|e| StoreError::Malformed(e.to_string()))
}
