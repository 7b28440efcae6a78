//! What is raised from the stream (alerts, response events) quotes the answer's image as it was
//! then. A person erased since (GDPR) must not be quoted afterwards: before a comment is stored in
//! a queue, the response is read again, and its comment dropped if its person is gone.

use nps_adapters::dynamo::DynamoResponses;
use nps_domain::StoreError;
use nps_domain::request::RequestId;
use nps_domain::survey::SurveyKind;

/// Whether the response's person was erased, or the response is gone (a strongly consistent read).
pub(crate) async fn person_erased(responses: &DynamoResponses, id: &str) -> Result<bool, StoreError> {
    let Some(id) = RequestId::parse(id) else { return Ok(true) };
    Ok(match responses.get(id).await? {
        None => true,
        // eNPS answers never have a person; any other loses it only to an erasure.
        Some(r) => r.kind != SurveyKind::Enps && r.person_id.is_none(),
    })
}
