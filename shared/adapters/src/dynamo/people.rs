//! What is known of a person, by person id: the profile (address and name, listed by
//! `GET /v1/people`, and the windows a survey opens), suppression and past transactions.

use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use nps_domain::EmailAddress;
use nps_domain::idempotency::IdempotencyKey;
use nps_domain::person::PersonId;
use nps_domain::request::RequestId;
use nps_domain::survey::SurveyId;
use nps_domain::{StoreError, Timestamp};

use super::Table;
use super::idempotency::{OUTCOME, recorded_outcome};
use super::item::{Attrs, Item, key_item, n, s};
use super::keys::{ItemKey, attr, index};

pub(crate) const REASON: &str = "reason";
pub(crate) const AT: &str = "at";
pub(crate) const EMAIL: &str = "email";
pub(crate) const NAME: &str = "name";
pub(crate) const CREATED_AT: &str = "created_at";
/// Listing entries skipped at most to reach a page by its number (`page=N`): a page costs a
/// keys-only read of the entries before it.
pub const MAX_SKIPPED: usize = 100_000;
pub(crate) const NEXT_ELIGIBLE_AT: &str = "next_eligible_at";
pub(crate) const REQUEST_ID: &str = "request_id";

/// Why an address gets no more email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuppressionReason {
    Unsubscribed,
    Bounced,
    Complained,
}

impl SuppressionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressionReason::Unsubscribed => "unsubscribed",
            SuppressionReason::Bounced => "bounced",
            SuppressionReason::Complained => "complained",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [SuppressionReason::Unsubscribed, SuppressionReason::Bounced, SuppressionReason::Complained]
            .into_iter()
            .find(|r| r.as_str() == s)
    }

    /// The list a suppression is shown in: a complaint is an unsubscribe the person did not ask
    /// for nicely.
    pub fn list(self) -> SuppressionList {
        match self {
            SuppressionReason::Bounced => SuppressionList::Bounces,
            SuppressionReason::Unsubscribed | SuppressionReason::Complained => SuppressionList::Unsubscribes,
        }
    }
}

/// `GET /v1/unsubscribes` and `GET /v1/bounces`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuppressionList {
    Unsubscribes,
    Bounces,
}

impl SuppressionList {
    fn partition(self) -> &'static str {
        match self {
            SuppressionList::Unsubscribes => "SUPPRESSED#unsubscribes",
            SuppressionList::Bounces => "SUPPRESSED#bounces",
        }
    }
}

/// A person as `GET /v1/people` lists them: kept from their first survey (or their import) until
/// erasure or retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub id: PersonId,
    pub email: String,
    pub name: Option<String>,
    pub created_at: Timestamp,
}

/// A suppression as listed; its address is gone once the person was erased (and it is then no
/// longer listed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed {
    pub person: PersonId,
    pub email: String,
    pub reason: SuppressionReason,
    pub at: Timestamp,
}

/// Where a page of a listing starts.
#[derive(Debug, Clone, Copy)]
pub enum Start<'a> {
    /// After this listing key (a previous page's last).
    After(&'a str),
    /// After skipping this many entries (`page=N`), at most [`MAX_SKIPPED`].
    Skip(usize),
}

/// One page of a listing, and the key to go on from if more may follow.
#[derive(Debug, Clone)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub last: Option<String>,
}

/// The profile's `listing` keys: one partition, by creation time then person id.
fn profile_listing(created_at: Timestamp, person: &PersonId) -> (String, String) {
    ("PEOPLE".to_owned(), format!("{}#{person}", super::keys::sort_from(created_at.unix())))
}

