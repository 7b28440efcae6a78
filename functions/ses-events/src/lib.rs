//! The `ses-events` function: SES bounce and complaint notifications, delivered by SNS, feed the
//! suppression list. Permanent bounces and every complaint suppress the address; transient bounces
//! (a full mailbox) and other notifications do not.
//!
//! Trust: SNS invokes this function directly, and its resource policy lets only the stack's own
//! topic invoke it (which only SES may publish to), so an outsider cannot deliver a message here
//! and the SNS signature need not be checked (that check is for HTTP subscriptions).
//!
//! A storage failure fails the invocation (suppressing again is harmless): Lambda retries it twice,
//! then keeps it in the template's dead-letter queue.

use nps_adapters::dynamo::{DynamoPeople, SuppressionReason, Table};
use nps_domain::person::{PersonId, PersonKey};
use nps_domain::{EmailAddress, StoreError, Timestamp};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct SnsEvent {
    #[serde(rename = "Records")]
    records: Vec<SnsRecord>,
}

#[derive(Deserialize)]
struct SnsRecord {
    #[serde(rename = "Sns")]
    sns: SnsMessage,
}

#[derive(Deserialize)]
struct SnsMessage {
    #[serde(rename = "Message")]
    message: String,
}

/// What a batch of notifications did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub suppressed: usize,
    pub ignored: usize,
    pub malformed: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("not an SNS event: {0}")]
    NotSns(String),
    /// Storage failed: the invocation fails, and SNS retries it (suppression is idempotent).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The addresses a notification suppresses, and why.
fn suppressions(message: &Value) -> Vec<(String, SuppressionReason)> {
    let kind = message.get("notificationType").or_else(|| message.get("eventType")).and_then(Value::as_str);
    let recipients = |list: Option<&Value>| -> Vec<String> {
        list.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("emailAddress").and_then(Value::as_str).map(str::to_owned))
            .collect()
    };
    match kind {
        Some("Bounce") if message.pointer("/bounce/bounceType").and_then(Value::as_str) == Some("Permanent") => {
            recipients(message.pointer("/bounce/bouncedRecipients"))
                .into_iter()
                .map(|a| (a, SuppressionReason::Bounced))
                .collect()
        }
        Some("Complaint") => recipients(message.pointer("/complaint/complainedRecipients"))
            .into_iter()
            .map(|a| (a, SuppressionReason::Complained))
            .collect(),
        _ => Vec::new(),
    }
}

pub struct App {
    people: DynamoPeople,
    person_key: PersonKey,
}

impl App {
    pub fn new(table: Table, person_key: PersonKey) -> Self {
        App { people: DynamoPeople::new(table), person_key }
    }

    pub async fn handle(&self, event: Value, now: Timestamp) -> Result<Report, EventError> {
        let event: SnsEvent = serde_json::from_value(event).map_err(|e| EventError::NotSns(e.to_string()))?;
        let mut report = Report::default();
        for record in event.records {
            let Ok(message) = serde_json::from_str::<Value>(&record.sns.message) else {
                report.malformed += 1;
                tracing::warn!("SNS message is not JSON; skipped");
                continue;
            };
            let found = suppressions(&message);
            if found.is_empty() {
                report.ignored += 1;
            }
            for (address, reason) in found {
                let Ok(email) = EmailAddress::parse(&address) else {
                    report.malformed += 1;
                    continue;
                };
                let person = PersonId::derive(&self.person_key, &email);
                self.people.suppress(&person, Some(&email), reason, now).await?;
                tracing::info!(person = %person, reason = reason.as_str(), "suppressed");
                report.suppressed += 1;
            }
        }
        Ok(report)
    }
}
