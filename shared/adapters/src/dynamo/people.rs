//! What is known of a person, by person id: suppression, throttle windows and past transactions.

use nps_domain::person::PersonId;
use nps_domain::request::RequestId;
use nps_domain::survey::SurveyId;
use nps_domain::{StoreError, Timestamp};

use super::Table;
use super::item::{Attrs, Item, key_item, n, s};
use super::keys::{ItemKey, attr};

pub(crate) const REASON: &str = "reason";
pub(crate) const AT: &str = "at";
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
}

/// Everything the intake rules need about one person and one event, read in one call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Eligibility {
    /// The request already made for this transaction (`Some(None)` if its id is unknown).
    pub transaction: Option<Option<String>>,
    pub suppression: Option<SuppressionReason>,
    /// End of the throttle window, if the person is inside one (or was).
    pub throttled_until: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct DynamoPeople {
    table: Table,
}

impl DynamoPeople {
    pub fn new(table: Table) -> Self {
        DynamoPeople { table }
    }

    pub async fn eligibility(
        &self,
        person: &PersonId,
        survey: &SurveyId,
        transaction_id: Option<&str>,
    ) -> Result<Eligibility, StoreError> {
        let transaction_key = transaction_id.map(|t| ItemKey::transaction(survey, t));
        let mut keys = vec![key_item(ItemKey::suppression(person)), key_item(ItemKey::throttle(person, survey))];
        keys.extend(transaction_key.clone().map(key_item));
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
        if let Some(item) = find(&ItemKey::throttle(person, survey)) {
            eligibility.throttled_until = Some(Attrs(item).time(NEXT_ELIGIBLE_AT)?);
        }
        if let Some(item) = transaction_key.as_ref().and_then(find) {
            eligibility.transaction = Some(Attrs(item).opt_s(REQUEST_ID).map(str::to_owned));
        }
        Ok(eligibility)
    }

    /// Suppresses a person for good (idempotent: the first reason and time are kept).
    pub async fn suppress(
        &self,
        person: &PersonId,
        reason: SuppressionReason,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut item: Item = key_item(ItemKey::suppression(person));
        item.extend([(REASON.to_owned(), s(reason.as_str())), (AT.to_owned(), n(at.unix()))]);
        // Already suppressed (a failed condition) is the same outcome.
        self.table.put_new(item).await.map(|_| ())
    }
}

/// The request a transaction marker points at.
pub(crate) fn transaction_request(item: &Item) -> Option<String> {
    Attrs(item).opt_s(REQUEST_ID).map(str::to_owned)
}

pub(crate) fn request_id_attr(id: RequestId) -> (String, aws_sdk_dynamodb::types::AttributeValue) {
    (REQUEST_ID.to_owned(), s(id.to_string()))
}
