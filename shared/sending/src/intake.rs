use std::time::Duration;

use nps_adapters::dynamo::{Completion, CreateOutcome, SuppressionReason, Windows};
use nps_domain::idempotency::{Claim, IdempotencyKey, IdempotencyKeyError, IdempotencyStore, Lease, LeaseError};
use nps_domain::intake::{Outcome, SkipReason, Status, TriggerEvent};
use nps_domain::mail::Mailer;
use nps_domain::member::{Contact, Member};
use nps_domain::person::PersonId;
use nps_domain::request::{RequestId, RequestState, SurveyRequest};
use nps_domain::survey::SurveyId;
use nps_domain::{StoreError, Timestamp};

use crate::send::Sent;
use crate::{CADENCE_SOURCE, Outbox};

/// How long one delivery holds an event while it is processed.
const INTAKE_LEASE: Duration = Duration::from_secs(30);
/// How long a repeat of an event is answered with the first outcome (webhook senders retry for
/// up to three days).
const IDEMPOTENCY_RETENTION: Duration = Duration::from_secs(7 * 86_400);

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
    /// Another delivery of the same event is being processed right now.
    #[error("the same event is being processed; retry in {retry_after} s")]
    InProgress { retry_after: u64 },
    /// Storage failed; nothing was decided. Retry.
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

impl<M: Mailer + Sync> Outbox<M> {
    /// Applies the rules to `event` from `source` and answers with the outcome. A repeat of an
    /// event gets the first outcome and changes nothing.
    pub async fn accept(&self, source: &str, event: &TriggerEvent, now: Timestamp) -> Result<Accepted, IntakeError> {
        let key = IdempotencyKey::new(source, &event.event_id)?;
        let lease = match self.idempotency.claim(&key, now, INTAKE_LEASE).await? {
            Claim::Completed { outcome } => {
                let outcome = serde_json::from_str(&outcome)
                    .map_err(|e| StoreError::Malformed(format!("stored outcome does not parse: {e}")))?;
                return Ok(Accepted { outcome, repeat: true });
            }
            Claim::InProgress { until } => {
                let retry_after = u64::try_from(until.unix() - now.unix()).unwrap_or(0).max(1);
                return Err(IntakeError::InProgress { retry_after });
            }
            Claim::Acquired(lease) => lease,
        };

        match self.decide(source, event, &lease, now).await {
            Ok(Decided { outcome, stored }) => {
                if !stored {
                    let json = serde_json::to_string(&outcome).map_err(|e| StoreError::Malformed(e.to_string()))?;
                    match self.idempotency.complete(&lease, &json, now.plus(IDEMPOTENCY_RETENTION)).await {
                        Ok(()) => {}
                        // The work is done and durable (the request, and the key completed with it, or
                        // its transaction marker): a repeat is answered from those.
                        Err(LeaseError::Lost) => tracing::warn!(source, "idempotency lease lapsed before completion"),
                        Err(LeaseError::Store(e)) => tracing::warn!(source, error = %e, "could not store the outcome"),
                    }
                }
                Ok(Accepted { outcome, repeat: false })
            }
            Err(err) => {
                // Let the sender's retry start afresh at once.
                if let Err(e) = self.idempotency.release(&lease).await {
                    tracing::warn!(source, error = %e, "could not release the idempotency lease");
                }
                Err(err)
            }
        }
    }

