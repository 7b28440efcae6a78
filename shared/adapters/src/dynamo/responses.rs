//! Responses: `REQUEST#<request id>` / `RESPONSE`, one per survey request. Saved whole, guarded by
//! a revision, so two concurrent changes cannot overwrite each other: the loser re-reads and retries.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use nps_domain::person::PersonId;
use nps_domain::request::{RequestId, SurveyRequest};
use nps_domain::response::{BotReason, Click, Comment, Response};
use nps_domain::survey::{SurveyId, SurveyKind};
use nps_domain::{StoreError, Timestamp};
use nps_scoring::Score;

use super::item::{Attrs, Item, key_item, n, s, string_map, weights};
use super::keys::{ItemKey, attr, listing_keys, request_of};
use super::{Table, requests};

const SURVEY_ID: &str = "survey_id";
const KIND: &str = "kind";
const SCORE: &str = "score";
const COMMENT: &str = "comment";
const VERSION: &str = "version";
const REVISION: &str = "revision";
const CLICKS: &str = "clicks";
const BOT_REASONS: &str = "bot_reasons";
const CREATED_AT: &str = "created_at";
const UPDATED_AT: &str = "updated_at";
const FIRST_CONFIRMED_AT: &str = "first_confirmed_at";
const PROPERTIES: &str = "properties";
const PERSON_PROPERTIES: &str = "person_properties";
const PERSON_ID: &str = "person_id";
const HISTORY_FROM: &str = "from_day";
// Inside each click.
const AT: &str = "at";
const AGENT: &str = "agent";
const SINCE_SENT: &str = "since_sent";

/// Whether a save went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Done,
    /// Someone saved a change since this response was read: read it again and redo the change.
    Conflict,
}

#[derive(Debug, Clone)]
pub struct DynamoResponses {
    table: Table,
}

impl DynamoResponses {
    pub fn new(table: Table) -> Self {
        DynamoResponses { table }
    }

    pub async fn get(&self, id: RequestId) -> Result<Option<Response>, StoreError> {
        let item = self.table.get(ItemKey::response(id), true).await?;
        item.as_ref().map(|item| from_item(id, item)).transpose()
    }

    /// The response and when it expires (a follow-up expires with it).
    pub async fn get_with_expiry(&self, id: RequestId) -> Result<Option<(Response, Option<Timestamp>)>, StoreError> {
        let Some(item) = self.table.get(ItemKey::response(id), true).await? else { return Ok(None) };
        Ok(Some((from_item(id, &item)?, Attrs(&item).opt_time(attr::EXPIRES_AT)?)))
    }

    /// When the response was erased (`Some(None)`: it was not); `None`: there is no response.
    pub async fn erased_at(&self, id: RequestId) -> Result<Option<Option<Timestamp>>, StoreError> {
        let Some(item) = self.table.get(ItemKey::response(id), true).await? else { return Ok(None) };
        let erased = item.get(attr::ERASED_AT).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok());
        Ok(Some(erased.map(Timestamp::from_unix)))
    }

    /// A survey request and its response, if any, in one strongly consistent query: they share a
    /// partition, so this is one round trip and one read unit where two reads cost two of each.
    pub async fn with_request(&self, id: RequestId) -> Result<Option<(SurveyRequest, Option<Response>)>, StoreError> {
        let (request_key, response_key) = (ItemKey::request(id), ItemKey::response(id));
        let query = self.table.partition(request_key.pk).consistent_read(true);
        let out = self.table.query(query).await?;
        let (mut request, mut response) = (None, None);
        for item in out.items() {
            let sk = item.get(attr::SK).and_then(|v| v.as_s().ok());
            if sk == Some(&request_key.sk) {
                request = Some(requests::from_item(id, item)?);
            } else if sk == Some(&response_key.sk) {
                response = Some(from_item(id, item)?);
            }
        }
        Ok(request.map(|request| (request, response)))
    }

    /// Removes what ties a response to its person (GDPR erasure): the person id, the comment (the
    /// person's own words may name them), the clicks' evidence (user agents) and the properties
    /// that are not the survey's segments. The score, its
    /// day and segment values stay, so no count changes; the revision moves on, so a save in
    /// flight fails and re-reads. An eNPS answer (`anonymous`) holds no person and keeps its
    /// comment: it is shown only in a month's batch, which must not change after it is shown, or
    /// the comment missing after an erasure would name its author (docs/enps.md). `false`: there
    /// is no response.
    pub async fn erase_identity(&self, id: RequestId, now: Timestamp, anonymous: bool) -> Result<bool, StoreError> {
        let removed =
            if anonymous { "REMOVE #clicks" } else { "REMOVE #person, #comment, #clicks, #person_properties" };
        let mut update = self
            .table
            .update(ItemKey::response(id))
            .update_expression(format!("{removed} SET #revision = #revision + :one, #erased = :now"))
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#clicks", CLICKS)
            .expression_attribute_names("#revision", REVISION)
            .expression_attribute_names("#erased", attr::ERASED_AT)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now.unix()));
        if !anonymous {
            update = update
                .expression_attribute_names("#person", PERSON_ID)
                .expression_attribute_names("#comment", COMMENT)
                .expression_attribute_names("#person_properties", PERSON_PROPERTIES);
        }
        let result = update.send().await;
        Ok(self.table.conditional(result, |o| o.consumed_capacity())?.is_some())
    }

    /// Saves `response` if nobody saved it since it was read (its revision), and bumps the revision.
    pub async fn save(&self, response: &mut Response, expires_at: Timestamp) -> Result<Saved, StoreError> {
        let seen = response.revision;
        let mut put = self.table.client().put_item().table_name(self.table.name()).set_item(Some(to_item(
            response,
            seen + 1,
            expires_at,
        )));
        put = if seen == 0 {
            put.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", attr::PK)
        } else {
            put.condition_expression("#revision = :seen")
                .expression_attribute_names("#revision", REVISION)
                .expression_attribute_values(":seen", n(i64::from(seen)))
        };
        let result = put.set_return_consumed_capacity(self.table.capacity()).send().await;
        Ok(match self.table.conditional(result, |o| o.consumed_capacity())? {
            Some(_) => {
                response.revision = seen + 1;
                Saved::Done
            }
            None => Saved::Conflict,
        })
    }
}

