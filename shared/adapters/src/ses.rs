//! Sends mail through SES (the sesv2 API): `SendEmail`, and `GetAccount` for the account's
//! maximum send rate (dispatch, at init). The local SES stand-in answers only `SendEmail`, so the
//! rate is given locally (`NPS_SES_MAX_SEND_RATE`).

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::SdkError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, MessageHeader};
use nps_domain::mail::{MailError, Mailer, MessageId, OutgoingEmail};

/// SES's error codes that mean "not now" rather than "never this message".
const TRANSIENT_CODES: &[&str] =
    &["TooManyRequestsException", "LimitExceededException", "SendingPausedException", "AccountSuspendedException"];

#[derive(Debug, Clone)]
pub struct SesMailer {
    client: Client,
    configuration_set: Option<String>,
}

impl SesMailer {
    /// `configuration_set` routes bounce and complaint events (to SNS, in the deployed stack).
    /// Build `client` with [`SesMailer::client`].
    pub fn new(client: Client, configuration_set: Option<String>) -> Self {
        SesMailer { client, configuration_set }
    }

    /// An SES client that never retries by itself: a retry after a timeout could send an email
    /// twice, so the caller decides, knowing which failures are safe to retry.
    /// Traced (X-Ray subsegments) when the function is.
    pub fn client(config: &SdkConfig) -> Client {
        let mut config = aws_sdk_sesv2::config::Builder::from(config).retry_config(RetryConfig::disabled());
        if let Some(xray) = crate::xray::XRay::from_lambda_env() {
            config = config.interceptor(xray);
        }
        Client::from_conf(config.build())
    }

    /// The account's maximum send rate (emails per second) in this region, as SES reports it.
    pub async fn max_send_rate(&self) -> Result<f64, MailError> {
        let account = self.client.get_account().send().await.map_err(|e| MailError::Unavailable(Box::new(e)))?;
        account
            .send_quota()
            .map(|q| q.max_send_rate())
            .filter(|rate| *rate > 0.0)
            .ok_or_else(|| MailError::Unavailable("SES reported no send quota".into()))
    }
}

fn utf8(data: &str) -> Result<Content, MailError> {
    Content::builder().data(data).charset("UTF-8").build().map_err(|e| MailError::Rejected(Box::new(e)))
}

fn message(email: &OutgoingEmail) -> Result<Message, MailError> {
    let headers = email
        .headers
        .iter()
        .map(|(name, value)| MessageHeader::builder().name(name).value(value).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| MailError::Rejected(Box::new(e)))?;
    Ok(Message::builder()
        .subject(utf8(&email.subject)?)
        .body(Body::builder().text(utf8(&email.text)?).html(utf8(&email.html)?).build())
        .set_headers(Some(headers))
        .build())
}

impl Mailer for SesMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<MessageId, MailError> {
        let sent = self
            .client
            .send_email()
            .from_email_address(&email.from)
            .destination(Destination::builder().to_addresses(email.to.as_str()).build())
            .content(EmailContent::builder().simple(message(email)?).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await;
        match sent {
            Ok(out) => Ok(MessageId(out.message_id().unwrap_or_default().to_owned())),
            // The request may have reached SES: only the caller may decide what to do.
            Err(err @ (SdkError::TimeoutError(_) | SdkError::ResponseError(_))) => {
                Err(MailError::Uncertain(Box::new(err)))
            }
            Err(err) if crate::aws::is_transient(&err, TRANSIENT_CODES) => Err(MailError::Unavailable(Box::new(err))),
            Err(err) => Err(MailError::Rejected(Box::new(err))),
        }
    }
}