    async fn decide(
        &self,
        source: &str,
        event: &TriggerEvent,
        lease: &Lease,
        now: Timestamp,
    ) -> Result<Decided, IntakeError> {
        let survey_id = event.survey.clone().unwrap_or_else(|| self.config.default_survey.clone());
        let survey = self.surveys.get(&survey_id).await?.ok_or(IntakeError::UnknownSurvey(survey_id))?;
        let person = PersonId::derive(&self.config.person_key, &event.email);
        if let Some(cadence) = survey.cadence.filter(|_| source != CADENCE_SOURCE) {
            let period = cadence.period(self.config.cadence_day);
            return Box::pin(self.enrol(&survey.id, person, event, period, now)).await;
        }

        // The rules, in order, on one consistent read; the write below re-checks dedupe and
        // throttle under conditions, so concurrent events cannot both pass.
        let known = self.people.eligibility(&person, &survey.id, event.transaction_id.as_deref()).await?;
        if let Some(existing) = known.transaction {
            return Ok(skipped(SkipReason::DuplicateTransaction, existing, None).into());
        }
        if let Some(reason) = known.suppression {
            return Ok(skipped(suppression_reason(reason), None, None).into());
        }
        if let Some(until) = known.throttled_until.filter(|&until| until > now) {
            return Ok(skipped(SkipReason::Throttled, None, Some(until)).into());
        }
        // The fatigue rule: any survey of any kind within the window, answered as a throttle,
        // unless the operator lets this kind go first (it then pushes the other kind).
        let fatigue_overrides = self.config.fatigue.is_some_and(|f| !f.pushes.holds(source == CADENCE_SOURCE));
        let fatigued = known.fatigued_until.filter(|&until| self.config.fatigue.is_some() && until > now);
        if let Some(until) = fatigued.filter(|_| !fatigue_overrides) {
            return Ok(skipped(SkipReason::Throttled, None, Some(until)).into());
        }

        // Scheduling: an explicit time, else a delay from the event's own time (or from now).
        let due_at = match (event.send_at, event.delay) {
            (Some(at), _) => at,
            (None, Some(delay)) => event.occurred_at.unwrap_or(now).plus(delay),
            (None, None) => now.plus(survey.delay()),
        }
        .max(now);
        let throttle_until = (survey.throttle_days > 0).then(|| due_at.plus(survey.throttle()));
        let fatigue_until = self.config.fatigue.map(|f| due_at.plus(f.window));
        let request = SurveyRequest {
            id: RequestId::new(now),
            survey_id: survey.id.clone(),
            person_id: person,
            email: event.email.clone(),
            name: event.name.clone(),
            locale: event.locale.unwrap_or(survey.default_locale),
            properties: event
                .properties
                .iter()
                .filter(|(k, _)| survey.segment_properties.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            person_properties: event
                .properties
                .iter()
                .filter(|(k, _)| !survey.segment_properties.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            source: source.to_owned(),
            event_id: event.event_id.clone(),
            transaction_id: event.transaction_id.clone(),
            created_at: now,
            due_at,
            state: RequestState::Scheduled,
            attempts: 0,
            lease_until: None,
            sent_at: None,
        };
        let expires_at = now.plus(self.config.retention);
        let mut outcome = Outcome {
            status: Status::Scheduled,
            reason: None,
            survey_request_id: Some(request.id.to_string()),
            next_eligible_at: throttle_until.max(fatigue_until).map(Timestamp::to_rfc3339),
        };
        let json = serde_json::to_string(&outcome).map_err(|e| StoreError::Malformed(e.to_string()))?;
        let completion = Completion { lease, outcome: &json, keep_until: now.plus(IDEMPOTENCY_RETENTION) };
        let write_profile = known.profile_stale(&request.email, request.name.as_deref(), now, self.config.retention);
        match self
            .requests
            .create_completing(
                &request,
                Windows { throttle_until, fatigue_until, fatigue_overrides, write_profile },
                expires_at,
                now,
                Some(completion),
            )
            .await?
        {
            CreateOutcome::DuplicateTransaction { request_id } => {
                return Ok(skipped(SkipReason::DuplicateTransaction, request_id, None).into());
            }
            CreateOutcome::Throttled { until } => {
                return Ok(skipped(SkipReason::Throttled, None, Some(until)).into());
            }
            CreateOutcome::LeaseLost => return Err(IntakeError::InProgress { retry_after: 1 }),
            CreateOutcome::Created => {}
        }

        // Sent inline when due now (a list's wave is sent by dispatch, at SES's pace). Any
        // failure leaves it scheduled: dispatch retries it.
        if due_at <= now && source != CADENCE_SOURCE {
            match self.send_with(request.clone(), Some(&survey), now).await {
                Ok(Sent::Sent) => {
                    outcome.status = Status::Sent;
                    return Ok(Decided { outcome, stored: false });
                }
                Ok(other) => tracing::info!(request = %request.id, result = ?other, "inline send did not send"),
                Err(e) => tracing::warn!(request = %request.id, error = %e, "inline send failed; dispatch will retry"),
            }
        }
        Ok(Decided { outcome, stored: true })
    }
}

impl<M: Mailer + Sync> Outbox<M> {
    /// An event for a survey with a cadence adds the person to its list instead of surveying them
    /// now (unless they are suppressed): its waves ask them, under the rules of the day.
    async fn enrol(
        &self,
        survey: &SurveyId,
        person: PersonId,
        event: &TriggerEvent,
        period: Duration,
        now: Timestamp,
    ) -> Result<Decided, IntakeError> {
        if let Some(reason) = self.people.eligibility(&person, survey, None).await?.suppression {
            return Ok(skipped(suppression_reason(reason), None, None).into());
        }
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
        }
        .into())
    }
}

/// What the rules decided, and whether that outcome is already stored on the idempotency key
/// (with the request it created).
struct Decided {
    outcome: Outcome,
    stored: bool,
}

impl From<Outcome> for Decided {
    fn from(outcome: Outcome) -> Self {
        Decided { outcome, stored: false }
    }
}

fn skipped(reason: SkipReason, request_id: Option<String>, next: Option<Timestamp>) -> Outcome {
    Outcome {
        status: Status::Skipped,
        reason: Some(reason),
        survey_request_id: request_id,
        next_eligible_at: next.map(Timestamp::to_rfc3339),
    }
}

fn suppression_reason(reason: SuppressionReason) -> SkipReason {
    match reason {
        SuppressionReason::Unsubscribed => SkipReason::Unsubscribed,
        SuppressionReason::Bounced => SkipReason::Bounced,
        SuppressionReason::Complained => SkipReason::Complained,
    }
}