/// Which end of a month's `listing` partition a page starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    OldestFirst,
    NewestFirst,
}

/// One page of a survey's responses in one month's `listing` partition.
#[derive(Debug, Clone)]
pub struct Listed {
    pub responses: Vec<Response>,
    /// The listing sort key of the last response read: where the next page starts.
    pub last: Option<String>,
    /// No more responses in the partition within the bounds.
    pub exhausted: bool,
}

impl DynamoResponses {
    /// Up to `limit` responses of `survey` created in `month` (`2026-11`), with listing sort keys
    /// between `after` and `before` (`<created at, 11 digits>…`), in `order`. The page starts after
    /// the cursor (`after` oldest first, `before` newest first: a previous page's `last`, skipped).
    /// The index holds keys only; the responses are read in batches of 100 (eventually consistent).
    pub async fn listed(
        &self,
        survey: &SurveyId,
        month: &str,
        (after, before): (&str, &str),
        limit: i32,
        order: Order,
    ) -> Result<Listed, StoreError> {
        let oldest_first = order == Order::OldestFirst;
        // BETWEEN is inclusive: the cursor's own key (where the previous page stopped) is skipped below.
        let cursor = if oldest_first { after } else { before };
        let query = self.listing_query(survey, month, (after, before), order).limit(limit.saturating_add(1));
        let out = self.table.query(query).await?;
        let mut keys = Vec::new();
        for item in out.items() {
            let a = Attrs(item);
            let sk = a.s(attr::LISTING_SK)?;
            if sk == cursor {
                continue;
            }
            let pk = a.s(attr::PK)?;
            let id = request_of(pk).ok_or_else(|| StoreError::Malformed(format!("listing entry with key {pk}")))?;
            keys.push((id, sk.to_owned()));
        }
        let exhausted = keys.len() <= usize::try_from(limit).unwrap_or(0) && out.last_evaluated_key.is_none();
        keys.truncate(usize::try_from(limit).unwrap_or(0));
        // In listing order; one deleted since the index was read is left out.
        let ids: Vec<RequestId> = keys.iter().map(|(id, _)| *id).collect();
        let responses = self.get_many(&ids).await?;
        Ok(Listed { responses, last: keys.last().map(|(_, sk)| sk.clone()), exhausted })
    }
}

impl DynamoResponses {
    /// The `listing` index's entries of `survey`'s responses created in `month`, with listing keys
    /// between `after` and `before` (inclusive), in `order`.
    fn listing_query(
        &self,
        survey: &SurveyId,
        month: &str,
        (after, before): (&str, &str),
        order: Order,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.table
            .client()
            .query()
            .index_name(super::keys::index::LISTING)
            .key_condition_expression("#lpk = :lpk AND #lsk BETWEEN :after AND :before")
            .expression_attribute_names("#lpk", attr::LISTING_PK)
            .expression_attribute_names("#lsk", attr::LISTING_SK)
            .expression_attribute_values(":lpk", s(format!("RESPONSES#{survey}#{month}")))
            .expression_attribute_values(":after", s(after))
            .expression_attribute_values(":before", s(before))
            .scan_index_forward(order == Order::OldestFirst)
    }

