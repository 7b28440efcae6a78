//! `DELETE /v1/people/{email}` (write scope): GDPR erasure of one person (docs/people.md). The
//! address is hashed with the deployment's person key, as everywhere, and never logged.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use nps_domain::Timestamp;
use nps_domain::email::EmailAddress;
use nps_domain::person::PersonId;
use nps_http::{ApiError, json_of};
use percent_encoding::percent_decode_str;
use serde::Serialize;

use crate::App;

impl App {
    pub(crate) async fn erase_person(&self, segment: &str, now: Timestamp) -> Result<Response<Body>, ApiError> {
        let email = percent_decode_str(segment)
            .decode_utf8()
            .ok()
            .and_then(|e| EmailAddress::parse(&e).ok())
            .ok_or_else(|| ApiError::invalid("email: not an email address (percent-encode it in the path)"))?;
        let key = self.person_key.as_ref().ok_or_else(|| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "not_configured", "NPS_PERSON_KEY is not set")
        })?;
        let erased = self.erasure.erase(&PersonId::derive(key, &email), now).await?;
        tracing::info!(?erased, "person erased");
        // The same answer whether the address was ever surveyed or answered: what was removed is
        // in the log (counts only), so the answer tells no key holder whether an employee answered.
        json_of(StatusCode::ACCEPTED, &Answer { status: "erased", complete: erased.complete })
    }
}

/// The answer, fields in this order.
#[derive(Serialize)]
struct Answer {
    status: &'static str,
    /// `false`: more is left (over 25 survey requests); call again.
    complete: bool,
}
