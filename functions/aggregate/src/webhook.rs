//! Signed webhooks out: alerts and response events, each a JSON `POST` with
//! `x-nps-signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (the scheme of our inbound
//! generic webhook) and `x-nps-event-id`, the same on every attempt.

use std::time::Duration;

use nps_domain::Timestamp;
use nps_domain::crypto::sign_timestamped;

pub const SIGNATURE_HEADER: &str = "x-nps-signature";
pub const EVENT_ID_HEADER: &str = "x-nps-event-id";

pub struct WebhookChannel {
    client: reqwest::Client,
    url: String,
    secret: String,
}

/// What a receiver did with one post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    Delivered,
    /// Unreachable, 429 or 5xx: try again later.
    Later,
    /// Any other 4xx: it will not take this.
    Refused,
    /// Timed out: it may have it.
    Unknown,
}

impl WebhookChannel {
    pub fn new(url: String, secret: String) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        Ok(WebhookChannel { client, url, secret })
    }

    pub async fn post(&self, body: String, event_id: &str, now: Timestamp) -> Posted {
        let signature = sign_timestamped(self.secret.as_bytes(), now.unix(), body.as_bytes());
        let sent = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(EVENT_ID_HEADER, event_id)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => Posted::Delivered,
            Ok(response) if response.status().as_u16() == 429 || response.status().is_server_error() => {
                tracing::warn!(status = %response.status(), "webhook receiver answered; retrying later");
                Posted::Later
            }
            Ok(response) => {
                tracing::error!(status = %response.status(), "webhook receiver refused the event");
                Posted::Refused
            }
            Err(e) if e.is_timeout() => {
                tracing::warn!(error = %e, "webhook receiver timed out");
                Posted::Unknown
            }
            Err(e) => {
                tracing::warn!(error = %e, "webhook receiver unreachable; retrying later");
                Posted::Later
            }
        }
    }
}

/// The wait before attempt `attempts + 1`: 1, 2, 4 … minutes, at most an hour.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(60 << attempts.min(6)).min(Duration::from_secs(3600))
}
