//! Signed webhooks out: alerts and response events, each a JSON `POST` with
//! `x-nps-signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (the scheme of our inbound
//! generic webhook) and `x-nps-event-id`, the same on every attempt. Redirects are not followed
//! (a receiver cannot send our signed events, or our function, elsewhere), and the URL is never
//! logged: a Slack webhook's URL is its secret.

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use nps_domain::Timestamp;
use nps_domain::crypto::sign_timestamped;

pub const SIGNATURE_HEADER: &str = "x-nps-signature";
pub const EVENT_ID_HEADER: &str = "x-nps-event-id";

/// How long a receiver has to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// hyper's client over rustls, both already in the AWS SDK's graph: a webhook needs one `POST`,
/// not a second HTTP stack (reqwest's was ~90 KB of the aggregate function's code).
type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

pub struct WebhookChannel {
    /// Built at the first post: loading the system's root certificates is not init's work.
    client: OnceLock<Result<HttpsClient, String>>,
    url: Uri,
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
    /// Refuses a URL that cannot be read, saying why without repeating it (a Slack webhook's URL
    /// is its secret).
    pub fn new(url: String, secret: String) -> Result<Self, &'static str> {
        let url: Uri = url.parse().map_err(|_| "is not a URL")?;
        Ok(WebhookChannel { client: OnceLock::new(), url, secret })
    }

    fn client(&self) -> Result<&HttpsClient, &str> {
        let built = self.client.get_or_init(|| {
            let https = HttpsConnectorBuilder::new()
                .with_native_roots()
                .map_err(|e| format!("the system's root certificates: {e}"))?
                .https_or_http()
                .enable_http1()
                .build();
            Ok(Client::builder(TokioExecutor::new()).build(https))
        });
        built.as_ref().map_err(String::as_str)
    }

    pub async fn post(&self, body: String, event_id: &str, now: Timestamp) -> Posted {
        let client = match self.client() {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(error = e, "no HTTPS client for webhooks; retrying later");
                return Posted::Later;
            }
        };
        let signature = sign_timestamped(self.secret.as_bytes(), now.unix(), body.as_bytes());
        let request = Request::post(&self.url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(EVENT_ID_HEADER, event_id)
            .body(Full::new(Bytes::from(body)));
        let request = match request {
            Ok(request) => request,
            Err(e) => {
                tracing::error!(error = %e, "webhook request not built");
                return Posted::Refused;
            }
        };
        // Redirects are not followed: hyper's client never does; a 3xx is an answer.
        match tokio::time::timeout(TIMEOUT, client.request(request)).await {
            Ok(Ok(response)) if response.status().is_success() => Posted::Delivered,
            Ok(Ok(response)) if response.status().as_u16() == 429 || response.status().is_server_error() => {
                tracing::warn!(status = %response.status(), "webhook receiver answered; retrying later");
                Posted::Later
            }
            Ok(Ok(response)) => {
                tracing::error!(status = %response.status(), "webhook receiver refused the event");
                Posted::Refused
            }
            Ok(Err(e)) => {
                // hyper-util's errors name the connection's failure, never the URL.
                tracing::warn!(error = %e, "webhook receiver unreachable; retrying later");
                Posted::Later
            }
            Err(_) => {
                tracing::warn!("webhook receiver timed out");
                Posted::Unknown
            }
        }
    }
}

/// The wait before attempt `attempts + 1`: 1, 2, 4 … minutes, at most an hour.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(60 << attempts.min(6)).min(Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    #[tokio::test]
    async fn a_redirect_is_not_followed() {
        // Where a receiver would send the event on: nothing may arrive there.
        let elsewhere = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = format!("http://{}/stolen", elsewhere.local_addr().unwrap());
        let receiver = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", receiver.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut stream, _) = receiver.accept().await.unwrap();
            let mut request = vec![0; 4096];
            let _ = stream.read(&mut request).await;
            let answer = format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n");
            stream.write_all(answer.as_bytes()).await.unwrap();
        });
        let channel = WebhookChannel::new(url, "0123456789abcdef".into()).unwrap();
        let posted = channel.post("{}".into(), "e1", Timestamp::from_unix(1_795_400_000)).await;
        assert_eq!(posted, Posted::Refused, "a 3xx is an answer, not a way elsewhere");
        let arrived = tokio::time::timeout(Duration::from_millis(300), elsewhere.accept()).await;
        assert!(arrived.is_err(), "nothing was sent to the redirect's target");
    }
}
