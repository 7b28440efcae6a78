//! Outbound response webhooks: `response.created` when a response is first confirmed,
//! `response.updated` for each confirmed change (a new version), so a CRM can keep the score on
//! the contact. Raised by the run that folds the change (before the fold, kept once per version),
//! delivered at least once with retries and backoff; receivers deduplicate by the event id.

use std::collections::BTreeMap;

use futures_util::StreamExt;
use nps_adapters::dynamo::keys::ItemKey;
use nps_adapters::dynamo::{Claimed, Delivery, DynamoOutbound, DynamoRequests, DynamoResponses};
use nps_domain::request::RequestId;
use nps_domain::response::Response;
use nps_domain::survey::SurveyKind;
use nps_domain::{StoreError, Timestamp};
use serde::{Deserialize, Serialize};

use crate::erased::person_erased;
use crate::webhook::{Posted, WebhookChannel, backoff};

/// Events delivered per run at most, and at once.
const DELIVERIES_PER_RUN: i32 = 200;
const IN_FLIGHT: usize = 8;
/// Attempts before an event is given up (about 8 hours of backoff).
const MAX_ATTEMPTS: u32 = 12;

/// One event, as posted (the person's email is added at delivery, never stored in the queue).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseEvent {
    /// `<response id>.v<version>`: the same on every attempt.
    pub id: String,
    /// `response.created` or `response.updated`.
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: Timestamp,
    pub data: EventData,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventData {
    pub id: String,
    pub survey: String,
    pub survey_type: SurveyKind,
    pub score: u8,
    pub comment: Option<String>,
    pub version: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub person_properties: BTreeMap<String, String>,
    /// The person's email, for the CRM; `null` once the person is erased.
    #[serde(default)]
    pub email: Option<String>,
}

/// The event a change to a response makes: a new confirmed version. None for eNPS: an event per
/// answer, with its time and properties, is the listing eNPS never gives (docs/enps.md).
pub fn event(old: Option<&Response>, new: &Response, now: Timestamp) -> Option<ResponseEvent> {
    let score = new.score?;
    if new.kind == SurveyKind::Enps {
        return None;
    }
    if old.is_some_and(|o| o.version == new.version) {
        return None;
    }
    let kind = if new.version <= 1 { "response.created" } else { "response.updated" };
    Some(ResponseEvent {
        id: format!("{}.v{}", new.request_id, new.version),
        kind: kind.to_owned(),
        created_at: now,
        data: EventData {
            id: new.request_id.to_string(),
            survey: new.survey_id.to_string(),
            survey_type: new.kind,
            score: score.value(),
            comment: new.comment.as_ref().map(|c| c.as_str().to_owned()),
            version: new.version,
            created_at: new.created_at,
            updated_at: new.updated_at,
            person_properties: new.properties.clone(),
            email: None,
        },
    })
}

/// Adds `event` to `events`, in place of an earlier one for the same response: the receiver gets
/// the latest version once, not each of a burst of changes folded together (a `response.created`
/// stays one, with the latest answer).
pub fn coalesce(events: &mut Vec<ResponseEvent>, mut event: ResponseEvent) {
    if let Some(earlier) = events.iter_mut().find(|e| e.data.id == event.data.id) {
        if earlier.data.version < event.data.version {
            if earlier.kind == "response.created" {
                event.kind = earlier.kind.clone();
            }
            *earlier = event;
        }
        return;
    }
    events.push(event);
}

pub struct ResponseWebhooks {
    /// The `ResponseEvents` queue.
    pub store: DynamoOutbound,
    pub requests: DynamoRequests,
    /// Read again before a comment is quoted (`erased`).
    pub responses: DynamoResponses,
    pub webhook: WebhookChannel,
}

impl ResponseWebhooks {
    /// Raises events (each version once); the count of new ones.
    pub async fn raise(&self, events: &[ResponseEvent], now: Timestamp) -> Result<usize, StoreError> {
        let mut raised = 0;
        for event in events {
            let mut event = event.clone();
            if event.data.comment.is_some() && person_erased(&self.responses, &event.data.id).await? {
                event.data.comment = None;
            }
            let key = ItemKey::response_event(&event.data.id, event.data.version);
            let body = serde_json::to_string(&event).map_err(|e| StoreError::Malformed(e.to_string()))?;
            raised += usize::from(self.store.raise(key, body, now).await?);
        }
        Ok(raised)
    }