/// The profile written with each survey request (in its transaction): the address and name as
/// last given, the creation time as first seen; kept as long as the request.
pub(crate) fn profile_update(
    table: &str,
    person: &PersonId,
    email: &EmailAddress,
    name: Option<&str>,
    now: Timestamp,
    expires_at: Timestamp,
    opened: Opened<'_>,
) -> Result<aws_sdk_dynamodb::types::Update, StoreError> {
    let (lpk, lsk) = profile_listing(now, person);
    let key = key_item(ItemKey::profile(person));
    let mut set = "#email = :email, #created = if_not_exists(#created, :now), #lpk = if_not_exists(#lpk, :lpk), \
                   #lsk = if_not_exists(#lsk, :lsk), #expires = :expires"
        .to_owned();
    let mut update = aws_sdk_dynamodb::types::Update::builder()
        .table_name(table)
        .set_key(Some(key))
        .expression_attribute_names("#email", EMAIL)
        .expression_attribute_names("#created", CREATED_AT)
        .expression_attribute_names("#lpk", attr::LISTING_PK)
        .expression_attribute_names("#lsk", attr::LISTING_SK)
        .expression_attribute_names("#expires", attr::EXPIRES_AT)
        .expression_attribute_values(":email", s(email.as_str()))
        .expression_attribute_values(":now", n(now.unix()))
        .expression_attribute_values(":lpk", s(lpk))
        .expression_attribute_values(":lsk", s(lsk))
        .expression_attribute_values(":expires", n(expires_at.unix()));
    if let Some(name) = name {
        set.push_str(", #name = :name");
        update = update.expression_attribute_names("#name", NAME).expression_attribute_values(":name", s(name));
    }
    // The windows a request opens, each written only where none is open (`:now` is its creation).
    let mut conditions = Vec::new();
    if let Some((survey, until)) = opened.throttle {
        set.push_str(", #throttle = :throttle");
        conditions.push("(attribute_not_exists(#throttle) OR #throttle <= :now)");
        update = update
            .expression_attribute_names("#throttle", throttle_attr(survey))
            .expression_attribute_values(":throttle", n(until.unix()));
    }
    if let Some(until) = opened.fatigue {
        set.push_str(", #fatigue = :fatigue");
        if !opened.fatigue_overrides {
            conditions.push("(attribute_not_exists(#fatigue) OR #fatigue <= :now)");
        }
        update = update
            .expression_attribute_names("#fatigue", FATIGUE_UNTIL)
            .expression_attribute_values(":fatigue", n(until.unix()));
    }
    if !conditions.is_empty() {
        update = update
            .condition_expression(conditions.join(" AND "))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    }
    update.update_expression(format!("SET {set}")).build().map_err(|e| StoreError::Rejected(Box::new(e)))
}

/// The windows a new survey request opens on its person, kept on the profile: one item per
/// person holds them all, so a request's transaction writes one item for them, not three.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Opened<'a> {
    /// The survey's throttle window, ending then.
    pub throttle: Option<(&'a SurveyId, Timestamp)>,
    /// The fatigue rule's window (any survey), ending then.
    pub fatigue: Option<Timestamp>,
    /// The fatigue window is written, not checked (the operator lets this kind go first).
    pub fatigue_overrides: bool,
}

/// The profile's attribute holding the end of `survey`'s throttle window (a survey id holds no `#`).
fn throttle_attr(survey: &SurveyId) -> String {
    format!("{THROTTLE_PREFIX}{survey}")
}

const THROTTLE_PREFIX: &str = "throttle_until#";
const FATIGUE_UNTIL: &str = "fatigue_until";

/// Whichever window on the profile `item` is open at `now` (the later, if both), for `survey`.
pub(crate) fn open_window(item: &Item, survey: &SurveyId, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
    let a = Attrs(item);
    let windows = [a.opt_time(&throttle_attr(survey))?, a.opt_time(FATIGUE_UNTIL)?];
    Ok(windows.into_iter().flatten().filter(|&until| until > now).max())
}

fn profile_from(item: &Item) -> Result<Profile, StoreError> {
    let a = Attrs(item);
    let pk = a.s(attr::PK)?;
    Ok(Profile {
        id: person_of(pk)?,
        email: a.s(EMAIL)?.to_owned(),
        name: a.opt_s(NAME).map(str::to_owned),
        created_at: a.time(CREATED_AT)?,
    })
}

fn person_of(pk: &str) -> Result<PersonId, StoreError> {
    pk.strip_prefix("PERSON#")
        .and_then(PersonId::from_stored)
        .ok_or_else(|| StoreError::Malformed(format!("person item with key {pk}")))
}

