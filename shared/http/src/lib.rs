//! What the HTTP functions share: the one mapping of errors to JSON answers
//! (`{"error": {"code", "message"}}`; 5xx means "retry me"), body bounds, API-key auth, and the
//! headers of a server-rendered page.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use nps_adapters::dynamo::{ApiKey, DynamoApiKeys, Scope};
use nps_domain::StoreError;
use nps_domain::intake::EventError;
use serde_json::json;

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

    /// 400 `invalid_request`, naming what is wrong.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn not_found() -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
    }

    pub fn method_not_allowed(allow: &'static str) -> Self {
        let mut e = ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", format!("use {allow}"));
        e.allow = Some(allow);
        e
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
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
        ApiError::invalid(e.to_string())
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

/// The answer to a routed request: the response, or the error as its JSON answer.
pub fn respond(result: Result<Response<Body>, ApiError>) -> Response<Body> {
    result.unwrap_or_else(ApiError::into_response)
}

pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    json_text(status, body.to_string())
}

/// `body` as JSON with its fields in their declared order (a `Value` would sort them).
pub fn json_of<T: serde::Serialize>(status: StatusCode, body: &T) -> Result<Response<Body>, ApiError> {
    let text = serde_json::to_string(body).map_err(|e| {
        tracing::error!(error = %e, "an answer did not serialise");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; retry later")
    })?;
    Ok(json_text(status, text))
}

fn json_text(status: StatusCode, text: String) -> Response<Body> {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A server-rendered page: never cached, never sniffed, no referrer sent on (a page's URL may hold
/// a token), and its `Content-Security-Policy`.
pub fn html_page(status: StatusCode, html: String, csp: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(html));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(csp) = HeaderValue::from_str(csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
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
        return Err(ApiError::invalid("body: is empty"));
    }
    Ok(body)
}

/// The request's path from `/v1/` on: behind a stage or a local URL prefix, the API's own path
/// starts there. Split into segments, without a trailing empty one.
pub fn api_path(req: &Request) -> Vec<String> {
    let path = req.uri().path();
    let path = path.find("/v1/").map_or(path, |i| &path[i..]);
    path.trim_end_matches('/').split('/').skip(1).map(str::to_owned).collect()
}

/// The API key of `Authorization: Bearer <key>`, if it verifies and allows `needed`.
pub async fn authorize(req: &Request, keys: &DynamoApiKeys, needed: Scope) -> Result<ApiKey, ApiError> {
    let unauthorized = |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| unauthorized("send Authorization: Bearer <API key>"))?;
    let key = keys.verify(presented.trim()).await?.ok_or_else(|| unauthorized("unknown or revoked API key"))?;
    if !key.scope.allows(needed) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "this API key may only read"));
    }
    Ok(key)
}
