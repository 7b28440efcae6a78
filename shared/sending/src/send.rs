use std::time::Duration;

use nps_adapters::dynamo::{Transition, Transitioned};
use nps_domain::mail::{MailError, Mailer};
use nps_domain::request::{RequestState, SurveyRequest};
use nps_domain::survey::Survey;
use nps_domain::survey_email::{SurveyEmail, Wording};
use nps_domain::{StoreError, Timestamp, token};

use crate::{MAX_ATTEMPTS, Outbox, SEND_LEASE, backoff};

/// What one call of [`Outbox::send`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Handed to the mail service.
    Sent,
    /// The mail service is unavailable; back in the outbox, due again then.
    RetryAt(Timestamp),
    /// Refused by the mail service, or given up after too many attempts.
    Failed,
    /// The person is suppressed now; nothing sent.
    Skipped,
    /// The reminder is not needed: the person has answered.
    Answered,
    /// Another sender holds the request, or it moved on; nothing done here.
    NotMine,
    /// The mail service's answer never came; not retried (it may have been sent).
    Uncertain,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Storage failed before the claim (the request simply waits for the next dispatch) or while
    /// recording the result (the email went out; the lapsed claim is then marked uncertain).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl<M: Mailer + Sync> Outbox<M> {
    /// Sends the waiting email of `request` (as read), at most once.
    pub async fn send(&self, request: SurveyRequest, now: Timestamp) -> Result<Sent, SendError> {
        self.send_with(request, None, now).await
    }

    /// `fresh`: the survey, when the caller has just read it and checked the person (the intake's
    /// inline send), which saves reading both again on the hot path.
    pub(crate) async fn send_with(
        &self,
        request: SurveyRequest,
        fresh: Option<&Survey>,
        now: Timestamp,
    ) -> Result<Sent, SendError> {
        let waiting = request.state;
        let Some(sending) = waiting.sending() else { return Ok(Sent::NotMine) };
        let reminder = waiting == RequestState::ReminderScheduled;

        if reminder && self.requests.has_response(request.id).await? {
            let t = self.closing(&request, waiting, None, RequestState::Sent, Some("answered"));
            return Ok(self.finish(t, Sent::Answered).await?);
        }
        if fresh.is_none() {
            // Time has passed since the request was made: the person may have unsubscribed since.
            let known = self.people.eligibility(&request.person_id, &request.survey_id, None, None).await?;
            if let Some(reason) = known.suppression {
                let t = self.closing(&request, waiting, None, RequestState::Skipped, Some(reason.as_str()));
                return Ok(self.finish(t, Sent::Skipped).await?);
            }
        }

        // Everything is read before the claim, so that between claiming and recording only the
        // mail service is called: a storage failure can never leave a claimed, unsent request.
        let loaded;
        let survey = match fresh {
            Some(survey) => survey,
            None => match self.surveys.get(&request.survey_id).await? {
                Some(survey) => {
                    loaded = survey;
                    &loaded
                }
                None => {
                    let t = self.closing(&request, waiting, None, RequestState::Failed, Some("survey_missing"));
                    return Ok(self.finish(t, Sent::Failed).await?);
                }
            },
        };
        let Some(attempt_id) = self.requests.claim(&request, now, SEND_LEASE).await? else {
            return Ok(Sent::NotMine);
        };
        let attempt = Some(attempt_id.as_str());
        let attempts = request.attempts + 1;

        let token = token::sign(&self.config.token_keys, request.id, now.plus(self.config.token_ttl));
        // The person's own wording (Delighted's properties), if the request carries any.
        let wording = Wording::of(&request.person_properties);
        let survey = &wording.survey(survey);
        let email = SurveyEmail {
            survey,
            to: &request.email,
            name: request.name.as_deref(),
            locale: request.locale,
            token: &token,
            links_base: &self.config.links_base,
            reminder,
            wording: &wording,
        }
        .render();

        match self.mailer.send(&email).await {
            Ok(message_id) => {
                let reminder_due = survey
                    .reminder_after_days
                    .filter(|_| !reminder)
                    .map(|days| now.plus(Duration::from_secs(u64::from(days) * 86_400)));
                let to = match (reminder, reminder_due) {
                    (true, _) => RequestState::Reminded,
                    (false, Some(_)) => RequestState::ReminderScheduled,
                    (false, None) => RequestState::Sent,
                };
                let t = Transition {
                    id: request.id,
                    from: sending,
                    attempt_id: attempt,
                    to,
                    due_at: reminder_due,
                    reset_attempts: true,
                    sent_at: Some(now),
                    message_id: Some(&message_id.0),
                    note: None,
                };
                if self.requests.transition(t).await? == Transitioned::Lost {
                    // The lease lapsed mid-send and dispatch already marked it uncertain: it was sent.
                    tracing::warn!(request = %request.id, "sent after the claim lapsed");
                }
                tracing::info!(request = %request.id, reminder, "survey email sent");
                Ok(Sent::Sent)
            }
            Err(MailError::Unavailable(e)) if attempts < MAX_ATTEMPTS => {
                let due = now.plus(backoff(attempts));
                tracing::warn!(request = %request.id, attempts, error = %e, "mail unavailable; will retry");
                let t = Transition {
                    id: request.id,
                    from: sending,
                    attempt_id: attempt,
                    to: waiting,
                    due_at: Some(due),
                    reset_attempts: false,
                    sent_at: None,
                    message_id: None,
                    note: Some("mail_unavailable"),
                };
                Ok(self.finish(t, Sent::RetryAt(due)).await?)
            }
            Err(MailError::Unavailable(e)) => {
                tracing::error!(request = %request.id, attempts, error = %e, "mail unavailable; giving up");
                let t = self.closing(&request, sending, attempt, RequestState::Failed, Some("gave_up"));
                Ok(self.finish(t, Sent::Failed).await?)
            }
            Err(MailError::Rejected(e)) => {
                tracing::error!(request = %request.id, error = %e, "mail rejected");
                let t = self.closing(&request, sending, attempt, RequestState::Failed, Some("rejected"));
                Ok(self.finish(t, Sent::Failed).await?)
            }
            Err(MailError::Uncertain(e)) => {
                tracing::error!(request = %request.id, error = %e, "mail outcome unknown; not retrying");
                let t = self.closing(&request, sending, attempt, RequestState::Uncertain, Some("no_answer"));
                Ok(self.finish(t, Sent::Uncertain).await?)
            }
        }
    }

    /// A transition that takes the request out of the outbox.
    fn closing<'a>(
        &self,
        request: &SurveyRequest,
        from: RequestState,
        attempt_id: Option<&'a str>,
        to: RequestState,
        note: Option<&'a str>,
    ) -> Transition<'a> {
        Transition {
            id: request.id,
            from,
            attempt_id,
            to,
            due_at: None,
            reset_attempts: false,
            sent_at: None,
            message_id: None,
            note,
        }
    }

    async fn finish(&self, t: Transition<'_>, result: Sent) -> Result<Sent, StoreError> {
        Ok(match self.requests.transition(t).await? {
            Transitioned::Done => result,
            Transitioned::Lost => Sent::NotMine,
        })
    }
}
