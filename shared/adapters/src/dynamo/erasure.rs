//! GDPR erasure of one person (docs/data-model.md, "Erasure"): their survey requests (which hold
//! the address), the markers that point at them, and what ties their responses to them. Counts
//! stay: a request is marked before it is deleted, so the aggregator keeps what it counted, and a
//! response keeps its score and day. The profile goes. The suppression entry stays, without its
//! address (so it is no longer listed): an erasure must not start mailing someone who unsubscribed
//! or complained, and the keyed hash is enough to recognise them.

use nps_domain::idempotency::IdempotencyKey;
use nps_domain::intake::Outcome;
use nps_domain::person::PersonId;
use nps_domain::request::{RequestId, SurveyRequest};
use nps_domain::rollup::ALL;
use nps_domain::survey::{SurveyId, SurveyKind};
use nps_domain::{StoreError, Timestamp};

use super::idempotency::{EVENT_RECORD_RETENTION, record};
use super::item::{Attrs, Item, n};
use super::keys::{ItemKey, REQUEST_PREFIX, attr, request_of};
use super::{DynamoResponses, DynamoThemes, Table, people, requests};

/// Requests erased per call: each costs a few round trips, and an HTTP answer must come in
/// seconds. A person with more is erased by calling again (`complete` says so).
const REQUESTS_PER_CALL: usize = 25;

/// What one call removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Erased {
    /// Survey requests deleted, with their address.
    pub survey_requests: usize,
    /// Responses whose person id, comment and click evidence were removed.
    pub responses: usize,
    /// Throttle windows, request pointers, transaction markers and the profile deleted, and the
    /// suppression's address removed.
    pub markers: usize,
    /// Detractor alerts and response events (which may quote the comment) deleted.
    pub notifications: usize,
    /// `false`: more requests are left; call again.
    pub complete: bool,
}

#[derive(Debug, Clone)]
pub struct DynamoErasure {
    table: Table,
    responses: DynamoResponses,
}

impl DynamoErasure {
    pub fn new(table: Table) -> Self {
        DynamoErasure { responses: DynamoResponses::new(table.clone()), table }
    }

    /// Erases `person`; idempotent (a repeat finds nothing and removes nothing).
    pub async fn erase(&self, person: &PersonId, now: Timestamp) -> Result<Erased, StoreError> {
        let items = self.all(ItemKey::suppression(person).pk, true).await?;
        let (mut pointers, mut throttles, mut addressed) = (Vec::new(), Vec::new(), false);
        for item in &items {
            let sk = Attrs(item).s(attr::SK)?;
            let key = ItemKey { pk: Attrs(item).s(attr::PK)?.to_owned(), sk: sk.to_owned() };
            if sk.starts_with(REQUEST_PREFIX) {
                let id = request_of(sk).ok_or_else(|| StoreError::Malformed(format!("request pointer {sk}")))?;
                pointers.push((id, key));
            } else if sk.starts_with("THROTTLE#") || key == ItemKey::profile(person) || key == ItemKey::fatigue(person)
            {
                throttles.push(key);
            } else if let Some(survey) = sk.strip_prefix("MEMBER#") {
                // A survey list's membership (it holds the address): the member, then the pointer.
                let survey =
                    SurveyId::parse(survey).map_err(|_| StoreError::Malformed(format!("member pointer {sk}")))?;
                throttles.push(ItemKey::member(&survey, person));
                throttles.push(key);
            } else if key == ItemKey::suppression(person) {
                addressed = Attrs(item).opt_s(people::EMAIL).is_some();
            }
        }
        let mut erased = Erased { complete: pointers.len() <= REQUESTS_PER_CALL, ..Erased::default() };
        for (id, pointer) in pointers.into_iter().take(REQUESTS_PER_CALL) {
            self.erase_request(id, now, &mut erased).await?;
            // Last: until the request and its response are done, a retry finds them from here.
            self.table.delete(pointer).await?;
            erased.markers += 1;
        }
        if erased.complete {
            for throttle in throttles {
                self.table.delete(throttle).await?;
                erased.markers += 1;
            }
            if addressed {
                self.table
                    .update(ItemKey::suppression(person))
                    .update_expression("REMOVE #email, #lpk, #lsk")
                    .expression_attribute_names("#email", people::EMAIL)
                    .expression_attribute_names("#lpk", attr::LISTING_PK)
                    .expression_attribute_names("#lsk", attr::LISTING_SK)
                    .send()
                    .await
                    .map_err(super::store_error)?;
                erased.markers += 1;
            }
        }
        Ok(erased)
    }