/// Everything the intake rules need about one person and one event, read in one call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Eligibility {
    /// The outcome this very event got before (its record, or the transaction marker it wrote):
    /// the event is a repeat.
    pub earlier: Option<String>,
    /// The request already made for this transaction (`Some(None)` if its id is unknown).
    pub transaction: Option<Option<String>>,
    pub suppression: Option<SuppressionReason>,
    /// End of the throttle window, if the person is inside one (or was).
    pub throttled_until: Option<Timestamp>,
    /// End of the fatigue rule's window (any survey), if the person is inside one (or was).
    pub fatigued_until: Option<Timestamp>,
    /// The profile as stored: (email, name, expires at).
    pub profile: Option<(String, Option<String>, Option<Timestamp>)>,
}

impl Eligibility {
    /// Whether a survey request for `email` and `name` needs to write the profile: it is missing,
    /// says something else, or expires within half of `retention` of `now`. A returning customer's
    /// surveys then cost no profile write most of the time.
    pub fn profile_stale(
        &self,
        email: &EmailAddress,
        name: Option<&str>,
        now: Timestamp,
        retention: std::time::Duration,
    ) -> bool {
        let Some((stored_email, stored_name, expires)) = &self.profile else { return true };
        let renew_after = now.plus(retention / 2);
        stored_email != email.as_str()
            || name.is_some_and(|n| stored_name.as_deref() != Some(n))
            || expires.is_none_or(|e| e < renew_after)
    }
}

#[derive(Debug, Clone)]
pub struct DynamoPeople {
    table: Table,
}

impl DynamoPeople {
    pub fn new(table: Table) -> Self {
        DynamoPeople { table }
    }

    /// What is known of `person` for `survey`, and of `event` (its earlier outcome) and its
    /// transaction, in one consistent `BatchGetItem`.
    pub async fn eligibility(
        &self,
        person: &PersonId,
        survey: &SurveyId,
        transaction_id: Option<&str>,
        event: Option<&IdempotencyKey>,
    ) -> Result<Eligibility, StoreError> {
        let transaction_key = transaction_id.map(|t| ItemKey::transaction(survey, t));
        let event_key = event.map(ItemKey::idempotency);
        let mut keys = vec![
            key_item(ItemKey::suppression(person)),
            key_item(ItemKey::throttle(person, survey)),
            key_item(ItemKey::profile(person)),
            key_item(ItemKey::fatigue(person)),
        ];
        keys.extend(transaction_key.clone().map(key_item));
        keys.extend(event_key.clone().map(key_item));
        let items = self.table.batch_get(keys, true).await?;
        let find = |key: &ItemKey| {
            items
                .iter()
                .find(|i| Attrs(i).opt_s(attr::PK) == Some(&key.pk) && Attrs(i).opt_s(attr::SK) == Some(&key.sk))
        };

        let mut eligibility = Eligibility::default();
        if let Some(item) = find(&ItemKey::suppression(person)) {
            let reason = Attrs(item).s(REASON)?;
            eligibility.suppression = Some(
                SuppressionReason::parse(reason)
                    .ok_or_else(|| StoreError::Malformed(format!("unknown suppression reason {reason}")))?,
            );
        }
        // Windows live on the profile; older versions kept them as items of their own, read while
        // one may still be open (their TTL is their end).
        if let Some(item) = find(&ItemKey::throttle(person, survey)) {
            eligibility.throttled_until = Some(Attrs(item).time(NEXT_ELIGIBLE_AT)?);
        }
        if let Some(item) = find(&ItemKey::fatigue(person)) {
            eligibility.fatigued_until = Some(Attrs(item).time(NEXT_ELIGIBLE_AT)?);
        }
        if let Some(item) = find(&ItemKey::profile(person)) {
            let a = Attrs(item);
            eligibility.throttled_until = eligibility.throttled_until.max(a.opt_time(&throttle_attr(survey))?);
            eligibility.fatigued_until = eligibility.fatigued_until.max(a.opt_time(FATIGUE_UNTIL)?);
            eligibility.profile =
                Some((a.s(EMAIL)?.to_owned(), a.opt_s(NAME).map(str::to_owned), a.opt_time(attr::EXPIRES_AT)?));
        }
        if let Some(item) = event_key.as_ref().and_then(find) {
            eligibility.earlier = recorded_outcome(item)?;
        }
        if let Some(item) = transaction_key.as_ref().and_then(find) {
            // A marker this event wrote (with its request) records its outcome, and wins over a
            // record a concurrent delivery may have left: a repeat is told the request it made,
            // never that its own transaction is a duplicate.
            match event_key.as_ref().and_then(|e| transaction_outcome(item, e)) {
                Some(outcome) => eligibility.earlier = Some(outcome),
                None => eligibility.transaction = Some(transaction_request(item)),
            }
        }
        Ok(eligibility)
    }

