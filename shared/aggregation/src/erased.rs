//! What is raised from the stream (alerts, response events) quotes the answer's image as it was
//! then. A person erased since (GDPR) must not be quoted afterwards: before a comment is stored in
//! a queue, the response is read again, and its comment dropped if it carries erasure's mark.

use nps_adapters::dynamo::DynamoResponses;
use nps_domain::StoreError;
use nps_domain::request::RequestId;

/// Whether the response was erased, or is gone (a strongly consistent read).
pub(crate) async fn person_erased(responses: &DynamoResponses, id: &str) -> Result<bool, StoreError> {
    let Some(id) = RequestId::parse(id) else { return Ok(true) };
    Ok(responses.erased_at(id).await?.is_none_or(|erased| erased.is_some()))
}
