//! Survey requests: the outbox. A request is written before any email goes out; only a
//! conditional claim lets a sender send it, and only the claim's holder may record the result.

use std::time::Duration;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use nps_domain::idempotency::IdempotencyKey;
use nps_domain::person::PersonId;
use nps_domain::request::{RequestId, RequestState, SurveyRequest};
use nps_domain::survey::{Locale, SurveyId};
use nps_domain::{EmailAddress, StoreError, Timestamp};

use super::idempotency::{OUTCOME, record_put, recorded_outcome};
use super::item::{Attrs, Item, key_item, n, s, string_map, weights};
use super::keys::{ItemKey, OUTBOX_REQUESTS, REQUEST_PREFIX, attr, outbox_sort_key, request_of};
use super::people::{
    EVENT, Opened, open_window, profile_update, request_id_attr, transaction_outcome, transaction_request,
};
use super::{Table, Units, store_error};

const SURVEY_ID: &str = "survey_id";
const PERSON_ID: &str = "person_id";
const EMAIL: &str = "email";
const NAME: &str = "name";
const LOCALE: &str = "locale";
const PROPERTIES: &str = "properties";
const PERSON_PROPERTIES: &str = "person_properties";
const SOURCE: &str = "source";
const EVENT_ID: &str = "event_id";
const TRANSACTION_ID: &str = "transaction_id";
const CREATED_AT: &str = "created_at";
const DUE_AT: &str = "due_at";
const STATE: &str = "state";
const ATTEMPTS: &str = "attempts";
const ATTEMPT_ID: &str = "attempt_id";
const LEASE_UNTIL: &str = "lease_until";
const SENT_AT: &str = "sent_at";
const MESSAGE_ID: &str = "message_id";
const NOTE: &str = "note";

/// What creating a request found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    Created,
    /// This survey already has a request for the transaction (its id, when known).
    DuplicateTransaction {
        request_id: Option<String>,
    },
    /// The person is inside the survey's throttle window until then.
    Throttled {
        until: Timestamp,
    },
    /// The event has its outcome recorded already (a concurrent delivery wrote it first).
    Repeat {
        outcome: String,
    },
}

/// What a new request's transaction writes beside it, each under its condition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Windows {
    /// The survey's throttle window for the person, ending then.
    pub throttle_until: Option<Timestamp>,
    /// The fatigue rule's window (any survey), ending then.
    pub fatigue_until: Option<Timestamp>,
    /// This survey goes whatever the fatigue window says (the operator's choice of which kind
    /// the rule pushes): its window is written, not checked.
    pub fatigue_overrides: bool,
    /// Write the person's profile (see `Eligibility::profile_stale`); it is written anyway when
    /// a window opens, since the windows live on it.
    pub write_profile: bool,
}

/// The outcome of the event that makes a request, recorded with it in one transaction.
pub struct EventRecord<'a> {
    pub key: &'a IdempotencyKey,
    pub outcome: &'a str,
    /// How long a repeat is answered from the record (a transaction's marker keeps it as long as
    /// the request).
    pub keep_until: Timestamp,
}

/// The result of a transition that a claim guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transitioned {
    Done,
    /// The request was not in the expected state (another sender got there first).
    Lost,
}

/// A move of a request from one state to another, with the fields it sets.
pub struct Transition<'a> {
    pub id: RequestId,
    pub from: RequestState,
    /// The claim that must still be held, if any.
    pub attempt_id: Option<&'a str>,
    pub to: RequestState,
    /// Keep the request in the outbox, due then; `None` takes it out.
    pub due_at: Option<Timestamp>,
    pub reset_attempts: bool,
    pub sent_at: Option<Timestamp>,
    pub message_id: Option<&'a str>,
    /// A short, PII-free reason (an error code), kept for operators.
    pub note: Option<&'a str>,
}

#[derive(Debug, Clone)]
pub struct DynamoRequests {
    table: Table,
}

impl DynamoRequests {
    pub fn new(table: Table) -> Self {
        DynamoRequests { table }
    }