    /// Request ids of `survey`'s responses created in `month` with listing keys between `after`
    /// and `before` (inclusive), in `order`: the first `skip` passed over, then up to `take`
    /// (each a keys-only read; no response is read). Also how many were passed over, so a caller
    /// skipping across months knows how many are left to skip.
    pub async fn ids_in(
        &self,
        survey: &SurveyId,
        month: &str,
        (after, before): (&str, &str),
        order: Order,
        skip: usize,
        take: usize,
    ) -> Result<(Vec<RequestId>, usize), StoreError> {
        let (mut skipped, mut ids, mut start) = (0, Vec::new(), None);
        loop {
            let want = (skip - skipped + take - ids.len()).clamp(1, 10_000);
            let query = self
                .listing_query(survey, month, (after, before), order)
                .set_exclusive_start_key(start.take())
                .limit(i32::try_from(want).unwrap_or(10_000));
            let out = self.table.query(query).await?;
            for item in out.items() {
                if skipped < skip {
                    skipped += 1;
                    continue;
                }
                if ids.len() < take {
                    let pk = Attrs(item).s(attr::PK)?;
                    ids.push(
                        request_of(pk).ok_or_else(|| StoreError::Malformed(format!("listing entry with key {pk}")))?,
                    );
                }
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() && ids.len() < take => start = Some(key),
                _ => return Ok((ids, skipped)),
            }
        }
    }

    /// The responses of `ids` that exist, in the order of `ids` (eventually consistent).
    pub async fn get_many(&self, ids: &[RequestId]) -> Result<Vec<Response>, StoreError> {
        let mut responses = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(100) {
            let wanted: Vec<Item> = chunk.iter().map(|id| key_item(ItemKey::response(*id))).collect();
            let items = self.table.batch_get(wanted, false).await?;
            for id in chunk {
                let pk = ItemKey::response(*id).pk;
                if let Some(item) = items.iter().find(|i| Attrs(i).opt_s(attr::PK) == Some(pk.as_str())) {
                    responses.push(from_item(*id, item)?);
                }
            }
        }
        Ok(responses)
    }

    /// Notes that `survey` has answers from `day` (`yyyy-mm-dd`) on, if that is earlier than the
    /// first day noted: an import's answers are in no rollup until the aggregator folds them, and
    /// a listing must know where the history starts without walking empty months back to 1970.
    pub async fn note_history(&self, survey: &SurveyId, day: &str) -> Result<(), StoreError> {
        let result = self
            .table
            .update(ItemKey::history(survey))
            .update_expression("SET #from = :day")
            .condition_expression("attribute_not_exists(#from) OR #from > :day")
            .expression_attribute_names("#from", HISTORY_FROM)
            .expression_attribute_values(":day", s(day))
            .send()
            .await;
        // An earlier day already noted is the same outcome.
        self.table.conditional(result, |o| o.consumed_capacity()).map(|_| ())
    }

    /// The first day noted by [`Self::note_history`].
    pub async fn history_from(&self, survey: &SurveyId) -> Result<Option<String>, StoreError> {
        let item = self.table.get(ItemKey::history(survey), false).await?;
        Ok(item.as_ref().and_then(|i| Attrs(i).opt_s(HISTORY_FROM)).map(str::to_owned))
    }

    /// Writes a response imported from elsewhere (`POST /v1/survey_responses`, `nps-cli import`)
    /// unless one with its id exists: `false` if it did (a rerun adds nothing).
    /// The person's pointer to it is written first, so an erasure always finds it.
    pub async fn import(&self, response: &Response, expires_at: Timestamp) -> Result<bool, StoreError> {
        if let Some(person) = &response.person_id {
            let mut pointer = key_item(ItemKey::request_pointer(person, response.request_id));
            pointer.extend([
                (SURVEY_ID.to_owned(), s(response.survey_id.to_string())),
                (attr::EXPIRES_AT.to_owned(), n(expires_at.unix())),
            ]);
            self.table.put_new(pointer).await?;
        }
        self.table.put_new(to_item(response, 1, expires_at)).await
    }
}

