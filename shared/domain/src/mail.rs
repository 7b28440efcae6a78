//! Sending one email. The domain builds the message; an adapter (SES) delivers it.

use std::error::Error;

use crate::EmailAddress;

/// A message with both a plain-text and an HTML body, and any extra headers
/// (such as `List-Unsubscribe`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// A bare address, or `Display Name <address>`.
    pub from: String,
    pub to: EmailAddress,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub headers: Vec<(String, String)>,
}

/// The provider's id for an accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageId(pub String);

type Source = Box<dyn Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Throttled, unreachable, timed out or paused: the message was not accepted; send it again later.
    #[error("mail service is unavailable; retry later")]
    Unavailable(#[source] Source),
    /// This message will never be accepted as it is (bad address, unverified sender, rejected content).
    #[error("mail service rejected the message")]
    Rejected(#[source] Source),
    /// No answer (timed out, or an unreadable reply): the message may or may not have been accepted.
    /// Sending again could deliver it twice.
    #[error("mail service outcome unknown")]
    Uncertain(#[source] Source),
}

pub trait Mailer {
    fn send(&self, email: &OutgoingEmail) -> impl Future<Output = Result<MessageId, MailError>> + Send;
}
