use nps_adapters::dynamo::{Transition, Transitioned};
use nps_domain::mail::Mailer;
use nps_domain::request::RequestState;
use nps_domain::{StoreError, Timestamp};

use crate::Outbox;
use crate::send::Sent;

/// Most due requests one dispatch run takes on (the next run, a minute later, takes the rest).
const BATCH: i32 = 200;

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
}

impl<M: Mailer + Sync> Outbox<M> {
    /// Sends every email due by `now`: first surveys, retries and reminders. A storage failure on
    /// one request is counted and the run goes on; the request stays due for the next run.
    pub async fn dispatch(&self, now: Timestamp) -> Result<DispatchReport, StoreError> {
        let due = self.requests.due(now, BATCH).await?;
        let mut report = DispatchReport { due: due.len(), ..DispatchReport::default() };
        for id in due {
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
