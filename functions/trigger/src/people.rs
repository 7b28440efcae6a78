//! `POST /v1/people`: survey a person directly, with an API key of write scope. The field names
//! are Delighted's where they overlap (`email`, `name`, `delay`, `properties`, `send`), so a
//! migration keeps its calls. `Idempotency-Key` makes a retried call safe. With `Authorization:
//! Basic` (Delighted's clients) the call is Delighted's: its fields, its answer (docs/delighted.md).

use std::time::Duration;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use nps_adapters::dynamo::Scope;
use nps_domain::Timestamp;
use nps_domain::intake::{EventError, Outcome, SkipReason, Status, TriggerEvent};
use nps_domain::person::PersonId;
use nps_domain::survey::SurveyId;
use nps_http::{ApiError, Dialect, authorize, dialect, json_body, json_of};
use serde::Deserialize;
use serde_json::Value;

use crate::App;
use crate::http::outcome_response;

const MAX_DELAY_SECS: u64 = 90 * 86_400;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Person {
    email: String,
    name: Option<String>,
    survey: Option<String>,
    /// Seconds to wait before sending.
    delay: Option<u64>,
    locale: Option<String>,
    transaction_id: Option<String>,
    properties: Option<serde_json::Map<String, Value>>,
    /// `false`: validate only, send nothing.
    send: Option<bool>,
}

/// Delighted's `POST /v1/people` body. `locale` is one of the `properties`, as are its wording
/// overrides; `channel` other than `email` keeps the person unsurveyed; `phone_number`,
/// `last_sent_at` and `email_update` are accepted and ignored (docs/delighted.md).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DelightedPerson {
    email: Option<String>,
    name: Option<String>,
    delay: Option<u64>,
    send: Option<bool>,
    properties: Option<serde_json::Map<String, Value>>,
    channel: Option<String>,
    #[serde(rename = "phone_number")]
    _phone_number: Option<Value>,
    #[serde(rename = "last_sent_at")]
    _last_sent_at: Option<Value>,
    #[serde(rename = "email_update")]
    _email_update: Option<Value>,
}

impl DelightedPerson {
    /// As our own call: `locale` and `trend` (the survey) come out of the properties. A channel
    /// other than email (SMS is not sent) keeps the person without a survey.
    fn into_person(self) -> Result<Person, EventError> {
        let by_email = self.channel.as_deref().is_none_or(|c| c == "email");
        let mut properties = self.properties.unwrap_or_default();
        let locale = properties.remove("locale").and_then(|l| l.as_str().map(|l| l.to_owned()));
        // A language we have no wording for falls back to the survey's, as Delighted did.
        let locale = locale.filter(|l| nps_domain::survey::Locale::from_tag(l).is_some());
        let survey = properties.remove("trend").and_then(|t| crate::sources::scalar_text(&t));
        Ok(Person {
            email: self.email.ok_or_else(|| EventError::invalid("email", "is required"))?,
            name: self.name,
            survey,
            delay: self.delay,
            locale,
            transaction_id: None,
            properties: Some(properties),
            send: if by_email { self.send } else { Some(false) },
        })
    }
}

fn event(p: Person, event_id: String) -> Result<TriggerEvent, EventError> {
    let delay = match p.delay {
        Some(d) if d > MAX_DELAY_SECS => return Err(EventError::invalid("delay", "at most 90 days (7776000 seconds)")),
        d => d.map(Duration::from_secs),
    };
    let properties = crate::sources::strict_properties(p.properties)?;
    Ok(TriggerEvent {
        event_id,
        email: crate::sources::email(Some(&p.email))?,
        name: crate::sources::name(p.name.as_deref())?,
        locale: crate::sources::strict_locale(p.locale.as_deref())?,
        survey: p
            .survey
            .as_deref()
            .map(SurveyId::parse)
            .transpose()
            .map_err(|e| EventError::invalid("survey", e.to_string()))?,
        transaction_id: crate::sources::transaction_id(p.transaction_id)?,
        occurred_at: None,
        send_at: None,
        delay,
        properties,
    })
}

impl App {
    pub(crate) async fn people(&self, req: &Request, now: Timestamp) -> Result<Response<Body>, ApiError> {
        authorize(req, &self.api_keys, Scope::Write).await?;
        let body = json_body(req)?;
        let delighted = dialect(req) == Dialect::Delighted;
        let person: Person = if delighted {
            let p: DelightedPerson =
                serde_json::from_slice(body).map_err(|e| EventError::invalid("body", e.to_string()))?;
            p.into_person()?
        } else {
            serde_json::from_slice(body).map_err(|e| EventError::invalid("body", e.to_string()))?
        };
        let send = person.send.unwrap_or(true);
        let event_id = match req.headers().get("idempotency-key") {
            Some(v) => crate::sources::event_id(v.to_str().unwrap_or(""))
                .map_err(|_| EventError::invalid("Idempotency-Key", "must be 1 to 256 visible ASCII characters"))?,
            None => format!("api-{:032x}", fastrand::u128(..)),
        };
        let event = event(person, event_id)?;
        if delighted {
            return self.delighted_person(event, send, now).await;
        }
        if !send {
            return Ok(outcome_response(&Outcome::skipped(SkipReason::NotRequested), false));
        }
        self.accept("api", &event, now).await
    }

    /// Delighted's answer: `{id, email, name, survey_scheduled_at, properties}`; the person is
    /// listed by `GET /v1/people` whether or not a survey was scheduled.
    async fn delighted_person(
        &self,
        event: TriggerEvent,
        send: bool,
        now: Timestamp,
    ) -> Result<Response<Body>, ApiError> {
        let person = PersonId::derive(&self.config.sending.person_key, &event.email);
        let mut scheduled_at = None;
        if send {
            let accepted = self.outbox.accept("api", &event, now).await.map_err(crate::http::intake_error)?;
            tracing::info!(status = ?accepted.outcome.status, reason = ?accepted.outcome.reason, "delighted person");
            if let Some(id) =
                accepted.outcome.survey_request_id.as_deref().and_then(nps_domain::request::RequestId::parse)
            {
                scheduled_at = self.requests.get(id).await?.map(|r| r.sent_at.unwrap_or(r.due_at).unix());
            } else if accepted.outcome.status == Status::Enrolled {
                // Added to a list: its next wave is the survey to come.
                scheduled_at = accepted
                    .outcome
                    .next_eligible_at
                    .as_deref()
                    .and_then(Timestamp::parse_rfc3339)
                    .map(Timestamp::unix);
            }
        }
        if scheduled_at.is_none() {
            // No survey (not asked for, throttled, suppressed): the person is kept all the same.
            let keep = now.plus(self.config.sending.retention);
            self.people.touch_profile(&person, &event.email, event.name.as_deref(), now, keep).await?;
        }
        let mut properties = serde_json::Map::new();
        for (k, v) in &event.properties {
            properties.insert(k.clone(), Value::String(v.clone()));
        }
        if let Some(locale) = event.locale {
            properties.insert("locale".into(), Value::String(locale.as_str().to_owned()));
        }
        json_of(
            StatusCode::CREATED,
            &serde_json::json!({
                "id": person.as_str(), "email": event.email.as_str(), "name": event.name,
                "survey_scheduled_at": scheduled_at, "properties": properties,
            }),
        )
    }
}
