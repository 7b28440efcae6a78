//! Routing, input bounds, and the one mapping of errors to HTTP answers
//! (`{"error": {"code", "message"}}`; 5xx means "retry me").

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use nps_domain::intake::{EventError, Outcome, TriggerEvent};
use nps_domain::{StoreError, Timestamp};
use nps_sending::IntakeError;
use serde_json::json;

use crate::App;
use crate::sources::{Incoming, SignatureError, Source};

/// Largest body accepted (a Shopify order with many line items stays well below).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    retry_after: Option<u64>,
    allow: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), retry_after: None, allow: None }
    }

    fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn into_response(self) -> Response<Body> {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut response = json_response(self.status, &body);
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(allow) = self.allow {
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

impl From<EventError> for ApiError {
    fn from(e: EventError) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", e.to_string())
    }
}

impl From<SignatureError> for ApiError {
    fn from(e: SignatureError) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_signature", e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_retryable() {
            tracing::warn!(error = %e, source = ?std::error::Error::source(&e), "storage unavailable");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "temporarily unavailable; retry")
                .retry_after(5)
        } else {
            tracing::error!(error = %e, source = ?std::error::Error::source(&e), "storage failure");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; retry later")
        }
    }
}

impl From<IntakeError> for ApiError {
    fn from(e: IntakeError) -> Self {
        match e {
            IntakeError::UnknownSurvey(id) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown_survey", format!("no survey with id {id}"))
            }
            IntakeError::InvalidKey(e) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", e.to_string()),
            IntakeError::InProgress { retry_after } => ApiError::new(
                StatusCode::CONFLICT,
                "in_progress",
                "this event is being processed by another delivery; retry",
            )
            .retry_after(retry_after),
            IntakeError::Unavailable(e) => e.into(),
        }
    }
}

pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// 202 for a new event, 200 for a repeat answered with the first outcome.
pub fn outcome_response(outcome: &Outcome, repeat: bool) -> Response<Body> {
    let status = if repeat { StatusCode::OK } else { StatusCode::ACCEPTED };
    json_response(status, &serde_json::to_value(outcome).unwrap_or_default())
}

fn method_not_allowed(allow: &'static str) -> ApiError {
    let mut e = ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", format!("use {allow}"));
    e.allow = Some(allow);
    e
}

/// The body, if it is JSON and within bounds.
pub fn json_body(req: &Request) -> Result<&[u8], ApiError> {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send Content-Type: application/json",
        ));
    }
    let body: &[u8] = req.body().as_ref();
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is over {MAX_BODY_BYTES} bytes"),
        ));
    }
    if body.is_empty() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", "body: is empty"));
    }
    Ok(body)
}

impl App {
    pub(crate) async fn route(&self, req: Request, now: Timestamp) -> Result<Response<Body>, ApiError> {
        // Behind a stage or a local URL prefix, the API's own path starts at "/v1/".
        let path = req.uri().path().to_owned();
        let path = path.find("/v1/").map_or(path.as_str(), |i| &path[i..]);
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
        match (segments.as_slice(), req.method()) {
            (["v1", "triggers", source], &Method::POST) => self.webhook(source, &req, now).await,
            (["v1", "triggers", _], _) => Err(method_not_allowed("POST")),
            (["v1", "people"], &Method::POST) => self.people(&req, now).await,
            (["v1", "people"], _) => Err(method_not_allowed("POST")),
            _ => Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")),
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
        let event = source.normalise(&incoming)?;
        self.accept(source.name(), &event, now).await
    }

    pub(crate) async fn accept(
        &self,
        source: &str,
        event: &TriggerEvent,
        now: Timestamp,
    ) -> Result<Response<Body>, ApiError> {
        let accepted = self.outbox.accept(source, event, now).await?;
        tracing::info!(
            source,
            status = ?accepted.outcome.status,
            reason = ?accepted.outcome.reason,
            repeat = accepted.repeat,
            request = accepted.outcome.survey_request_id.as_deref().unwrap_or("-"),
            "trigger handled"
        );
        Ok(outcome_response(&accepted.outcome, accepted.repeat))
    }
}