    /// Deletes the transaction's marker. One that records the event that made the request leaves
    /// that record behind it (no address: the event id and its outcome), so that a sender's replay
    /// of the event within its retry window still surveys nobody.
    async fn erase_marker(&self, request: &SurveyRequest, transaction: &str, now: Timestamp) -> Result<(), StoreError> {
        let marker = ItemKey::transaction(&request.survey_id, transaction);
        let keep_until = request.created_at.plus(EVENT_RECORD_RETENTION);
        let event = IdempotencyKey::new(&request.source, &request.event_id).ok().filter(|_| keep_until > now);
        if let Some(event) = event
            && let Some(item) = self.table.get(marker.clone(), true).await?
            && let Some(outcome) = people::transaction_outcome(&item, &ItemKey::idempotency(&event))
        {
            // The outcome as a repeat would have been told it, now that the request cannot be read.
            let told = Outcome::from_stored(&outcome)?.as_of(request.sent_at.is_some());
            let told = serde_json::to_string(&told).map_err(|e| StoreError::Malformed(e.to_string()))?;
            // A record there already says the same.
            record(&self.table, &event, &told, keep_until).await?;
        }
        self.table.delete(marker).await
    }

    async fn erase_request(&self, id: RequestId, now: Timestamp, erased: &mut Erased) -> Result<(), StoreError> {
        if let Some(item) = self.table.get(ItemKey::request(id), true).await? {
            let request = requests::from_item(id, &item)?;
            // Marked first: the deletion's old image then carries the mark, and the aggregator
            // keeps the `sent` it counted, as for a deletion by TTL.
            let marked = self
                .table
                .update(ItemKey::request(id))
                .update_expression("SET #erased = :now")
                .condition_expression("attribute_exists(#pk)")
                .expression_attribute_names("#pk", attr::PK)
                .expression_attribute_names("#erased", attr::ERASED_AT)
                .expression_attribute_values(":now", n(now.unix()))
                .send()
                .await;
            // Gone meanwhile (a second erasure at once) is the same outcome.
            if self.table.conditional(marked, |o| o.consumed_capacity())?.is_some() {
                if let Some(transaction) = &request.transaction_id {
                    self.erase_marker(&request, transaction, now).await?;
                    erased.markers += 1;
                }
                // Deleted before the response is changed: capture then has no request to save an
                // answer for, so nothing can write the identity back.
                self.table.delete(ItemKey::request(id)).await?;
                erased.survey_requests += 1;
            }
        }
        let Some(response) = self.responses.get(id).await? else { return Ok(()) };
        let anonymous = response.kind == SurveyKind::Enps;
        if response.person_id.is_some() || (response.comment.is_some() && !anonymous) || !response.clicks.is_empty() {
            self.responses.erase_identity(id, now, anonymous).await?;
            erased.responses += 1;
        }
        // A follow-up's notes may name the person: it goes, with its history.
        self.table.delete(ItemKey::follow_up(id)).await?;
        // The words of a removed comment leave the themes' cache of its day too (counted again
        // from what is left when next asked).
        if response.comment.is_some() && !anonymous {
            let day = nps_domain::rollup::day(response.created_at);
            let values = response.properties.iter().map(|(d, v)| (d.as_str(), v.as_str()));
            let keys =
                [(ALL, ALL)].into_iter().chain(values).map(|(d, v)| ItemKey::themes(&response.survey_id, d, v, &day));
            DynamoThemes::new(self.table.clone()).forget(keys.collect()).await?;
        }
        let subject = id.to_string();
        let mut notifications = self.all(ItemKey::alert("detractor", &subject, "").pk, false).await?;
        for version in 1..=response.version {
            notifications.extend(self.table.get(ItemKey::response_event(&subject, version), false).await?);
        }
        for item in notifications {
            let a = Attrs(&item);
            self.table.delete(ItemKey { pk: a.s(attr::PK)?.to_owned(), sk: a.s(attr::SK)?.to_owned() }).await?;
            erased.notifications += 1;
        }
        Ok(())
    }

    /// Every item of partition `pk`, page after page.
    async fn all(&self, pk: String, consistent: bool) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let query = self.table.partition(pk.clone()).consistent_read(consistent).set_exclusive_start_key(start);
            let out = self.table.query(query).await?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }
}