    /// Writes the request with its transaction marker, its person pointer and the person's profile
    /// (which holds the throttle window), all or nothing. The conditions make two concurrent events
    /// for one transaction (or one person inside the window) produce one request.
    pub async fn create(
        &self,
        request: &SurveyRequest,
        throttle_until: Option<Timestamp>,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<CreateOutcome, StoreError> {
        let windows = Windows { throttle_until, write_profile: true, ..Windows::default() };
        self.create_recording(request, windows, expires_at, now, None).await
    }

    /// [`Self::create`], recording the outcome of the event that makes it in the same transaction
    /// when `event` is given: in the transaction's marker when the request has one (the marker then
    /// names the event), else in the event's own record. A delivery that dies after the write leaves
    /// the outcome for its retry, and a concurrent delivery of the event cannot write a second
    /// request. `windows` says what else it writes under its conditions.
    pub async fn create_recording(
        &self,
        request: &SurveyRequest,
        windows: Windows,
        expires_at: Timestamp,
        now: Timestamp,
        event: Option<EventRecord<'_>>,
    ) -> Result<CreateOutcome, StoreError> {
        #[derive(Clone, Copy, PartialEq)]
        enum Role {
            Request,
            Transaction,
            Pointer,
            Profile,
            Event,
        }
        let put = |item: Item, condition: Option<&str>| {
            let mut put = Put::builder().table_name(self.table.name()).set_item(Some(item));
            if let Some(condition) = condition {
                put = put
                    .condition_expression(condition)
                    .expression_attribute_names("#pk", attr::PK)
                    .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
            }
            put
        };
        let built =
            |p: aws_sdk_dynamodb::types::builders::PutBuilder| p.build().map_err(|e| StoreError::Rejected(Box::new(e)));
        let mut items: Vec<(Role, Put)> = Vec::new();

        items.push((Role::Request, built(put(request_item(request, expires_at), Some("attribute_not_exists(#pk)")))?));
        if let Some(transaction) = &request.transaction_id {
            let mut marker = key_item(ItemKey::transaction(&request.survey_id, transaction));
            marker.extend([request_id_attr(request.id), (attr::EXPIRES_AT.to_owned(), n(expires_at.unix()))]);
            if let Some(e) = &event {
                // The marker is the event's record too: one item, where a record beside it would
                // cost two more write units.
                marker.extend([
                    (EVENT.to_owned(), s(ItemKey::idempotency(e.key).pk)),
                    (OUTCOME.to_owned(), s(e.outcome)),
                ]);
            }
            items.push((Role::Transaction, built(put(marker, Some("attribute_not_exists(#pk)")))?));
        } else if let Some(e) = &event {
            items.push((Role::Event, record_put(self.table.name(), e.key, e.outcome, e.keep_until)?));
        }
        let mut pointer = key_item(ItemKey::request_pointer(&request.person_id, request.id));
        pointer.extend([
            (SURVEY_ID.to_owned(), s(request.survey_id.to_string())),
            (attr::EXPIRES_AT.to_owned(), n(expires_at.unix())),
        ]);
        items.push((Role::Pointer, built(put(pointer, None))?));

        let mut transaction = self.table.client().transact_write_items();
        for (_, p) in &items {
            transaction = transaction.transact_items(TransactWriteItem::builder().put(p.clone()).build());
        }
        let mut roles: Vec<Role> = items.iter().map(|(role, _)| *role).collect();
        let opened = Opened {
            throttle: windows.throttle_until.map(|until| (&request.survey_id, until)),
            fatigue: windows.fatigue_until,
            fatigue_overrides: windows.fatigue_overrides,
        };
        if windows.write_profile || opened.throttle.is_some() || opened.fatigue.is_some() {
            let profile = profile_update(
                self.table.name(),
                &request.person_id,
                &request.email,
                request.name.as_deref(),
                request.created_at,
                expires_at,
                opened,
            )?;
            transaction = transaction.transact_items(TransactWriteItem::builder().update(profile).build());
            roles.push(Role::Profile);
        }
        let err = match transaction.set_return_consumed_capacity(self.table.capacity()).send().await {
            Ok(out) => {
                self.table.count(Units::Write, out.consumed_capacity());
                return Ok(CreateOutcome::Created);
            }
            Err(err) => err,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = err.as_service_error() else {
            return Err(store_error(err));
        };
        let reasons = cancelled.cancellation_reasons();
        let failed = |role: Role| {
            roles
                .iter()
                .position(|r| *r == role)
                .and_then(|i| reasons.get(i))
                .filter(|reason| reason.code() == Some("ConditionalCheckFailed"))
        };
        if let Some(reason) = failed(Role::Event) {
            let earlier = reason.item().map(recorded_outcome).transpose()?.flatten();
            let outcome =
                earlier.ok_or_else(|| StoreError::Malformed("unrecorded event failed its condition".into()))?;
            return Ok(CreateOutcome::Repeat { outcome });
        }
        if let Some(reason) = failed(Role::Transaction) {
            let mine = event.as_ref().map(|e| ItemKey::idempotency(e.key));
            if let Some(outcome) = reason.item().zip(mine.as_ref()).and_then(|(item, e)| transaction_outcome(item, e)) {
                return Ok(CreateOutcome::Repeat { outcome });
            }
        }
        // Another transaction on the same items in flight (a concurrent delivery, most likely), or
        // throttling: what the other will leave is unknown yet, so nothing is decided here; retry.
        let retry = ["TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"];
        if let Some(code) = reasons.iter().find_map(|r| r.code().filter(|c| retry.contains(c))) {
            return Err(StoreError::Unavailable(format!("the request's transaction was cancelled: {code}").into()));
        }
        if let Some(reason) = failed(Role::Transaction) {
            return Ok(CreateOutcome::DuplicateTransaction { request_id: reason.item().and_then(transaction_request) });
        }
        if let Some(reason) = failed(Role::Profile) {
            let until = reason.item().map(|i| open_window(i, &request.survey_id, now)).transpose()?.flatten();
            return Ok(CreateOutcome::Throttled { until: until.unwrap_or(now) });
        }
        // The SDK retries a transaction whose answer was lost with the same client request token,
        // which DynamoDB answers as written: this request's own id never conflicts.
        if failed(Role::Request).is_some() {
            return Err(StoreError::Malformed(format!("request id {} already exists", request.id)));
        }
        // A conflict with another transaction in flight: retryable.
        Err(store_error(err))
    }

    /// The ids of `person`'s survey requests (their pointers), at most `limit`, oldest first.
    pub async fn of_person(&self, person: &PersonId, limit: usize) -> Result<Vec<RequestId>, StoreError> {
        let (mut ids, mut start) = (Vec::new(), None);
        loop {
            let query = self
                .table
                .client()
                .query()
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :requests)")
                .expression_attribute_names("#pk", attr::PK)
                .expression_attribute_names("#sk", attr::SK)
                .expression_attribute_values(":pk", s(ItemKey::suppression(person).pk))
                .expression_attribute_values(":requests", s(REQUEST_PREFIX))
                .set_exclusive_start_key(start.take());
            let out = self.table.query(query).await?;
            for item in out.items() {
                let sk = Attrs(item).s(attr::SK)?;
                ids.push(request_of(sk).ok_or_else(|| StoreError::Malformed(format!("request pointer {sk}")))?);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() && ids.len() < limit => start = Some(key),
                _ => {
                    ids.truncate(limit);
                    return Ok(ids);
                }
            }
        }
    }

    /// Cancels `person`'s surveys that are scheduled and not yet sent (Delighted's
    /// `DELETE /v1/people/{email}/survey_requests/pending`): each moves to `skipped`, noted
    /// `cancelled`, only if still waiting, so a send in progress is never interrupted. How many.
    pub async fn cancel_pending(&self, person: &PersonId) -> Result<usize, StoreError> {
        let mut cancelled = 0;
        for id in self.of_person(person, 1000).await? {
            let Some(request) = self.get(id).await? else { continue };
            if request.state != RequestState::Scheduled {
                continue;
            }
            let t = Transition {
                id,
                from: RequestState::Scheduled,
                attempt_id: None,
                to: RequestState::Skipped,
                due_at: None,
                reset_attempts: false,
                sent_at: None,
                message_id: None,
                note: Some("cancelled"),
            };
            if self.transition(t).await? == Transitioned::Done {
                cancelled += 1;
            }
        }
        Ok(cancelled)
    }

    pub async fn get(&self, id: RequestId) -> Result<Option<SurveyRequest>, StoreError> {
        let item = self.table.get(ItemKey::request(id), true).await?;
        item.as_ref().map(|item| from_item(id, item)).transpose()
    }

    /// Claims a waiting email for sending. `None` when the request is no longer as `seen` (another
    /// sender claimed it, or it moved on). The request stays in the outbox while claimed, so a
    /// sender that dies is noticed when its lease lapses.
    pub async fn claim(
        &self,
        seen: &SurveyRequest,
        now: Timestamp,
        lease: Duration,
    ) -> Result<Option<String>, StoreError> {
        let Some(sending) = seen.state.sending() else { return Ok(None) };
        let attempt_id = format!("{:032x}", fastrand::u128(..));
        let update = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(key_item(ItemKey::request(seen.id))))
            .update_expression(
                "SET #state = :sending, #attempt_id = :attempt_id, #lease = :lease, #attempts = #attempts + :one",
            )
            .condition_expression("#state = :waiting AND #attempts = :seen")
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#attempt_id", ATTEMPT_ID)
            .expression_attribute_names("#lease", LEASE_UNTIL)
            .expression_attribute_names("#attempts", ATTEMPTS)
            .expression_attribute_values(":sending", s(sending.as_str()))
            .expression_attribute_values(":waiting", s(seen.state.as_str()))
            .expression_attribute_values(":attempt_id", s(attempt_id.clone()))
            .expression_attribute_values(":lease", n(now.plus(lease).unix()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":seen", n(i64::from(seen.attempts)))
            .set_return_consumed_capacity(self.table.capacity())
            .send()
            .await;
        Ok(self.table.conditional(update, |o| o.consumed_capacity())?.map(|_| attempt_id))
    }

    /// Applies `t` if the request is still in `t.from` (and, with an attempt id, still claimed by it).
    pub async fn transition(&self, t: Transition<'_>) -> Result<Transitioned, StoreError> {
        let mut set = vec!["#state = :to"];
        let mut remove = vec!["#attempt_id", "#lease"];
        let mut update = self
            .table
            .client()
            .update_item()
            .table_name(self.table.name())
            .set_key(Some(key_item(ItemKey::request(t.id))))
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#attempt_id", ATTEMPT_ID)
            .expression_attribute_names("#lease", LEASE_UNTIL)
            .expression_attribute_values(":to", s(t.to.as_str()))
            .expression_attribute_values(":from", s(t.from.as_str()));
        match t.due_at {
            Some(due) => {
                set.extend(["#due = :due", "#outbox_sk = :outbox_sk"]);
                update = update
                    .expression_attribute_names("#due", DUE_AT)
                    .expression_attribute_names("#outbox_sk", attr::OUTBOX_SK)
                    .expression_attribute_values(":due", n(due.unix()))
                    .expression_attribute_values(":outbox_sk", s(outbox_sort_key(due, t.id)));
            }
            None => {
                remove.extend(["#outbox_pk", "#outbox_sk"]);
                update = update
                    .expression_attribute_names("#outbox_pk", attr::OUTBOX_PK)
                    .expression_attribute_names("#outbox_sk", attr::OUTBOX_SK);
            }
        }
        if t.reset_attempts {
            set.push("#attempts = :zero");
            update =
                update.expression_attribute_names("#attempts", ATTEMPTS).expression_attribute_values(":zero", n(0));
        }
        if let Some(at) = t.sent_at {
            // Sending a reminder (from `ReminderSending`) keeps the first email's time apart.
            let name = if t.from.is_reminder() { "reminded_at" } else { SENT_AT };
            set.push("#sent_at = :sent_at");
            update = update
                .expression_attribute_names("#sent_at", name)
                .expression_attribute_values(":sent_at", n(at.unix()));
        }
        if let Some(message_id) = t.message_id {
            set.push("#message_id = :message_id");
            update = update
                .expression_attribute_names("#message_id", MESSAGE_ID)
                .expression_attribute_values(":message_id", s(message_id));
        }
        if let Some(note) = t.note {
            set.push("#note = :note");
            update = update.expression_attribute_names("#note", NOTE).expression_attribute_values(":note", s(note));
        }
        let mut condition = "#state = :from".to_owned();
        if let Some(attempt_id) = t.attempt_id {
            condition.push_str(" AND #attempt_id = :attempt_id");
            update = update.expression_attribute_values(":attempt_id", s(attempt_id));
        }
        let result = update
            .update_expression(format!("SET {} REMOVE {}", set.join(", "), remove.join(", ")))
            .condition_expression(condition)
            .set_return_consumed_capacity(self.table.capacity())
            .send()
            .await;
        Ok(match self.table.conditional(result, |o| o.consumed_capacity())? {
            Some(_) => Transitioned::Done,
            None => Transitioned::Lost,
        })
    }

    /// Requests whose waiting email is due by `now`, oldest first (keys only; read each before acting).
    pub async fn due(&self, now: Timestamp, limit: i32) -> Result<Vec<RequestId>, StoreError> {
        let out = self.table.outbox_due(OUTBOX_REQUESTS, now, limit).await?;
        out.items()
            .iter()
            .map(|item| {
                let pk = Attrs(item).s(attr::PK)?;
                request_of(pk).ok_or_else(|| StoreError::Malformed(format!("outbox entry with key {pk}")))
            })
            .collect()
    }

    /// Whether the person has answered (a response item exists for the request).
    pub async fn has_response(&self, id: RequestId) -> Result<bool, StoreError> {
        let out = self
            .table
            .client()
            .get_item()
            .table_name(self.table.name())
            .set_key(Some(key_item(ItemKey::response(id))))
            .projection_expression("#pk")
            .expression_attribute_names("#pk", attr::PK)
            .consistent_read(true)
            .set_return_consumed_capacity(self.table.capacity())
            .send()
            .await
            .map_err(store_error)?;
        self.table.count(Units::Read, out.consumed_capacity());
        Ok(out.item.is_some())
    }
}

fn request_item(r: &SurveyRequest, expires_at: Timestamp) -> Item {
    let mut item = key_item(ItemKey::request(r.id));
    item.extend([
        (SURVEY_ID.to_owned(), s(r.survey_id.to_string())),
        (PERSON_ID.to_owned(), s(r.person_id.to_string())),
        (EMAIL.to_owned(), s(r.email.as_str())),
        (LOCALE.to_owned(), s(r.locale.as_str())),
        (SOURCE.to_owned(), s(r.source.clone())),
        (EVENT_ID.to_owned(), s(r.event_id.clone())),
        (CREATED_AT.to_owned(), n(r.created_at.unix())),
        (DUE_AT.to_owned(), n(r.due_at.unix())),
        (STATE.to_owned(), s(r.state.as_str())),
        (ATTEMPTS.to_owned(), n(i64::from(r.attempts))),
        (attr::EXPIRES_AT.to_owned(), n(expires_at.unix())),
    ]);
    // Only what dispatch has to act on is in its index: a request written as already sent (make
    // demo's history) would otherwise be read, and passed over, by every run before the due ones.
    if r.state.waits_in_outbox() {
        item.extend([
            (attr::OUTBOX_PK.to_owned(), s(OUTBOX_REQUESTS)),
            (attr::OUTBOX_SK.to_owned(), s(outbox_sort_key(r.due_at, r.id))),
        ]);
    }
    item.extend(string_map(&r.properties).map(|m| (PROPERTIES.to_owned(), m)));
    item.extend(string_map(&r.person_properties).map(|m| (PERSON_PROPERTIES.to_owned(), m)));
    item.extend(weights(&r.weights));
    if let Some(name) = &r.name {
        item.insert(NAME.to_owned(), s(name.clone()));
    }
    if let Some(t) = &r.transaction_id {
        item.insert(TRANSACTION_ID.to_owned(), s(t.clone()));
    }
    // Only a request written as already sent (make demo's history) has one yet; the rollups count
    // it as sent by this.
    if let Some(sent) = r.sent_at {
        item.insert(SENT_AT.to_owned(), n(sent.unix()));
    }
    item
}

pub(super) fn from_item<S: std::hash::BuildHasher>(
    id: RequestId,
    item: &HashMap<String, AttributeValue, S>,
) -> Result<SurveyRequest, StoreError> {
    let a = Attrs(item);
    let bad = |what: &str| StoreError::Malformed(format!("request {id}: {what}"));
    Ok(SurveyRequest {
        id,
        survey_id: SurveyId::parse(a.s(SURVEY_ID)?).map_err(|_| bad("survey id"))?,
        person_id: PersonId::from_stored(a.s(PERSON_ID)?).ok_or_else(|| bad("person id"))?,
        email: EmailAddress::parse(a.s(EMAIL)?).map_err(|_| bad("email"))?,
        name: a.opt_s(NAME).map(str::to_owned),
        locale: Locale::from_tag(a.s(LOCALE)?).ok_or_else(|| bad("locale"))?,
        properties: a.string_map(PROPERTIES)?,
        person_properties: a.string_map(PERSON_PROPERTIES)?,
        weights: a.weights()?,
        source: a.s(SOURCE)?.to_owned(),
        event_id: a.s(EVENT_ID)?.to_owned(),
        transaction_id: a.opt_s(TRANSACTION_ID).map(str::to_owned),
        created_at: a.time(CREATED_AT)?,
        due_at: a.time(DUE_AT)?,
        state: RequestState::parse(a.s(STATE)?).ok_or_else(|| bad("state"))?,
        attempts: u32::try_from(a.n(ATTEMPTS)?).map_err(|_| bad("attempts"))?,
        lease_until: a.opt_time(LEASE_UNTIL)?,
        sent_at: a.opt_time(SENT_AT)?,
    })
}
