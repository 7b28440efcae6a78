//! What the HTTP functions share: the one mapping of errors to JSON answers
//! (`{"error": {"code", "message"}}`; 5xx means "retry me"), body bounds, API-key auth, and the
//! headers of a server-rendered page, and the one log line per request (`access`).

mod access;
pub use access::access_logged;

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

/// [`respond`] in `dialect`: Delighted's clients know a validation error as `422`.
pub fn respond_in(dialect: Dialect, result: Result<Response<Body>, ApiError>) -> Response<Body> {
    respond(result.map_err(|e| match dialect {
        Dialect::Delighted if e.status == StatusCode::BAD_REQUEST => {
            ApiError { status: StatusCode::UNPROCESSABLE_ENTITY, ..e }
        }
        _ => e,
    }))
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
/// starts there. Split into segments, without a trailing empty one; a last segment's `.json`
/// (Delighted's clients may ask for `/v1/people.json`) is dropped.
pub fn api_path(req: &Request) -> Vec<String> {
    let path = req.uri().path();
    let path = path.find("/v1/").map_or(path, |i| &path[i..]);
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".json").unwrap_or(path);
    path.split('/').skip(1).map(str::to_owned).collect()
}

/// Which API's conventions a request follows: Delighted's clients authenticate with
/// `Authorization: Basic`, ours with `Bearer`; a route both serve answers each in its own shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Ours,
    Delighted,
}

pub fn dialect(req: &Request) -> Dialect {
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.get(..6).is_some_and(|scheme| scheme.eq_ignore_ascii_case("basic ")));
    if basic { Dialect::Delighted } else { Dialect::Ours }
}

/// The key in `Authorization`: `Bearer <key>`, or `Basic` over `<key>` (Delighted's Python
/// client) or `<key>:` (its Node and Ruby clients: the key as user name, no password).
fn presented_key(value: &str) -> Option<String> {
    let (scheme, credential) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(credential.trim().to_owned());
    }
    if !scheme.eq_ignore_ascii_case("basic") || credential.len() > 200 {
        return None;
    }
    let decoded = String::from_utf8(base64_decode(credential.trim())?).ok()?;
    Some(decoded.strip_suffix(':').unwrap_or(&decoded).to_owned())
}

/// Standard base64 with padding, as a Basic credential is encoded.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// The API key of `Authorization` (Bearer or Basic), if it verifies and allows `needed`.
pub async fn authorize(req: &Request, keys: &DynamoApiKeys, needed: Scope) -> Result<ApiKey, ApiError> {
    let unauthorized = |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
    let presented =
        req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(presented_key).ok_or_else(
            || unauthorized("send Authorization: Bearer <API key> (or Basic, as Delighted's clients do)"),
        )?;
    let key = keys.verify(&presented).await?.ok_or_else(|| unauthorized("unknown or revoked API key"))?;
    if !key.scope.allows(needed) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "this API key may only read"));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_presented_as_bearer_or_as_either_basic_credential() {
        let key = "nps_0123456789abcdef_AZaz09-_AZaz09-_AZaz09";
        assert_eq!(presented_key(&format!("Bearer {key}")).as_deref(), Some(key));
        // Python: base64("<key>"); Node and Ruby: base64("<key>:").
        for credential in [key.to_owned(), format!("{key}:")] {
            use base64::Engine;
            let encoded = base64::engine::general_purpose::STANDARD.encode(credential);
            assert_eq!(presented_key(&format!("Basic {encoded}")).as_deref(), Some(key));
            assert_eq!(presented_key(&format!("basic {encoded}")).as_deref(), Some(key));
        }
        for bad in ["", "Basic", "Basic !!!", "Digest abc", &format!("Basic {}", "A".repeat(300))] {
            assert_eq!(presented_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_json_suffix_names_the_same_route() {
        let path = |uri: &str| api_path(&lambda_http::http::Request::builder().uri(uri).body(Body::Empty).unwrap());
        assert_eq!(path("https://x/v1/people.json"), ["v1", "people"]);
        assert_eq!(path("https://x/prefix/v1/survey_responses/01AB.json?x=1"), ["v1", "survey_responses", "01AB"]);
        assert_eq!(path("https://x/v1/responses.csv"), ["v1", "responses.csv"]);
    }
}
