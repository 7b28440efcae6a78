//! `DELETE /v1/people/{email}` (write scope): GDPR erasure of one person (docs/people.md). The
//! address is hashed with the deployment's person key, as everywhere, and never logged. Delighted's
//! forms (`{id}`, `email:…`, `phone_number:…`) reach the same erasure.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use nps_domain::Timestamp;
use nps_http::{ApiError, Dialect, json_of};
use serde::Serialize;

use crate::App;

impl App {
    pub(crate) async fn erase_person(
        &self,
        segment: &str,
        dialect: Dialect,
        now: Timestamp,
    ) -> Result<Response<Body>, ApiError> {
        let complete = match self.person_of_segment(segment)? {
            Some(person) => {
                let erased = self.erasure.erase(&person, now).await?;
                tracing::info!(?erased, "person erased");
                erased.complete
            }
            None => true,
        };
        // The same answer whether the address was ever surveyed or answered: what was removed is
        // in the log (counts only), so the answer tells no key holder whether an employee answered.
        match dialect {
            Dialect::Ours => json_of(StatusCode::ACCEPTED, &Answer { status: "erased", complete }),
            Dialect::Delighted => json_of(StatusCode::ACCEPTED, &serde_json::json!({"ok": true, "complete": complete})),
        }
    }
}

/// The answer, fields in this order.
#[derive(Serialize)]
struct Answer {
    status: &'static str,
    /// `false`: more is left (over 25 survey requests); call again.
    complete: bool,
}