    /// Suppresses a person for good (idempotent: the first reason and time are kept). With its
    /// address the suppression is listed (`GET /v1/unsubscribes`, `/v1/bounces`) until an erasure
    /// removes the address (docs/people.md).
    pub async fn suppress(
        &self,
        person: &PersonId,
        email: Option<&EmailAddress>,
        reason: SuppressionReason,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut item: Item = key_item(ItemKey::suppression(person));
        item.extend([(REASON.to_owned(), s(reason.as_str())), (AT.to_owned(), n(at.unix()))]);
        if let Some(email) = email {
            item.extend([
                (EMAIL.to_owned(), s(email.as_str())),
                (attr::LISTING_PK.to_owned(), s(reason.list().partition())),
                (attr::LISTING_SK.to_owned(), s(format!("{}#{person}", super::keys::sort_from(at.unix())))),
            ]);
        }
        // Already suppressed (a failed condition) is the same outcome.
        self.table.put_new(item).await.map(|_| ())
    }

    /// The person's profile, if they have one.
    pub async fn profile(&self, person: &PersonId) -> Result<Option<Profile>, StoreError> {
        self.table.get(ItemKey::profile(person), false).await?.as_ref().map(profile_from).transpose()
    }

    /// Writes a profile outside a survey (an import, `POST /v1/people` with `send: false`): the
    /// address and name as given, the first creation time kept.
    pub async fn touch_profile(
        &self,
        person: &PersonId,
        email: &EmailAddress,
        name: Option<&str>,
        created_at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let u = profile_update(self.table.name(), person, email, name, created_at, expires_at, Opened::default())?;
        self.table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(u.key().clone()))
            .update_expression(u.update_expression())
            .set_expression_attribute_names(u.expression_attribute_names().cloned())
            .set_expression_attribute_values(u.expression_attribute_values().cloned())
            .set_return_consumed_capacity(self.table.capacity())
            .send()
            .await
            .map_err(super::store_error)
            .map(|out| self.table.count(super::Units::Write, out.consumed_capacity()))
    }

    /// A page of people, oldest profile first.
    pub async fn people(&self, start: Start<'_>, limit: usize) -> Result<Listing<Profile>, StoreError> {
        let (items, last) = self.listing("PEOPLE", start, limit).await?;
        Ok(Listing { items: items.iter().map(profile_from).collect::<Result<_, _>>()?, last })
    }

    /// A page of a suppression list, oldest first.
    pub async fn suppressed(
        &self,
        list: SuppressionList,
        start: Start<'_>,
        limit: usize,
    ) -> Result<Listing<Suppressed>, StoreError> {
        let (items, last) = self.listing(list.partition(), start, limit).await?;
        let listed = items
            .iter()
            .filter_map(|item| {
                let a = Attrs(item);
                // Erased since the index was read: no longer listed.
                let email = a.opt_s(EMAIL)?.to_owned();
                Some((|| {
                    let reason = a.s(REASON)?;
                    Ok(Suppressed {
                        person: person_of(a.s(attr::PK)?)?,
                        email,
                        reason: SuppressionReason::parse(reason)
                            .ok_or_else(|| StoreError::Malformed(format!("unknown suppression reason {reason}")))?,
                        at: a.time(AT)?,
                    })
                })())
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Listing { items: listed, last })
    }

    /// Up to `limit` items of a `listing` partition from `start`, in key order, read whole (the
    /// index holds keys only), and the last key read if more may follow.
    async fn listing(
        &self,
        partition: &str,
        start: Start<'_>,
        limit: usize,
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        let (mut skip, exclusive) = match start {
            Start::After(after) => (0, Some(after.to_owned())),
            Start::Skip(n) => (n.min(MAX_SKIPPED), None),
        };
        let mut keys: Vec<(Item, String)> = Vec::new();
        let mut more = true;
        let mut page_start = None;
        while more && keys.len() < limit {
            let want = (skip + limit - keys.len() + 1).min(10_000);
            let mut query = self
                .table
                .client()
                .query()
                .index_name(index::LISTING)
                .expression_attribute_names("#lpk", attr::LISTING_PK)
                .expression_attribute_values(":lpk", s(partition))
                .set_exclusive_start_key(page_start.take())
                .limit(i32::try_from(want).unwrap_or(10_000));
            query = match &exclusive {
                Some(after) => query
                    .key_condition_expression("#lpk = :lpk AND #lsk > :after")
                    .expression_attribute_names("#lsk", attr::LISTING_SK)
                    .expression_attribute_values(":after", s(after.clone())),
                None => query.key_condition_expression("#lpk = :lpk"),
            };
            let out = self.table.query(query).await?;
            for item in out.items() {
                let lsk = Attrs(item).s(attr::LISTING_SK)?.to_owned();
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                let a = Attrs(item);
                let key = ItemKey { pk: a.s(attr::PK)?.to_owned(), sk: a.s(attr::SK)?.to_owned() };
                keys.push((key_item(key), lsk));
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => page_start = Some(k),
                _ => more = false,
            }
        }
        let more = more || keys.len() > limit;
        keys.truncate(limit);
        let last = if more { keys.last().map(|(_, lsk)| lsk.clone()) } else { None };
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(100) {
            let items = self.table.batch_get(chunk.iter().map(|(k, _)| k.clone()).collect(), false).await?;
            // In listing order; one deleted since the index was read is left out.
            for (key, _) in chunk {
                if let Some(item) =
                    items.iter().find(|i| i.get(attr::PK) == key.get(attr::PK) && i.get(attr::SK) == key.get(attr::SK))
                {
                    found.push(item.clone());
                }
            }
        }
        Ok((found, last))
    }
}

