use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use nps_domain::StoreError;
use nps_domain::survey::{Cadence, Locale, Survey, SurveyId, SurveyKind};

use super::item::{Attrs, Item, key_item, n, s};
use super::keys::{ItemKey, attr};
use super::{Table, Units, store_error};

const KIND: &str = "kind";
const PRODUCT_NAME: &str = "product_name";
const SENDER: &str = "sender";
const DEFAULT_LOCALE: &str = "default_locale";
const THROTTLE_DAYS: &str = "throttle_days";
const DELAY_SECONDS: &str = "delay_seconds";
const REMINDER_AFTER_DAYS: &str = "reminder_after_days";
const SEGMENT_PROPERTIES: &str = "segment_properties";
const WEIGHT_PROPERTIES: &str = "weight_properties";
const FREQUENCY_DAYS: &str = "frequency_days";
const PAUSED: &str = "paused";

/// Survey definitions: `SURVEY` / `<survey id>`.
#[derive(Debug, Clone)]
pub struct DynamoSurveys {
    table: Table,
}

impl DynamoSurveys {
    pub fn new(table: Table) -> Self {
        DynamoSurveys { table }
    }

    pub async fn get(&self, id: &SurveyId) -> Result<Option<Survey>, StoreError> {
        let item = self.table.get(ItemKey::survey(id), false).await?;
        item.as_ref().map(|item| from_item(id, item)).transpose()
    }

    /// Every survey (a deployment has a handful), by id.
    pub async fn list(&self) -> Result<Vec<Survey>, StoreError> {
        let mut surveys = Vec::new();
        let mut start = None;
        loop {
            let query = self.table.partition(ItemKey::survey_partition()).set_exclusive_start_key(start.take());
            let out = self.table.query(query).await?;
            for item in out.items() {
                let id = Attrs(item).s(attr::SK)?;
                let id = SurveyId::parse(id).map_err(|_| StoreError::Malformed(format!("survey id {id}")))?;
                surveys.push(from_item(&id, item)?);
            }
            match out.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(surveys),
            }
        }
    }

    /// Creates a survey (validated first) unless one has its id: `true` if created.
    pub async fn create(&self, survey: &Survey) -> Result<bool, StoreError> {
        survey.validate().map_err(|e| StoreError::Rejected(Box::new(e)))?;
        self.table.put_new(to_item(survey)).await
    }

    /// Replaces an existing survey (validated first): `false` if there is none.
    pub async fn replace(&self, survey: &Survey) -> Result<bool, StoreError> {
        survey.validate().map_err(|e| StoreError::Rejected(Box::new(e)))?;
        let put = self
            .table
            .client()
            .put_item()
            .table_name(self.table.name())
            .set_item(Some(to_item(survey)))
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK)
            .set_return_consumed_capacity(self.table.capacity())
            .send()
            .await;
        Ok(self.table.conditional(put, |o| o.consumed_capacity())?.is_some())
    }

    /// Creates or replaces a survey (validated first).
    pub async fn put(&self, survey: &Survey) -> Result<(), StoreError> {
        survey.validate().map_err(|e| StoreError::Rejected(Box::new(e)))?;
        let out = self
            .table
            .client()
            .put_item()
            .table_name(self.table.name())
            .set_item(Some(to_item(survey)))
            .set_return_consumed_capacity(self.table.capacity())
            .send()
            .await
            .map_err(store_error)?;
        self.table.count(Units::Write, out.consumed_capacity());
        Ok(())
    }
}

/// Surveys as recently read, for the hot paths of a warm function: each survey is read at most
/// once per `ttl`, so a change to a survey reaches them within `ttl`.
#[derive(Debug)]
pub struct CachedSurveys {
    surveys: DynamoSurveys,
    ttl: Duration,
    cache: Mutex<HashMap<SurveyId, (Instant, Option<Survey>)>>,
}

/// More surveys than a deployment has; past it the cache starts over rather than grow.
const CACHED_SURVEYS_MAX: usize = 1024;

impl CachedSurveys {
    pub fn new(surveys: DynamoSurveys, ttl: Duration) -> Self {
        CachedSurveys { surveys, ttl, cache: Mutex::default() }
    }

    pub async fn get(&self, id: &SurveyId) -> Result<Option<Survey>, StoreError> {
        let cached = self.cache.lock().unwrap_or_else(PoisonError::into_inner).get(id).cloned();
        if let Some((read_at, survey)) = cached
            && read_at.elapsed() < self.ttl
        {
            return Ok(survey);
        }
        let survey = self.surveys.get(id).await?;
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHED_SURVEYS_MAX {
            cache.clear();
        }
        cache.insert(id.clone(), (Instant::now(), survey.clone()));
        Ok(survey)
    }
}

fn to_item(survey: &Survey) -> Item {
    let mut item = key_item(ItemKey::survey(&survey.id));
    item.extend([
        (KIND.to_owned(), s(survey.kind.as_str())),
        (PRODUCT_NAME.to_owned(), s(survey.product_name.clone())),
        (SENDER.to_owned(), s(survey.sender.clone())),
        (DEFAULT_LOCALE.to_owned(), s(survey.default_locale.as_str())),
        (THROTTLE_DAYS.to_owned(), n(i64::from(survey.throttle_days))),
        (DELAY_SECONDS.to_owned(), n(i64::try_from(survey.delay_seconds).unwrap_or(i64::MAX))),
        (SEGMENT_PROPERTIES.to_owned(), AttributeValue::L(survey.segment_properties.iter().cloned().map(s).collect())),
        (WEIGHT_PROPERTIES.to_owned(), AttributeValue::L(survey.weight_properties.iter().cloned().map(s).collect())),
    ]);
    if let Some(days) = survey.reminder_after_days {
        item.insert(REMINDER_AFTER_DAYS.to_owned(), n(i64::from(days)));
    }
    if let Some(cadence) = survey.cadence {
        item.insert(FREQUENCY_DAYS.to_owned(), n(i64::from(cadence.frequency_days)));
        item.insert(PAUSED.to_owned(), AttributeValue::Bool(cadence.paused));
    }
    item
}

fn from_item(id: &SurveyId, item: &Item) -> Result<Survey, StoreError> {
    let a = Attrs(item);
    let bad = |what: &str| StoreError::Malformed(format!("survey {id}: {what}"));
    let small = |v: i64| u32::try_from(v).map_err(|_| bad("number out of range"));
    Ok(Survey {
        id: id.clone(),
        kind: SurveyKind::parse(a.s(KIND)?).ok_or_else(|| bad("unknown kind"))?,
        product_name: a.s(PRODUCT_NAME)?.to_owned(),
        sender: a.s(SENDER)?.to_owned(),
        default_locale: Locale::from_tag(a.s(DEFAULT_LOCALE)?).ok_or_else(|| bad("unknown locale"))?,
        throttle_days: small(a.n(THROTTLE_DAYS)?)?,
        delay_seconds: u64::try_from(a.n(DELAY_SECONDS)?).map_err(|_| bad("negative delay"))?,
        reminder_after_days: a.opt_n(REMINDER_AFTER_DAYS)?.map(small).transpose()?,
        segment_properties: a.strings(SEGMENT_PROPERTIES)?,
        weight_properties: a.strings(WEIGHT_PROPERTIES)?,
        cadence: a
            .opt_n(FREQUENCY_DAYS)?
            .map(|days| {
                Ok::<_, StoreError>(Cadence {
                    frequency_days: small(days)?,
                    paused: item.get(PAUSED).and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
                })
            })
            .transpose()?,
    })
}