fn to_item(r: &Response, revision: u32, expires_at: Timestamp) -> Item {
    let mut item = key_item(ItemKey::response(r.request_id));
    let (listing_pk, listing_sk) = listing_keys(&r.survey_id, r.created_at, r.request_id);
    let clicks = r
        .clicks
        .iter()
        .map(|c| {
            let mut click = Item::from([
                (AT.to_owned(), n(c.at.unix())),
                (SCORE.to_owned(), n(i64::from(c.score.value()))),
                (AGENT.to_owned(), s(c.agent.clone())),
            ]);
            if let Some(since) = c.seconds_since_sent {
                click.insert(SINCE_SENT.to_owned(), n(since));
            }
            AttributeValue::M(click)
        })
        .collect();
    item.extend([
        (SURVEY_ID.to_owned(), s(r.survey_id.to_string())),
        (KIND.to_owned(), s(r.kind.as_str())),
        (VERSION.to_owned(), n(i64::from(r.version))),
        (REVISION.to_owned(), n(i64::from(revision))),
        (CLICKS.to_owned(), AttributeValue::L(clicks)),
        (BOT_REASONS.to_owned(), AttributeValue::L(r.bot_reasons.iter().map(|b| s(b.as_str())).collect())),
        (CREATED_AT.to_owned(), n(r.created_at.unix())),
        (UPDATED_AT.to_owned(), n(r.updated_at.unix())),
        (attr::LISTING_PK.to_owned(), s(listing_pk)),
        (attr::LISTING_SK.to_owned(), s(listing_sk)),
        (attr::EXPIRES_AT.to_owned(), n(expires_at.unix())),
    ]);
    item.extend(string_map(&r.properties).map(|m| (PROPERTIES.to_owned(), m)));
    item.extend(string_map(&r.person_properties).map(|m| (PERSON_PROPERTIES.to_owned(), m)));
    item.extend(weights(&r.weights));
    if let Some(score) = r.score {
        item.insert(SCORE.to_owned(), n(i64::from(score.value())));
    }
    if let Some(comment) = &r.comment {
        item.insert(COMMENT.to_owned(), s(comment.as_str()));
    }
    if let Some(at) = r.first_confirmed_at {
        item.insert(FIRST_CONFIRMED_AT.to_owned(), n(at.unix()));
    }
    if let Some(person) = &r.person_id {
        item.insert(PERSON_ID.to_owned(), s(person.to_string()));
    }
    item
}

pub(super) fn from_item<S: std::hash::BuildHasher>(
    id: RequestId,
    item: &HashMap<String, AttributeValue, S>,
) -> Result<Response, StoreError> {
    let a = Attrs(item);
    let bad = |what: &str| StoreError::Malformed(format!("response {id}: {what}"));
    let score = |v: i64| u8::try_from(v).ok().and_then(|v| Score::try_from(v).ok()).ok_or_else(|| bad("score"));
    let small = |v: i64| u32::try_from(v).map_err(|_| bad("counter"));
    let clicks = match item.get(CLICKS) {
        Some(AttributeValue::L(list)) => list
            .iter()
            .map(|c| {
                let c = c.as_m().map_err(|_| bad("click"))?;
                let ca = Attrs(c);
                Ok(Click {
                    at: ca.time(AT)?,
                    score: score(ca.n(SCORE)?)?,
                    agent: ca.s(AGENT)?.to_owned(),
                    seconds_since_sent: ca.opt_n(SINCE_SENT)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?,
        _ => Vec::new(),
    };
    Ok(Response {
        request_id: id,
        survey_id: SurveyId::parse(a.s(SURVEY_ID)?).map_err(|_| bad("survey id"))?,
        kind: SurveyKind::parse(a.s(KIND)?).ok_or_else(|| bad("kind"))?,
        score: a.opt_n(SCORE)?.map(score).transpose()?,
        comment: a.opt_s(COMMENT).map(Comment::parse).transpose().map_err(|_| bad("comment"))?.flatten(),
        version: small(a.n(VERSION)?)?,
        revision: small(a.n(REVISION)?)?,
        clicks,
        bot_reasons: a
            .strings(BOT_REASONS)?
            .iter()
            .map(|r| BotReason::parse(r).ok_or_else(|| bad("bot reason")))
            .collect::<Result<_, _>>()?,
        created_at: a.time(CREATED_AT)?,
        updated_at: a.time(UPDATED_AT)?,
        first_confirmed_at: a.opt_time(FIRST_CONFIRMED_AT)?,
        properties: a.string_map(PROPERTIES)?,
        person_properties: a.string_map(PERSON_PROPERTIES)?,
        weights: a.weights()?,
        person_id: a.opt_s(PERSON_ID).map(|p| PersonId::from_stored(p).ok_or_else(|| bad("person id"))).transpose()?,
    })
}