/// The request a transaction marker points at.
pub(crate) fn transaction_request(item: &Item) -> Option<String> {
    Attrs(item).opt_s(REQUEST_ID).map(str::to_owned)
}

/// The event that wrote a transaction marker, as its record's key (markers of older versions name
/// none).
pub(crate) const EVENT: &str = "event";

/// The outcome a transaction marker records, if `event` wrote it.
pub(crate) fn transaction_outcome(item: &Item, event: &ItemKey) -> Option<String> {
    let a = Attrs(item);
    (a.opt_s(EVENT) == Some(event.pk.as_str())).then(|| a.opt_s(OUTCOME).map(str::to_owned)).flatten()
}

pub(crate) fn request_id_attr(id: RequestId) -> (String, aws_sdk_dynamodb::types::AttributeValue) {
    (REQUEST_ID.to_owned(), s(id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_is_written_when_missing_changed_or_near_its_end() {
        let (now, year) = (Timestamp::from_unix(1_800_000_000), std::time::Duration::from_secs(365 * 86_400));
        let ada = EmailAddress::parse("ada@example.com").unwrap();
        let stored = |email: &str, name: Option<&str>, expires: i64| Eligibility {
            profile: Some((email.to_owned(), name.map(str::to_owned), Some(Timestamp::from_unix(expires)))),
            ..Eligibility::default()
        };
        let fresh = now.unix() + 300 * 86_400;
        assert!(Eligibility::default().profile_stale(&ada, None, now, year), "missing");
        assert!(!stored("ada@example.com", Some("Ada"), fresh).profile_stale(&ada, None, now, year), "as stored");
        assert!(!stored("ada@example.com", Some("Ada"), fresh).profile_stale(&ada, Some("Ada"), now, year));
        assert!(
            stored("ada@example.com", Some("Ada"), fresh).profile_stale(&ada, Some("Ada L."), now, year),
            "renamed"
        );
        assert!(
            stored("ADA@example.com", None, fresh).profile_stale(&ada, None, now, year),
            "address written otherwise"
        );
        assert!(
            stored("ada@example.com", None, now.unix() + 100 * 86_400).profile_stale(&ada, None, now, year),
            "ending"
        );
    }
}
