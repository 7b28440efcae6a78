//! Routing, and what the trigger's own errors mean to the caller (the JSON error answer itself
//! is `nps_http`'s).

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use nps_domain::Timestamp;
use nps_domain::intake::{EventError, Outcome, SkipReason, TriggerEvent};
use nps_http::{ApiError, api_path, json_body, json_response};
use nps_sending::IntakeError;

use crate::App;
use crate::sources::{Incoming, SignatureError, Source};

impl From<SignatureError> for ApiError {
    fn from(e: SignatureError) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_signature", e.to_string())
    }
}

/// What the outbox's refusal means to the caller.
pub(crate) fn intake_error(e: IntakeError) -> ApiError {
    match e {
        IntakeError::UnknownSurvey(id) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown_survey", format!("no survey with id {id}"))
        }
        IntakeError::InvalidKey(e) => ApiError::invalid(e.to_string()),
        IntakeError::Unavailable(e) => e.into(),
    }
}

/// 202 for a new event, 200 for a repeat answered with the first outcome.
pub fn outcome_response(outcome: &Outcome, repeat: bool) -> Response<Body> {
    let status = if repeat { StatusCode::OK } else { StatusCode::ACCEPTED };
    json_response(status, &serde_json::to_value(outcome).unwrap_or_default())
}

impl App {
    pub(crate) async fn route(&self, req: Request, now: Timestamp) -> Result<Response<Body>, ApiError> {
        let path = api_path(&req);
        let segments: Vec<&str> = path.iter().map(String::as_str).collect();
        match (segments.as_slice(), req.method()) {
            (["v1", "triggers", source], &Method::POST) => self.webhook(source, &req, now).await,
            (["v1", "triggers", _], _) => Err(ApiError::method_not_allowed("POST")),
            (["v1", "people"], &Method::POST) => self.people(&req, now).await,
            (["v1", "people"], _) => Err(ApiError::method_not_allowed("POST")),
            _ => Err(ApiError::not_found()),
        }
    }

    async fn webhook(&self, source_name: &str, req: &Request, now: Timestamp) -> Result<Response<Body>, ApiError> {
        let unknown = || ApiError::new(StatusCode::NOT_FOUND, "unknown_source", "no such webhook source is enabled");
        let source = Source::parse(source_name).ok_or_else(unknown)?;
        let secret = self.config.webhook_secrets.get(&source).ok_or_else(unknown)?;
        let body = json_body(req)?;
        let url = format!(
            "{}/v1/triggers/{}{}",
            self.config.public_base_url.as_deref().unwrap_or_default(),
            source.name(),
            req.uri().query().map(|q| format!("?{q}")).unwrap_or_default()
        );
        let incoming = Incoming { method: req.method().as_str(), url: &url, headers: req.headers(), body };
        // Nothing is read or written for a request whose signature fails.
        source.verify(&incoming, secret, now)?;
        let event = match source.normalise(&incoming) {
            // Signed by the source, but no purchase: a 200 the sender will not retry.
            Err(EventError::NotAPurchase { field, kind }) => {
                tracing::info!(source = source.name(), field, kind, "not a purchase: skipped");
                return Ok(outcome_response(&Outcome::skipped(SkipReason::NotAPurchase), true));
            }
            event => event?,
        };
        self.accept(source.name(), &event, now).await
    }

    pub(crate) async fn accept(
        &self,
        source: &str,
        event: &TriggerEvent,
        now: Timestamp,
    ) -> Result<Response<Body>, ApiError> {
        let accepted = self.outbox.accept(source, event, now).await.map_err(intake_error)?;
        tracing::info!(
            source,
            status = ?accepted.outcome.status,
            reason = ?accepted.outcome.reason,
            repeat = accepted.repeat,
            request = accepted.outcome.survey_request_id.as_deref().unwrap_or("-"),
            "trigger handled"
        );
        outcome_counts(&accepted.outcome, accepted.repeat).emit("trigger");
        Ok(outcome_response(&accepted.outcome, accepted.repeat))
    }
}

/// The business metrics of one trigger (`nps_adapters::emf`): a survey sent, scheduled, enrolled
/// or skipped, and why; a repeated delivery apart (it changed nothing).
fn outcome_counts(outcome: &nps_domain::intake::Outcome, repeat: bool) -> nps_adapters::emf::Counts {
    use nps_domain::intake::{SkipReason, Status};
    let mut counts = nps_adapters::emf::Counts::default();
    if repeat {
        counts.add("RepeatedDeliveries", 1);
        return counts;
    }
    counts.add(
        match outcome.status {
            Status::Sent => "SurveysSent",
            Status::Scheduled => "SurveysScheduled",
            Status::Enrolled => "MembersEnrolled",
            Status::Skipped => "SurveysSkipped",
        },
        1,
    );
    if let Some(reason) = outcome.reason {
        counts.add(
            match reason {
                SkipReason::DuplicateTransaction => "SkippedDuplicateTransaction",
                SkipReason::Unsubscribed => "SkippedUnsubscribed",
                SkipReason::Bounced => "SkippedBounced",
                SkipReason::Complained => "SkippedComplained",
                SkipReason::Throttled => "SkippedThrottled",
                SkipReason::NotRequested => "SkippedNotRequested",
                SkipReason::NotAPurchase => "SkippedNotAPurchase",
            },
            1,
        );
    }
    counts
}

#[cfg(test)]
mod metrics_tests {
    use nps_domain::intake::{Outcome, SkipReason, Status};

    use super::outcome_counts;

    #[test]
    fn a_skip_counts_with_its_reason_and_a_repeat_apart() {
        let outcome = |status, reason| Outcome { status, reason, survey_request_id: None, next_eligible_at: None };
        let skipped = outcome_counts(&outcome(Status::Skipped, Some(SkipReason::Throttled)), false);
        let document = skipped.document("trigger", 0).unwrap();
        assert_eq!(
            (document["SurveysSkipped"].as_f64(), document["SkippedThrottled"].as_f64()),
            (Some(1.0), Some(1.0))
        );
        let sent = outcome_counts(&outcome(Status::Sent, None), false).document("trigger", 0).unwrap();
        assert_eq!(sent["SurveysSent"].as_f64(), Some(1.0));
        let repeat = outcome_counts(&outcome(Status::Sent, None), true).document("trigger", 0).unwrap();
        assert_eq!(repeat["RepeatedDeliveries"].as_f64(), Some(1.0));
        assert!(repeat.get("SurveysSent").is_none(), "a repeat sends nothing more");
    }
}