    /// Delivers the events that are due, a few at once; the count delivered.
    pub async fn deliver(&self, now: Timestamp) -> Result<usize, StoreError> {
        let due = self.store.due(now, DELIVERIES_PER_RUN).await?;
        let results: Vec<Result<bool, StoreError>> = futures_util::stream::iter(due)
            .map(|key| async move {
                let Some(claimed) = self.store.claim(&key, now).await? else { return Ok(false) };
                let delivery = self.send(&claimed, now).await?;
                self.store.finish(&claimed, &delivery, now).await?;
                Ok(delivery == Delivery::Done)
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        let mut delivered = 0;
        for result in results {
            delivered += usize::from(result?);
        }
        Ok(delivered)
    }

    async fn send(&self, claimed: &Claimed, now: Timestamp) -> Result<Delivery, StoreError> {
        let mut event: ResponseEvent = match serde_json::from_str(&claimed.body) {
            Ok(event) => event,
            Err(e) => {
                tracing::error!(error = %e, event = %claimed.key.pk, "a response event that does not parse is dropped");
                return Ok(Delivery::Failed);
            }
        };
        if let Some(id) = RequestId::parse(&event.data.id)
            && let Some(request) = self.requests.get(id).await?
        {
            event.data.email = Some(request.email.as_str().to_owned());
        }
        let body = serde_json::to_string(&event).map_err(|e| StoreError::Malformed(e.to_string()))?;
        Ok(match self.webhook.post(body, &event.id, now).await {
            Posted::Delivered => Delivery::Done,
            Posted::Refused => Delivery::Failed,
            // At least once: a timeout is tried again; the receiver deduplicates by event id.
            Posted::Later | Posted::Unknown if claimed.attempts + 1 < MAX_ATTEMPTS => {
                Delivery::Retry { at: now.plus(backoff(claimed.attempts)), delivered: Vec::new() }
            }
            Posted::Later | Posted::Unknown => {
                tracing::error!(event = %event.id, "a response event was given up after {MAX_ATTEMPTS} attempts");
                Delivery::Failed
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nps_domain::fixtures;

    fn response(version: u32, score: Option<u8>) -> Response {
        let request = fixtures::sent_request(7, "default", &[], Timestamp::from_unix(1_795_392_000));
        fixtures::response(&request, SurveyKind::Transactional, score, version)
    }

    #[test]
    fn each_confirmed_version_is_one_event() {
        let now = Timestamp::from_unix(1_795_400_000);
        let click = response(0, None);
        let first = response(1, Some(9));
        let e = event(Some(&click), &first, now).expect("the first confirmation");
        assert_eq!((e.kind.as_str(), e.data.score, e.data.version), ("response.created", 9, 1));
        assert_eq!(e.id, format!("{}.v1", first.request_id));
        assert!(event(None, &click, now).is_none(), "a click is not an answer");
        let mut clicked_again = first.clone();
        clicked_again.revision += 1;
        assert!(event(Some(&first), &clicked_again, now).is_none(), "another click: the same version");
        let changed = response(2, Some(10));
        let e = event(Some(&first), &changed, now).expect("a change");
        assert_eq!((e.kind.as_str(), e.data.version), ("response.updated", 2));
        let mut anonymous = first.clone();
        anonymous.kind = SurveyKind::Enps;
        assert!(event(Some(&click), &anonymous, now).is_none(), "eNPS answers raise no event");
    }

    #[test]
    fn a_burst_of_versions_is_one_event_with_the_latest() {
        let now = Timestamp::from_unix(1_795_400_000);
        let mut events = Vec::new();
        let first = response(1, Some(9));
        let versions: Vec<Response> = (1..=5)
            .map(|v| {
                let mut r = first.clone();
                r.version = v;
                r.score = Some(nps_scoring::Score::try_from(if v % 2 == 0 { 10u8 } else { 9 }).unwrap());
                r
            })
            .collect();
        coalesce(&mut events, event(None, &versions[0], now).unwrap());
        for pair in versions.windows(2) {
            coalesce(&mut events, event(Some(&pair[0]), &pair[1], now).unwrap());
        }
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].kind.as_str(), events[0].data.version, events[0].data.score), ("response.created", 5, 9));
        assert_eq!(events[0].id, format!("{}.v5", versions[4].request_id));
        coalesce(&mut events, event(Some(&versions[3]), &versions[4], now).unwrap());
        assert_eq!(events.len(), 1, "an older or equal version changes nothing");
    }
}
