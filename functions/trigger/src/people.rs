//! `POST /v1/people`: survey a person directly, with an API key of write scope. The field names
//! are Delighted's where they overlap (`email`, `name`, `delay`, `properties`, `send`), so a
//! migration keeps its calls. `Idempotency-Key` makes a retried call safe.

use std::time::Duration;

use lambda_http::{Body, Request, Response};
use nps_adapters::dynamo::Scope;
use nps_domain::Timestamp;
use nps_domain::intake::{EventError, Outcome, SkipReason, TriggerEvent};
use nps_domain::survey::SurveyId;
use nps_http::{ApiError, authorize, json_body};
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
        let person: Person = serde_json::from_slice(body).map_err(|e| EventError::invalid("body", e.to_string()))?;
        let send = person.send.unwrap_or(true);
        let event_id = match req.headers().get("idempotency-key") {
            Some(v) => crate::sources::event_id(v.to_str().unwrap_or(""))
                .map_err(|_| EventError::invalid("Idempotency-Key", "must be 1 to 256 visible ASCII characters"))?,
            None => format!("api-{:032x}", fastrand::u128(..)),
        };
        let event = event(person, event_id)?;
        if !send {
            return Ok(outcome_response(&Outcome::skipped(SkipReason::NotRequested), false));
        }
        self.accept("api", &event, now).await
    }
}
